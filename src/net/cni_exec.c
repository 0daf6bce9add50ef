/*
 * cni_exec.c - the CNI protocol: network configuration lists, what each plugin gets on stdin,
 * the environment, executing a plugin with a deadline and bounded output, and parsing its
 * result or error (see cni.h).
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/close_range.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/buf.h"
#include "base/mem.h"
#include "base/time.h"
#include "net/cni.h"

#define CNI_MAX_STDOUT (1u << 20)
#define CNI_MAX_STDERR (64u << 10)
#define CNI_MAX_CONF   (1u << 20)

/* ---- configuration ---- */

json_t *
bsn_cni_conf_parse(const char *data, size_t len, bool single, struct bsn_err *err)
{
    if (len > CNI_MAX_CONF) {
        bsn_err_set(err, 400, "Invalid", "network configuration larger than %u bytes",
                    CNI_MAX_CONF);
        return NULL;
    }
    json_error_t je;
    json_t *in = json_loadb(data, len, 0, &je);
    if (!json_is_object(in)) {
        bsn_err_set(err, 400, "Invalid", "network configuration: %s",
                    in ? "not a JSON object" : je.text);
        json_decref(in);
        return NULL;
    }
    const char *name = json_string_value(json_object_get(in, "name"));
    const char *ver = json_string_value(json_object_get(in, "cniVersion"));
    json_t *plugins = json_object_get(in, "plugins");
    if (!name || !*name || !ver || !*ver) {
        bsn_err_set(err, 400, "Invalid",
                    "network configuration: \"name\" and \"cniVersion\" "
                    "are required");
        json_decref(in);
        return NULL;
    }
    if (single || !plugins) {
        if (!json_string_value(json_object_get(in, "type"))) {
            bsn_err_set(err, 400, "Invalid", "network configuration: no \"type\" or \"plugins\"");
            json_decref(in);
            return NULL;
        }
        json_t *list = json_pack("{s:s,s:s,s:[O]}", "cniVersion", ver, "name", name, "plugins", in);
        json_decref(in);
        return list;
    }
    size_t i;
    json_t *p;
    if (!json_is_array(plugins) || json_array_size(plugins) == 0) {
        bsn_err_set(err, 400, "Invalid", "network configuration list: empty \"plugins\"");
        json_decref(in);
        return NULL;
    }
    json_array_foreach(plugins, i, p)
    {
        const char *type = json_string_value(json_object_get(p, "type"));
        if (!json_is_object(p) || !type || !*type || strchr(type, '/') || type[0] == '.') {
            bsn_err_set(err, 400, "Invalid",
                        "network configuration list: plugins[%zu]: bad "
                        "or missing \"type\"",
                        i);
            json_decref(in);
            return NULL;
        }
    }
    return in;
}

static int
name_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static bool
has_suffix(const char *s, const char *suf)
{
    size_t n = strlen(s), m = strlen(suf);
    return n >= m && !strcmp(s + n - m, suf);
}

json_t *
bsn_cni_conf_find(const char *dir, char **path, struct bsn_err *err)
{
    *path = NULL;
    DIR *d = opendir(dir);
    if (!d) {
        bsn_err_set(err, 404, "NotFound", "CNI conf dir %s: %s", dir, strerror(errno));
        return NULL;
    }
    char **names = NULL;
    size_t n = 0;
    struct dirent *de;
    while ((de = readdir(d)) && n < 256) {
        if (de->d_name[0] == '.')
            continue;
        if (has_suffix(de->d_name, ".conflist") || has_suffix(de->d_name, ".conf") ||
            has_suffix(de->d_name, ".json")) {
            names = bsn_realloc(names, (n + 1) * sizeof(*names));
            names[n++] = bsn_strdup(de->d_name);
        }
    }
    closedir(d);
    if (n > 1)
        qsort(names, n, sizeof(*names), name_cmp);
    json_t *list = NULL;
    bsn_err_set(err, 404, "NotFound", "no network configuration in %s", dir);
    for (size_t i = 0; i < n && !list; i++) {
        BSN_AUTOFREE char *p = bsn_sprintf("%s/%s", dir, names[i]);
        /* what the file holds, read in pieces up to one byte past the cap (a 1 MiB buffer
         * per read, freed at once, made glibc raise its mmap and trim thresholds: the
         * agent's heap then kept up to 2 MiB of freed memory) */
        FILE *f = fopen(p, "re");
        if (!f)
            continue;
        struct bsn_buf data;
        bsn_buf_init(&data);
        char chunk[4096];
        size_t r;
        while (data.len <= CNI_MAX_CONF && (r = fread(chunk, 1, sizeof(chunk), f)) > 0)
            bsn_buf_append(&data, chunk, r);
        fclose(f);
        struct bsn_err e2;
        bsn_err_clear(&e2);
        list = bsn_cni_conf_parse(data.len ? data.data : "", data.len,
                                  !has_suffix(names[i], ".conflist"), &e2);
        bsn_buf_fini(&data);
        if (list) {
            *path = bsn_strdup(p);
            bsn_err_clear(err);
        } else {
            bsn_err_set(err, 400, "Invalid", "%s: %s", p, e2.msg);
        }
    }
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
    return list;
}

json_t *
bsn_cni_plugin_stdin(const json_t *list, size_t i, const json_t *runtime_config,
                     const json_t *prev_result)
{
    json_t *p = json_array_get(json_object_get(list, "plugins"), i);
    if (!p)
        return NULL;
    json_t *conf = json_deep_copy(p);
    json_object_set(conf, "cniVersion", json_object_get(list, "cniVersion"));
    json_object_set(conf, "name", json_object_get(list, "name"));
    /* runtimeConfig: only the capabilities this plugin declares (spec: "capabilities") */
    json_t *caps = json_object_get(p, "capabilities");
    json_t *rc = json_object();
    const char *k;
    json_t *v;
    json_object_foreach(caps, k, v)
    {
        json_t *val = json_object_get(runtime_config, k);
        if (json_is_true(v) && val)
            json_object_set(rc, k, val);
    }
    if (json_object_size(rc) > 0)
        json_object_set(conf, "runtimeConfig", rc);
    json_decref(rc);
    if (prev_result)
        json_object_set(conf, "prevResult", (json_t *)prev_result);
    return conf;
}

/* ---- environment ---- */

char *
bsn_cni_args(const char *ns, const char *name, const char *uid, const char *sandbox_id,
             const char *ip)
{
    struct bsn_buf b;
    bsn_buf_init(&b);
    bsn_buf_printf(&b,
                   "IgnoreUnknown=1;K8S_POD_NAMESPACE=%s;K8S_POD_NAME=%s;"
                   "K8S_POD_INFRA_CONTAINER_ID=%s;K8S_POD_UID=%s",
                   ns ? ns : "", name ? name : "", sandbox_id ? sandbox_id : "", uid ? uid : "");
    if (ip && *ip)
        bsn_buf_printf(&b, ";IP=%s", ip);
    bsn_buf_reserve(&b, 1);
    return bsn_buf_take(&b);
}

char **
bsn_cni_env(const struct bsn_cni_call *call, char *const *base)
{
    size_t n = 0;
    while (base && base[n])
        n++;
    char **env = bsn_calloc(n + 8, sizeof(*env));
    size_t j = 0;
    for (size_t i = 0; i < n; i++)
        if (strncmp(base[i], "CNI_", 4) != 0)
            env[j++] = bsn_strdup(base[i]);
    env[j++] = bsn_sprintf("CNI_COMMAND=%s", call->command);
    env[j++] = bsn_sprintf("CNI_CONTAINERID=%s", call->container_id ? call->container_id : "");
    env[j++] = bsn_sprintf("CNI_NETNS=%s", call->netns ? call->netns : "");
    env[j++] = bsn_sprintf("CNI_IFNAME=%s", call->ifname ? call->ifname : "eth0");
    env[j++] = bsn_sprintf("CNI_ARGS=%s", call->args ? call->args : "");
    env[j++] = bsn_sprintf("CNI_PATH=%s", call->path ? call->path : "");
    env[j] = NULL;
    return env;
}

void
bsn_cni_env_free(char **env)
{
    for (size_t i = 0; env && env[i]; i++)
        free(env[i]);
    free(env);
}

/* ---- errors and results ---- */

static const char *
code_name(long code)
{
    switch (code) {
    case 1:
        return "incompatible CNI version";
    case 2:
        return "unsupported field in network configuration";
    case 3:
        return "container unknown or does not exist";
    case 4:
        return "invalid necessary environment variables";
    case 5:
        return "I/O failure";
    case 6:
        return "failed to decode content";
    case 7:
        return "invalid network config";
    case 11:
        return "try again later";
    default:
        return code >= 100 ? "plugin-specific error" : "error";
    }
}

int
bsn_cni_error(const json_t *obj, const char *what, struct bsn_err *err)
{
    long code = (long)json_integer_value(json_object_get(obj, "code"));
    const char *msg = json_string_value(json_object_get(obj, "msg"));
    const char *details = json_string_value(json_object_get(obj, "details"));
    bsn_err_set(err, code == 11 ? 503 : 500, code == 11 ? "ServiceUnavailable" : "InternalError",
                "%s: code %ld (%s): %s%s%s", what, code, code_name(code), msg ? msg : "",
                details && *details ? ": " : "", details ? details : "");
    return -1;
}

static void
copy_addr(const char *cidr, char *out, size_t outlen)
{
    if (!out || !outlen)
        return;
    size_t n = strcspn(cidr, "/");
    snprintf(out, outlen, "%.*s", (int)BSN_MIN(n, 63), cidr);
}

static bool
in_sandbox(const json_t *result, const json_t *ipc)
{
    json_t *idx = json_object_get(ipc, "interface");
    if (!json_is_integer(idx))
        return true; /* unknown interface: take it */
    json_t *ifc =
        json_array_get(json_object_get(result, "interfaces"), (size_t)json_integer_value(idx));
    const char *sb = json_string_value(json_object_get(ifc, "sandbox"));
    return sb && *sb;
}

int
bsn_cni_result_ips(const json_t *result, char *ip4, size_t ip4len, char *ip6, size_t ip6len)
{
    if (ip4 && ip4len)
        ip4[0] = '\0';
    if (ip6 && ip6len)
        ip6[0] = '\0';
    int found = 0;
    bool have4 = false, have6 = false;
    json_t *ips = json_object_get(result, "ips");
    /* two passes: addresses on the sandbox's interfaces first, then any */
    for (int pass = 0; pass < 2 && json_is_array(ips); pass++) {
        size_t i;
        json_t *ipc;
        json_array_foreach(ips, i, ipc)
        {
            const char *a = json_string_value(json_object_get(ipc, "address"));
            if (!a || (pass == 0 && !in_sandbox(result, ipc)))
                continue;
            char addr[64];
            copy_addr(a, addr, sizeof(addr));
            unsigned char bin[16];
            if (inet_pton(AF_INET, addr, bin) == 1 && !have4) {
                have4 = true;
                found++;
                copy_addr(addr, ip4, ip4len);
            } else if (inet_pton(AF_INET6, addr, bin) == 1 && !have6) {
                have6 = true;
                found++;
                copy_addr(addr, ip6, ip6len);
            }
        }
    }
    /* CNI 0.1/0.2 results */
    const char *a4 = json_string_value(json_object_get(json_object_get(result, "ip4"), "ip"));
    const char *a6 = json_string_value(json_object_get(json_object_get(result, "ip6"), "ip"));
    if (a4 && !have4) {
        found++;
        copy_addr(a4, ip4, ip4len);
    }
    if (a6 && !have6) {
        found++;
        copy_addr(a6, ip6, ip6len);
    }
    return found;
}

/* ---- execution ---- */

char *
bsn_cni_find_plugin(const char *path, const char *type)
{
    if (!type || !*type || strchr(type, '/'))
        return NULL;
    BSN_AUTOFREE char *copy = bsn_strdup(path && *path ? path : "/usr/lib/cni:/opt/cni/bin");
    char *save = NULL;
    for (char *d = strtok_r(copy, ":", &save); d; d = strtok_r(NULL, ":", &save)) {
        char *p = bsn_sprintf("%s/%s", d, type);
        if (access(p, X_OK) == 0)
            return p;
        free(p);
    }
    return NULL;
}

extern char **environ;

int
bsn_cni_exec(const struct bsn_cni_call *call, const char *type, const json_t *conf, json_t **result,
             struct bsn_err *err)
{
    *result = NULL;
    BSN_AUTOFREE char *bin = bsn_cni_find_plugin(call->path, type);
    if (!bin)
        return bsn_err_set(err, 500, "InternalError", "CNI plugin \"%s\" not found in %s",
                           type ? type : "", call->path ? call->path : "");
    BSN_AUTOFREE char *in = json_dumps(conf, JSON_COMPACT);
    size_t inlen = in ? strlen(in) : 0;
    char **env = bsn_cni_env(call, environ);
    int pin[2] = {-1, -1}, pout[2] = {-1, -1}, perr[2] = {-1, -1};
    if (pipe2(pin, O_CLOEXEC) < 0 || pipe2(pout, O_CLOEXEC) < 0 || pipe2(perr, O_CLOEXEC) < 0) {
        int e = errno;
        for (int i = 0; i < 2; i++) {
            if (pin[i] >= 0)
                close(pin[i]);
            if (pout[i] >= 0)
                close(pout[i]);
            if (perr[i] >= 0)
                close(perr[i]);
        }
        bsn_cni_env_free(env);
        return bsn_err_set(err, 500, "InternalError", "pipe: %s", strerror(e));
    }
    char *argv[] = {bin, NULL};
    /* posix_spawn, not fork: glibc runs the child on the parent's memory (CLONE_VM|
     * CLONE_VFORK) until the exec, so no copy of the agent's page tables and no
     * copy-on-write faults after it, for each of the several executions per pod */
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t attr;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, pin[0], 0);
    posix_spawn_file_actions_adddup2(&fa, pout[1], 1);
    posix_spawn_file_actions_adddup2(&fa, perr[1], 2);
    posix_spawn_file_actions_addclosefrom_np(&fa, 3);
    posix_spawnattr_init(&attr);
    sigset_t none;
    sigemptyset(&none);
    posix_spawnattr_setsigmask(&attr, &none);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK);
    pid_t pid = -1;
    int fork_errno = posix_spawn(&pid, bin, &fa, &attr, argv, env);
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&attr);
    if (fork_errno != 0)
        pid = -1;
    close(pin[0]);
    close(pout[1]);
    close(perr[1]);
    bsn_cni_env_free(env);
    if (pid < 0) {
        close(pin[1]);
        close(pout[0]);
        close(perr[0]);
        return bsn_err_set(err, 500, "InternalError", "spawn %s: %s", bin, strerror(fork_errno));
    }
    fcntl(pin[1], F_SETFL, O_NONBLOCK);
    struct bsn_buf out, errb;
    bsn_buf_init(&out);
    bsn_buf_init(&errb);
    int timeout = call->timeout_ms > 0 ? call->timeout_ms : 10000;
    uint64_t deadline = bsn_mono_ms() + (uint64_t)timeout;
    size_t inoff = 0;
    int fds[3] = {inlen ? pin[1] : -1, pout[0], perr[0]};
    if (!inlen)
        close(pin[1]);
    bool timed_out = false, too_big = false;
    while (fds[0] >= 0 || fds[1] >= 0 || fds[2] >= 0) {
        uint64_t now = bsn_mono_ms();
        if (now >= deadline) {
            timed_out = true;
            break;
        }
        struct pollfd pf[3];
        for (int i = 0; i < 3; i++)
            pf[i] = (struct pollfd){.fd = fds[i], .events = i == 0 ? POLLOUT : POLLIN};
        int n = poll(pf, 3, (int)(deadline - now));
        if (n < 0 && errno != EINTR)
            break;
        if (n <= 0)
            continue;
        if (fds[0] >= 0 && pf[0].revents) {
            ssize_t w = write(fds[0], in + inoff, inlen - inoff);
            if (w > 0)
                inoff += (size_t)w;
            if ((w < 0 && errno != EAGAIN && errno != EINTR) || inoff == inlen ||
                (pf[0].revents & (POLLERR | POLLHUP))) {
                close(fds[0]);
                fds[0] = -1;
            }
        }
        for (int i = 1; i < 3; i++) {
            if (fds[i] < 0 || !pf[i].revents)
                continue;
            char tmp[16384];
            ssize_t r = read(fds[i], tmp, sizeof(tmp));
            if (r < 0 && (errno == EINTR || errno == EAGAIN))
                continue;
            if (r <= 0) {
                close(fds[i]);
                fds[i] = -1;
                continue;
            }
            struct bsn_buf *b = i == 1 ? &out : &errb;
            size_t cap = i == 1 ? CNI_MAX_STDOUT : CNI_MAX_STDERR;
            if (b->len + (size_t)r > cap) {
                if (i == 1) {
                    too_big = true;
                    break;
                }
                r = (ssize_t)(cap - b->len); /* stderr: keep the head */
            }
            bsn_buf_append(b, tmp, (size_t)r);
        }
        if (too_big)
            break;
    }
    for (int i = 0; i < 3; i++)
        if (fds[i] >= 0)
            close(fds[i]);
    int status = 0;
    if (timed_out || too_big) {
        kill(pid, SIGKILL);
        while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
            ;
    } else {
        /* output closed: the plugin is exiting; still bounded by the deadline */
        for (;;) {
            pid_t w = waitpid(pid, &status, WNOHANG);
            if (w == pid || (w < 0 && errno != EINTR))
                break;
            if (bsn_mono_ms() >= deadline) {
                kill(pid, SIGKILL);
                while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
                    ;
                timed_out = true;
                break;
            }
            usleep(1000);
        }
    }
    bsn_buf_reserve(&out, 1);
    out.data[out.len] = '\0';
    bsn_buf_reserve(&errb, 1);
    errb.data[errb.len] = '\0';
    char what[160];
    snprintf(what, sizeof(what), "CNI plugin %s %s", type, call->command);
    int rc = 0;
    if (timed_out) {
        rc = bsn_err_set(err, 504, "Timeout", "%s: no answer within %d ms (killed)", what, timeout);
    } else if (too_big) {
        rc = bsn_err_set(err, 500, "InternalError", "%s: more than %u bytes of output", what,
                         CNI_MAX_STDOUT);
    } else if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        json_t *e = out.len ? json_loadb(out.data, out.len, 0, NULL) : NULL;
        if (json_is_object(e) && json_object_get(e, "code")) {
            rc = bsn_cni_error(e, what, err);
        } else {
            /* no error object: the exit status and stderr's first line */
            const char *src = errb.len ? errb.data : out.data;
            size_t l = strcspn(src, "\n");
            if (WIFEXITED(status))
                rc = bsn_err_set(err, 500, "InternalError", "%s: exit status %d%s%.*s", what,
                                 WEXITSTATUS(status), l ? ": " : "", (int)BSN_MIN(l, 600), src);
            else
                rc = bsn_err_set(err, 500, "InternalError", "%s: killed by signal %d", what,
                                 WTERMSIG(status));
        }
        json_decref(e);
    } else if (out.len) {
        json_error_t je;
        json_t *r = json_loadb(out.data, out.len, 0, &je);
        if (!json_is_object(r)) {
            json_decref(r);
            rc = bsn_err_set(err, 500, "InternalError", "%s: result is not a JSON object: %s", what,
                             je.text);
        } else {
            *result = r;
        }
    }
    bsn_buf_fini(&out);
    bsn_buf_fini(&errb);
    return rc;
}

/* ---- defaults ---- */

json_t *
bsn_cni_default_conf(const char *bridge, const char *subnet, const char *ipam_dir)
{
    return json_pack("{s:s,s:s,s:[{s:s,s:s,s:b,s:b,s:b,s:{s:s,s:[[{s:s}]],s:[{s:s}],s:s}},"
                     "{s:s,s:{s:b},s:b},{s:s}]}",
                     "cniVersion", "1.0.0", "name", "bosun", "plugins", "type", "bridge", "bridge",
                     bridge, "isGateway", 1, "ipMasq", 1, "hairpinMode", 1, "ipam", "type",
                     "host-local", "ranges", "subnet", subnet, "routes", "dst", "0.0.0.0/0",
                     "dataDir", ipam_dir, "type", "portmap", "capabilities", "portMappings", 1,
                     "snat", 1, "type", "loopback");
}

int
bsn_cni_node_subnet(const char *cluster_cidr, unsigned n, char *out, size_t outlen)
{
    char addr[64];
    const char *slash = strchr(cluster_cidr, '/');
    if (!slash || (size_t)(slash - cluster_cidr) >= sizeof(addr))
        return -1;
    snprintf(addr, sizeof(addr), "%.*s", (int)(slash - cluster_cidr), cluster_cidr);
    char *end = NULL;
    long plen = strtol(slash + 1, &end, 10);
    struct in_addr a;
    if (!end || *end || plen < 0 || plen > 24 || inet_pton(AF_INET, addr, &a) != 1)
        return -1;
    uint32_t base = ntohl(a.s_addr);
    uint32_t mask = plen ? 0xffffffffu << (32 - plen) : 0;
    base &= mask;
    uint64_t slices = 1ull << (24 - plen);
    if (n >= slices)
        return -1;
    uint32_t s = base + ((uint32_t)n << 8);
    snprintf(out, outlen, "%u.%u.%u.0/24", s >> 24, (s >> 16) & 255, (s >> 8) & 255);
    return 0;
}
