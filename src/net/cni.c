/*
 * cni.c - the CNI runtime object: options and this node's pod CIDR, the default network
 * configuration, the runtime's attach/detach hooks (ADD/DEL chains over a configuration list),
 * CHECK, the attachment records that make DEL happen once with what ADD used, and the
 * garbage pass at agent start (see cni.h).
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "base/log.h"
#include "base/mem.h"
#include "base/time.h"
#include "loop/loop.h"
#include "net/cni.h"
#include "runtime/runtime.h"

#define DEFAULT_CONF_NAME "99-bosun.conflist"
#define STICKY_MAX_AGE_S  (24 * 3600)
#ifndef CNI_DEFAULT_WORKERS /* -D for measurements */
#define CNI_DEFAULT_WORKERS 8
#endif
#define CNI_MAX_WORKERS 16

/* An ADD or DEL waiting for the worker thread. DEL: nsfd keeps the namespace alive after the
 * runtime unmounted it, netns names it (/proc/<pid>/fd/<nsfd>) for the plugins. ADD: a copy
 * of the sandbox config; the result goes back to the loop. */
struct cni_job {
    struct cni_job *next;
    char *id, *netns;
    int nsfd;
    bool add;
    struct bsn_cni *c;
    char *ns, *name, *uid;
    struct bsn_port_mapping *ports;
    size_t nports;
    bsn_cni_done_fn done;
    void *data;
    uint64_t queued_ms; /* when it was queued */
    int rc;
    char ip[64];
    struct bsn_err err;
};

struct bsn_cni {
    char *node, *bin_dir, *conf_dir, *cluster_cidr, *pod_cidr, *bridge, *ifname;
    char *state_dir; /* <data>/cni/nodes/<node> */
    int timeout_ms;
    struct bsn_loop *loop;
    /* ADD/DEL workers: up to max_workers threads, started as jobs queue up. A job runs when
     * no other job of its sandbox runs or waits ahead of it (claimed: the sandboxes being
     * worked on, by a worker or the garbage pass). */
    pthread_mutex_t mu;
    pthread_cond_t cv;   /* a job queued, a sandbox released, stopping */
    pthread_cond_t idle; /* a job finished */
    pthread_t *thr;
    int nthr, max_workers, nidle, running;
    size_t nqueued;
    bool stopping;
    struct cni_job *head, **tail;
    char **claimed;
    size_t nclaimed;
    bool masq; /* the node's masquerade table is ours to remove (cni_masq.c) */
};

/* ---- small file helpers ---- */

static int
mkdir_p(const char *path, mode_t mode)
{
    BSN_AUTOFREE char *p = bsn_strdup(path);
    for (char *s = p + 1; *s; s++) {
        if (*s != '/')
            continue;
        *s = '\0';
        if (mkdir(p, mode) < 0 && errno != EEXIST)
            return -errno;
        *s = '/';
    }
    if (mkdir(p, mode) < 0 && errno != EEXIST)
        return -errno;
    return 0;
}

static int
write_atomic(const char *path, const char *data, size_t len)
{
    /* per thread: two workers may write the same pod's remembered IP */
    BSN_AUTOFREE char *tmp = bsn_sprintf("%s.%d.tmp", path, (int)gettid());
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0)
        return -errno;
    size_t off = 0;
    while (off < len) {
        ssize_t w = write(fd, data + off, len - off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            close(fd);
            unlink(tmp);
            return -EIO;
        }
        off += (size_t)w;
    }
    fsync(fd);
    close(fd);
    return rename(tmp, path) < 0 ? -errno : 0;
}

static int
write_json(const char *path, const json_t *v)
{
    BSN_AUTOFREE char *s = json_dumps(v, JSON_INDENT(2) | JSON_SORT_KEYS);
    if (!s)
        return -ENOMEM;
    return write_atomic(path, s, strlen(s));
}

static json_t *
read_json(const char *path)
{
    return json_load_file(path, 0, NULL);
}

static bool
safe_id(const char *id)
{
    if (!id || !*id || strlen(id) > 128)
        return false;
    for (const char *c = id; *c; c++)
        if (!isalnum((unsigned char)*c) && *c != '-' && *c != '_' && *c != '.')
            return false;
    return id[0] != '.';
}

static bool
valid_cidr4(const char *cidr)
{
    char addr[64];
    const char *slash = strchr(cidr, '/');
    if (!slash || (size_t)(slash - cidr) >= sizeof(addr))
        return false;
    snprintf(addr, sizeof(addr), "%.*s", (int)(slash - cidr), cidr);
    char *end = NULL;
    long plen = strtol(slash + 1, &end, 10);
    struct in_addr a;
    return end && !*end && end != slash + 1 && plen >= 8 && plen <= 30 &&
           inet_pton(AF_INET, addr, &a) == 1;
}

/* ---- creation ---- */

static bool
other_conf_exists(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        return false;
    bool found = false;
    struct dirent *de;
    while (!found && (de = readdir(d))) {
        const char *n = de->d_name;
        size_t l = strlen(n);
        if (n[0] == '.' || !strcmp(n, DEFAULT_CONF_NAME))
            continue;
        found = (l > 9 && !strcmp(n + l - 9, ".conflist")) ||
                (l > 5 && !strcmp(n + l - 5, ".conf")) || (l > 5 && !strcmp(n + l - 5, ".json"));
    }
    closedir(d);
    return found;
}

struct bsn_cni *
bsn_cni_new(const struct bsn_cni_opts *o, struct bsn_err *err)
{
    if (!o->data_dir) {
        bsn_err_set(err, 400, "Invalid", "cni: data dir required");
        return NULL;
    }
    const char *cluster = o->cluster_cidr && *o->cluster_cidr ? o->cluster_cidr : "10.42.0.0/16";
    char first[64];
    if (!valid_cidr4(cluster) || bsn_cni_node_subnet(cluster, 0, first, sizeof(first)) < 0) {
        bsn_err_set(err, 400, "Invalid",
                    "--cluster-cidr: expected an IPv4 CIDR of /24 or larger, not '%s'", cluster);
        return NULL;
    }
    if (o->pod_cidr && *o->pod_cidr && !valid_cidr4(o->pod_cidr)) {
        bsn_err_set(err, 400, "Invalid", "--pod-cidr: expected an IPv4 CIDR, not '%s'",
                    o->pod_cidr);
        return NULL;
    }
    const char *bridge = o->bridge && *o->bridge ? o->bridge : "bosun0";
    if (strlen(bridge) > 15 || strchr(bridge, '/') || strchr(bridge, ' ')) {
        bsn_err_set(err, 400, "Invalid", "--cni-bridge: '%s' is not a valid interface name",
                    bridge);
        return NULL;
    }
    char hn[256] = "localhost";
    if (!o->node_name || !*o->node_name) {
        if (gethostname(hn, sizeof(hn)) < 0 || !hn[0])
            snprintf(hn, sizeof(hn), "localhost");
        for (char *c = hn; *c; c++)
            *c = (char)tolower((unsigned char)*c);
    }
    const char *node = o->node_name && *o->node_name ? o->node_name : hn;
    if (!safe_id(node)) {
        bsn_err_set(err, 400, "Invalid", "cni: node name '%s' cannot name a state dir", node);
        return NULL;
    }
    struct bsn_cni *c = bsn_calloc(1, sizeof(*c));
    c->node = bsn_strdup(node);
    c->bin_dir = bsn_strdup(o->bin_dir && *o->bin_dir ? o->bin_dir : "/usr/lib/cni:/opt/cni/bin");
    c->conf_dir = o->conf_dir && *o->conf_dir ? bsn_strdup(o->conf_dir)
                                              : bsn_sprintf("%s/cni/net.d", o->data_dir);
    c->cluster_cidr = bsn_strdup(cluster);
    c->bridge = bsn_strdup(bridge);
    c->ifname = bsn_strdup(o->ifname && *o->ifname ? o->ifname : "eth0");
    c->timeout_ms = o->timeout_ms > 0 ? o->timeout_ms : 10000;
    c->loop = o->loop;
    /* the option, else $BOSUN_CNI_WORKERS, else the default */
    const char *env_workers = getenv("BOSUN_CNI_WORKERS");
    int workers = o->workers > 0 ? o->workers : env_workers ? atoi(env_workers) : 0;
    c->max_workers = workers <= 0                ? CNI_DEFAULT_WORKERS
                     : workers > CNI_MAX_WORKERS ? CNI_MAX_WORKERS
                                                 : workers;
    c->thr = bsn_calloc((size_t)c->max_workers, sizeof(*c->thr));
    pthread_mutex_init(&c->mu, NULL);
    pthread_cond_init(&c->cv, NULL);
    pthread_cond_init(&c->idle, NULL);
    c->tail = &c->head;
    c->state_dir = bsn_sprintf("%s/cni/nodes/%s", o->data_dir, c->node);
    BSN_AUTOFREE char *att = bsn_sprintf("%s/attachments", c->state_dir);
    BSN_AUTOFREE char *pods = bsn_sprintf("%s/pods", c->state_dir);
    BSN_AUTOFREE char *ipam = bsn_sprintf("%s/ipam", c->state_dir);
    int rc;
    if ((rc = mkdir_p(att, 0700)) < 0 || (rc = mkdir_p(pods, 0700)) < 0 ||
        (rc = mkdir_p(ipam, 0700)) < 0 || (rc = mkdir_p(c->conf_dir, 0755)) < 0) {
        bsn_err_set(err, 500, "InternalError", "cni: create state under %s: %s", c->state_dir,
                    strerror(-rc));
        bsn_cni_free(c);
        return NULL;
    }
    /* this node's slice: the flag, else what an earlier start chose, else the first /24 */
    BSN_AUTOFREE char *node_file = bsn_sprintf("%s/node.json", c->state_dir);
    json_t *nj = read_json(node_file);
    const char *kept = json_string_value(json_object_get(nj, "podCIDR"));
    if (o->pod_cidr && *o->pod_cidr)
        c->pod_cidr = bsn_strdup(o->pod_cidr);
    else if (kept && valid_cidr4(kept))
        c->pod_cidr = bsn_strdup(kept);
    else
        c->pod_cidr = bsn_strdup(first);
    json_decref(nj);
    nj = json_pack("{s:s,s:s,s:s}", "node", c->node, "podCIDR", c->pod_cidr, "clusterCIDR",
                   c->cluster_cidr);
    write_json(node_file, nj);
    json_decref(nj);
    /* the default network, unless somebody else's configuration is in the conf dir */
    if (!other_conf_exists(c->conf_dir)) {
        BSN_AUTOFREE char *path = bsn_sprintf("%s/%s", c->conf_dir, DEFAULT_CONF_NAME);
        json_t *conf = bsn_cni_default_conf(c->bridge, c->pod_cidr, ipam);
        /* no masquerade chain per pod (iptables on every ADD and DEL, one at a time under
         * the xtables lock): the node's one rule below does it for the whole subnet */
        json_object_set_new(json_array_get(json_object_get(conf, "plugins"), 0), "ipMasq",
                            json_false());
        rc = write_json(path, conf);
        json_decref(conf);
        if (rc < 0) {
            bsn_err_set(err, 500, "InternalError", "cni: write %s: %s", path, strerror(-rc));
            bsn_cni_free(c);
            return NULL;
        }
    }
    BSN_AUTOFREE char *used = NULL;
    struct bsn_err e2;
    bsn_err_clear(&e2);
    json_t *list = bsn_cni_conf_find(c->conf_dir, &used, &e2);
    bsn_info("cni", "node %s: pod CIDR %s, network %s", c->node, c->pod_cidr, used ? used : e2.msg);
    const char *base = used ? strrchr(used, '/') : NULL;
    if (list && base && strcmp(base + 1, DEFAULT_CONF_NAME) == 0) {
        if (bsn_cni_masq_install(c->bridge, c->pod_cidr, c->cluster_cidr, &e2) == 0)
            c->masq = true;
        else
            bsn_warn("cni", "%s: pods cannot reach beyond the node's pod network", e2.msg);
    }
    /* say now, not at the first pod, when the plugins are missing */
    size_t i;
    json_t *p;
    json_array_foreach(json_object_get(list, "plugins"), i, p)
    {
        const char *type = json_string_value(json_object_get(p, "type"));
        BSN_AUTOFREE char *bin = type ? bsn_cni_find_plugin(c->bin_dir, type) : NULL;
        if (!bin)
            bsn_warn("cni",
                     "CNI plugin \"%s\" not found in %s: pods cannot start until it is "
                     "installed (Debian: containernetworking-plugins)",
                     type ? type : "?", c->bin_dir);
    }
    json_decref(list);
    return c;
}

void
bsn_cni_free(struct bsn_cni *c)
{
    if (!c)
        return;
    pthread_mutex_lock(&c->mu);
    c->stopping = true; /* the workers drain the queue first */
    pthread_cond_broadcast(&c->cv);
    pthread_mutex_unlock(&c->mu);
    for (int i = 0; i < c->nthr; i++)
        pthread_join(c->thr[i], NULL);
    free(c->thr);
    free(c->claimed);
    pthread_mutex_destroy(&c->mu);
    pthread_cond_destroy(&c->cv);
    pthread_cond_destroy(&c->idle);
    struct bsn_err e;
    bsn_err_clear(&e);
    if (c->masq && bsn_cni_masq_remove(c->bridge, &e) < 0)
        bsn_warn("cni", "%s", e.msg);
    free(c->node);
    free(c->bin_dir);
    free(c->conf_dir);
    free(c->cluster_cidr);
    free(c->pod_cidr);
    free(c->bridge);
    free(c->ifname);
    free(c->state_dir);
    free(c);
}

const char *
bsn_cni_pod_cidr(const struct bsn_cni *c)
{
    return c->pod_cidr;
}

char *
bsn_cni_conf_path(const struct bsn_cni *c)
{
    struct bsn_err err;
    bsn_err_clear(&err);
    char *path = NULL;
    json_t *list = bsn_cni_conf_find(c->conf_dir, &path, &err);
    json_decref(list);
    return path;
}

/* ---- chains ---- */

static void
call_init(struct bsn_cni *c, struct bsn_cni_call *call, const char *cmd, const char *id,
          const char *netns, const char *args)
{
    *call = (struct bsn_cni_call){.command = cmd,
                                  .container_id = id,
                                  .netns = netns,
                                  .ifname = c->ifname,
                                  .args = args,
                                  .path = c->bin_dir,
                                  .timeout_ms = c->timeout_ms};
}

static const char *
plugin_type(const json_t *list, size_t i)
{
    return json_string_value(
        json_object_get(json_array_get(json_object_get(list, "plugins"), i), "type"));
}

/* ADD through the list; *result = the last plugin's result. */
static int
run_add(const struct bsn_cni_call *call, const json_t *list, const json_t *rtc, json_t **result,
        struct bsn_err *err)
{
    json_t *prev = NULL;
    size_t n = json_array_size(json_object_get(list, "plugins"));
    for (size_t i = 0; i < n; i++) {
        json_t *conf = bsn_cni_plugin_stdin(list, i, rtc, prev);
        json_t *r = NULL;
        uint64_t t0 = bsn_mono_ms();
        int rc = bsn_cni_exec(call, plugin_type(list, i), conf, &r, err);
        bsn_debug("cni", "sandbox %.12s: %s ADD %llu ms", call->container_id, plugin_type(list, i),
                  (unsigned long long)(bsn_mono_ms() - t0));
        json_decref(conf);
        if (rc < 0) {
            json_decref(prev);
            return -1;
        }
        if (r) {
            json_decref(prev);
            prev = r;
        }
    }
    *result = prev;
    return 0;
}

/* DEL in reverse order; every plugin runs, the first error is reported. */
static int
run_del(const struct bsn_cni_call *call, const json_t *list, const json_t *rtc,
        const json_t *result, struct bsn_err *err)
{
    int ret = 0;
    size_t n = json_array_size(json_object_get(list, "plugins"));
    for (size_t i = n; i-- > 0;) {
        json_t *conf = bsn_cni_plugin_stdin(list, i, rtc, result);
        json_t *r = NULL;
        struct bsn_err e2;
        bsn_err_clear(&e2);
        if (bsn_cni_exec(call, plugin_type(list, i), conf, &r, &e2) < 0 && ret == 0) {
            bsn_err_copy(err, &e2);
            ret = -1;
        }
        json_decref(r);
        json_decref(conf);
    }
    return ret;
}

static json_t *
runtime_config(const struct bsn_sandbox_config *cfg)
{
    json_t *pm = json_array();
    for (size_t i = 0; i < cfg->nports; i++) {
        const struct bsn_port_mapping *p = &cfg->ports[i];
        if (p->host_port <= 0)
            continue;
        char proto[16];
        snprintf(proto, sizeof(proto), "%s", p->protocol && *p->protocol ? p->protocol : "tcp");
        for (char *s = proto; *s; s++)
            *s = (char)tolower((unsigned char)*s);
        json_t *m = json_pack("{s:i,s:i,s:s}", "hostPort", p->host_port, "containerPort",
                              p->container_port, "protocol", proto);
        if (p->host_ip && *p->host_ip)
            json_object_set_new(m, "hostIP", json_string(p->host_ip));
        json_array_append_new(pm, m);
    }
    json_t *rc = json_object();
    json_object_set_new(rc, "portMappings", pm);
    return rc;
}

/* Our own list (99-bosun.conflist) without the plugins that have nothing to do for this pod:
 * loopback (the runtime's namespace helper brought lo up already, runtime/oci.c) and portmap
 * when the pod has no hostPort. Each is a process execution per ADD and per DEL; in a burst
 * of pods they were a third of the plugins' CPU time. The attachment records the list that
 * ran, so DEL runs the same. Any other list runs as it is. Takes list, returns the one to use. */
static json_t *
own_list_trim(json_t *list, const char *conf_path, const json_t *rtc)
{
    const char *base = conf_path ? strrchr(conf_path, '/') : NULL;
    if (!base || strcmp(base + 1, DEFAULT_CONF_NAME) != 0)
        return list;
    bool ports = json_array_size(json_object_get(rtc, "portMappings")) > 0;
    json_t *keep = json_array();
    size_t i;
    json_t *p;
    json_array_foreach(json_object_get(list, "plugins"), i, p)
    {
        const char *type = json_string_value(json_object_get(p, "type"));
        if (type && (!strcmp(type, "loopback") || (!ports && !strcmp(type, "portmap"))))
            continue;
        json_array_append(keep, p);
    }
    json_t *out = json_deep_copy(list);
    json_object_set_new(out, "plugins", keep);
    json_decref(list);
    return out;
}

static char *
att_path(struct bsn_cni *c, const char *id)
{
    return bsn_sprintf("%s/attachments/%s.json", c->state_dir, id);
}

static char *
sticky_path(struct bsn_cni *c, const char *uid)
{
    return bsn_sprintf("%s/pods/%s", c->state_dir, uid);
}

static char *
read_sticky(struct bsn_cni *c, const char *uid)
{
    if (!safe_id(uid))
        return NULL;
    BSN_AUTOFREE char *p = sticky_path(c, uid);
    FILE *f = fopen(p, "re");
    if (!f)
        return NULL;
    char buf[64] = "";
    char *ok = fgets(buf, sizeof(buf), f);
    fclose(f);
    buf[strcspn(buf, "\r\n")] = '\0';
    unsigned char bin[16];
    if (!ok || (inet_pton(AF_INET, buf, bin) != 1 && inet_pton(AF_INET6, buf, bin) != 1))
        return NULL;
    return bsn_strdup(buf);
}

int
bsn_cni_attach(void *cni, const char *sandbox_id, const char *netns_path,
               const struct bsn_sandbox_config *cfg, char *ip, size_t iplen, struct bsn_err *err)
{
    struct bsn_cni *c = cni;
    uint64_t t0 = bsn_mono_ms();
    if (!safe_id(sandbox_id))
        return bsn_err_set(err, 400, "Invalid", "cni: bad sandbox id");
    BSN_AUTOFREE char *conf_path = NULL;
    json_t *list = bsn_cni_conf_find(c->conf_dir, &conf_path, err);
    if (!list)
        return -1;
    json_t *rtc = runtime_config(cfg);
    list = own_list_trim(list, conf_path, rtc);
    BSN_AUTOFREE char *sticky = cfg->uid ? read_sticky(c, cfg->uid) : NULL;
    json_t *result = NULL;
    char *args = NULL;
    struct bsn_cni_call call;
    int rc = -1;
    for (int attempt = 0; attempt < 2 && rc < 0; attempt++) {
        const char *want = attempt == 0 ? sticky : NULL;
        if (attempt == 1 && !sticky)
            break;
        free(args);
        args = bsn_cni_args(cfg->namespace_, cfg->name, cfg->uid, sandbox_id, want);
        call_init(c, &call, "ADD", sandbox_id, netns_path, args);
        bsn_err_clear(err);
        rc = run_add(&call, list, rtc, &result, err);
        char ip4[64], ip6[64];
        if (rc == 0 && bsn_cni_result_ips(result, ip4, sizeof(ip4), ip6, sizeof(ip6)) == 0) {
            bsn_err_set(err, 500, "InternalError", "CNI result for %s has no IP address",
                        sandbox_id);
            rc = -1;
        }
        if (rc < 0) {
            /* undo a partial ADD (spec: DEL after a failed ADD) */
            struct bsn_err e3;
            bsn_err_clear(&e3);
            call_init(c, &call, "DEL", sandbox_id, netns_path, args);
            run_del(&call, list, rtc, result, &e3);
            json_decref(result);
            result = NULL;
            if (want)
                bsn_warn("cni",
                         "pod %s/%s: ADD asking for its earlier IP %s failed (%s); "
                         "retrying without",
                         cfg->namespace_, cfg->name, want, err->msg);
            continue;
        }
        snprintf(ip, iplen, "%s", ip4[0] ? ip4 : ip6);
    }
    if (rc == 0) {
        json_t *rec =
            json_pack("{s:s,s:s,s:s,s:s,s:s,s:O,s:O,s:O,s:{s:s,s:s,s:s}}", "containerID",
                      sandbox_id, "netns", netns_path ? netns_path : "", "ifname", c->ifname,
                      "args", args, "confPath", conf_path, "conf", list, "runtimeConfig", rtc,
                      "result", result, "pod", "namespace", cfg->namespace_ ? cfg->namespace_ : "",
                      "name", cfg->name ? cfg->name : "", "uid", cfg->uid ? cfg->uid : "");
        BSN_AUTOFREE char *ap = att_path(c, sandbox_id);
        if (write_json(ap, rec) < 0)
            bsn_warn("cni", "cannot record attachment %s", ap);
        json_decref(rec);
        if (cfg->uid && safe_id(cfg->uid)) {
            BSN_AUTOFREE char *sp = sticky_path(c, cfg->uid);
            BSN_AUTOFREE char *line = bsn_sprintf("%s\n", ip);
            write_atomic(sp, line, strlen(line));
        }
        bsn_info("cni", "pod %s/%s: %s on %s (ADD %llu ms)", cfg->namespace_, cfg->name, ip,
                 conf_path, (unsigned long long)(bsn_mono_ms() - t0));
    }
    free(args);
    json_decref(result);
    json_decref(rtc);
    json_decref(list);
    return rc;
}

/* DEL of one recorded attachment; the record goes once the DEL succeeded. */
static int
release(struct bsn_cni *c, const char *id, const char *netns, bool keep_ip, struct bsn_err *err)
{
    BSN_AUTOFREE char *ap = att_path(c, id);
    json_t *rec = read_json(ap);
    if (!rec)
        return 0; /* never attached, or already released */
    const char *ns = netns && *netns ? netns : json_string_value(json_object_get(rec, "netns"));
    /* a netns that is gone: CNI_NETNS empty, plugins release what lives outside it */
    if (ns && *ns && access(ns, F_OK) < 0)
        ns = "";
    struct bsn_cni_call call;
    call_init(c, &call, "DEL", id, ns, json_string_value(json_object_get(rec, "args")));
    const char *ifn = json_string_value(json_object_get(rec, "ifname"));
    if (ifn && *ifn)
        call.ifname = ifn;
    int rc = run_del(&call, json_object_get(rec, "conf"), json_object_get(rec, "runtimeConfig"),
                     json_object_get(rec, "result"), err);
    if (rc == 0)
        unlink(ap);
    /* the pod comes back (agent restart): its remembered IP must outlive the pruning */
    const char *uid = json_string_value(json_object_get(json_object_get(rec, "pod"), "uid"));
    if (keep_ip && uid && safe_id(uid)) {
        BSN_AUTOFREE char *sp = sticky_path(c, uid);
        utimensat(AT_FDCWD, sp, NULL, 0);
    }
    json_decref(rec);
    return rc;
}

static void
free_job(struct cni_job *j)
{
    if (j->nsfd >= 0)
        close(j->nsfd);
    for (size_t i = 0; i < j->nports; i++) {
        free((char *)j->ports[i].protocol);
        free((char *)j->ports[i].host_ip);
    }
    free(j->ports);
    free(j->ns);
    free(j->name);
    free(j->uid);
    free(j->id);
    free(j->netns);
    free(j);
}

/* on the loop: the ADD's result to the caller */
static void
add_finished(struct bsn_loop *loop, void *data)
{
    BSN_UNUSED(loop);
    struct cni_job *j = data;
    j->done(j->data, j->rc, j->ip, &j->err);
    free_job(j);
}

static void
run_add_job(struct bsn_cni *c, struct cni_job *j)
{
    struct bsn_sandbox_config cfg = {.namespace_ = j->ns,
                                     .name = j->name,
                                     .uid = j->uid,
                                     .ports = j->ports,
                                     .nports = j->nports};
    bsn_err_clear(&j->err);
    bsn_debug("cni", "sandbox %.12s: ADD starts after %llu ms in the queue", j->id,
              (unsigned long long)(bsn_mono_ms() - j->queued_ms));
    j->rc = bsn_cni_attach(c, j->id, j->netns, &cfg, j->ip, sizeof(j->ip), &j->err);
    bsn_loop_post(c->loop, add_finished, j);
}

static void
run_job(struct bsn_cni *c, struct cni_job *j)
{
    if (j->add) {
        run_add_job(c, j);
        return;
    }
    struct bsn_err err;
    bsn_err_clear(&err);
    uint64_t t0 = bsn_mono_ms();
    if (release(c, j->id, j->netns, false, &err) < 0)
        bsn_warn("cni", "sandbox %.12s: DEL: %s (kept for the next garbage pass)", j->id, err.msg);
    else
        bsn_debug("cni", "sandbox %.12s: DEL %llu ms (after %llu ms in the queue)", j->id,
                  (unsigned long long)(bsn_mono_ms() - t0),
                  (unsigned long long)(t0 - j->queued_ms));
    free_job(j);
}

/* ---- the worker pool (c->mu held by the helpers) ---- */

static bool
is_claimed(const struct bsn_cni *c, const char *id)
{
    for (size_t i = 0; i < c->nclaimed; i++)
        if (!strcmp(c->claimed[i], id))
            return true;
    return false;
}

static void
claim(struct bsn_cni *c, const char *id)
{
    c->claimed = bsn_realloc(c->claimed, (c->nclaimed + 1) * sizeof(*c->claimed));
    c->claimed[c->nclaimed++] = bsn_strdup(id);
}

static void
unclaim(struct bsn_cni *c, const char *id)
{
    for (size_t i = 0; i < c->nclaimed; i++)
        if (!strcmp(c->claimed[i], id)) {
            free(c->claimed[i]);
            c->claimed[i] = c->claimed[--c->nclaimed];
            break;
        }
    pthread_cond_broadcast(&c->cv);   /* a job of this sandbox may wait */
    pthread_cond_broadcast(&c->idle); /* the garbage pass may wait */
}

/* The first queued job whose sandbox is free: nobody works on it and no earlier job of it
 * waits (so one sandbox's jobs run in queue order), taken off the queue and claimed. */
static struct cni_job *
take_job(struct bsn_cni *c)
{
    for (struct cni_job **pp = &c->head; *pp; pp = &(*pp)->next) {
        struct cni_job *j = *pp;
        bool blocked = is_claimed(c, j->id);
        for (struct cni_job *e = c->head; !blocked && e != j; e = e->next)
            blocked = !strcmp(e->id, j->id);
        if (blocked)
            continue;
        *pp = j->next;
        if (c->tail == &j->next)
            c->tail = pp;
        c->nqueued--;
        claim(c, j->id);
        return j;
    }
    return NULL;
}

static void *
cni_worker(void *arg)
{
    struct bsn_cni *c = arg;
    pthread_mutex_lock(&c->mu);
    for (;;) {
        struct cni_job *j = take_job(c);
        if (!j) {
            if (c->stopping && !c->head)
                break; /* drained */
            c->nidle++;
            pthread_cond_wait(&c->cv, &c->mu);
            c->nidle--;
            continue;
        }
        c->running++;
        char *id = bsn_strdup(j->id); /* run_job frees or hands over the job */
        pthread_mutex_unlock(&c->mu);
        run_job(c, j);
        pthread_mutex_lock(&c->mu);
        c->running--;
        unclaim(c, id);
        free(id);
    }
    pthread_mutex_unlock(&c->mu);
    return NULL;
}

static void
enqueue(struct bsn_cni *c, struct cni_job *j)
{
    j->queued_ms = bsn_mono_ms();
    pthread_mutex_lock(&c->mu);
    /* another thread when the queue outgrows the idle ones (up to max_workers) */
    if (!c->stopping && c->nthr < c->max_workers && c->nqueued + 1 > (size_t)c->nidle &&
        pthread_create(&c->thr[c->nthr], NULL, cni_worker, c) == 0)
        c->nthr++;
    if (c->nthr == 0) {
        pthread_mutex_unlock(&c->mu);
        run_job(c, j); /* no thread: do it here */
        return;
    }
    j->next = NULL;
    *c->tail = j;
    c->tail = &j->next;
    c->nqueued++;
    pthread_cond_signal(&c->cv);
    pthread_mutex_unlock(&c->mu);
}

int
bsn_cni_attach_async(void *cni, const char *sandbox_id, const char *netns_path,
                     const struct bsn_sandbox_config *cfg, bsn_cni_done_fn done, void *data)
{
    struct bsn_cni *c = cni;
    if (!c->loop || !done || !safe_id(sandbox_id))
        return -1;
    struct cni_job *j = bsn_calloc(1, sizeof(*j));
    j->add = true;
    j->c = c;
    j->nsfd = -1;
    j->id = bsn_strdup(sandbox_id);
    j->netns = bsn_strdup(netns_path ? netns_path : "");
    j->ns = bsn_strdup(cfg->namespace_ ? cfg->namespace_ : "");
    j->name = bsn_strdup(cfg->name ? cfg->name : "");
    j->uid = bsn_strdup(cfg->uid ? cfg->uid : "");
    j->ports = bsn_calloc(cfg->nports + 1, sizeof(*j->ports));
    for (size_t i = 0; i < cfg->nports; i++) {
        j->ports[i] = cfg->ports[i];
        j->ports[i].protocol = cfg->ports[i].protocol ? bsn_strdup(cfg->ports[i].protocol) : NULL;
        j->ports[i].host_ip = cfg->ports[i].host_ip ? bsn_strdup(cfg->ports[i].host_ip) : NULL;
    }
    j->nports = cfg->nports;
    j->done = done;
    j->data = data;
    enqueue(c, j);
    return 0;
}

void
bsn_cni_detach(void *cni, const char *sandbox_id, const char *netns_path)
{
    struct bsn_cni *c = cni;
    if (!safe_id(sandbox_id))
        return;
    struct cni_job *j = bsn_calloc(1, sizeof(*j));
    j->id = bsn_strdup(sandbox_id);
    /* the runtime removes the namespace right after this returns: hold it open for the DEL
     * (the bridge plugin finds the rules to remove through the interface inside it) */
    j->nsfd = netns_path && *netns_path ? open(netns_path, O_RDONLY | O_CLOEXEC) : -1;
    j->netns = j->nsfd >= 0 ? bsn_sprintf("/proc/%d/fd/%d", (int)getpid(), j->nsfd)
                            : bsn_strdup(netns_path ? netns_path : "");
    enqueue(c, j);
}

void
bsn_cni_flush(struct bsn_cni *c)
{
    pthread_mutex_lock(&c->mu);
    while (c->head || c->running > 0)
        pthread_cond_wait(&c->idle, &c->mu);
    pthread_mutex_unlock(&c->mu);
}

int
bsn_cni_check(struct bsn_cni *c, const char *sandbox_id, struct bsn_err *err)
{
    if (!safe_id(sandbox_id))
        return bsn_err_set(err, 400, "Invalid", "cni: bad sandbox id");
    BSN_AUTOFREE char *ap = att_path(c, sandbox_id);
    json_t *rec = read_json(ap);
    if (!rec)
        return bsn_err_set(err, 404, "NotFound", "no CNI attachment for sandbox %s", sandbox_id);
    json_t *list = json_object_get(rec, "conf");
    const char *ver = json_string_value(json_object_get(list, "cniVersion"));
    int rc = 0;
    /* CHECK exists from 0.4.0 on */
    if (ver && strncmp(ver, "0.", 2) == 0 && strcmp(ver, "0.4.0") < 0) {
        json_decref(rec);
        return 0;
    }
    struct bsn_cni_call call;
    call_init(c, &call, "CHECK", sandbox_id, json_string_value(json_object_get(rec, "netns")),
              json_string_value(json_object_get(rec, "args")));
    size_t n = json_array_size(json_object_get(list, "plugins"));
    for (size_t i = 0; i < n && rc == 0; i++) {
        json_t *conf = bsn_cni_plugin_stdin(list, i, json_object_get(rec, "runtimeConfig"),
                                            json_object_get(rec, "result"));
        json_t *r = NULL;
        rc = bsn_cni_exec(&call, plugin_type(list, i), conf, &r, err);
        json_decref(r);
        json_decref(conf);
    }
    json_decref(rec);
    return rc;
}

int
bsn_cni_gc(void *cni, bool (*alive)(void *data, const char *sandbox_id), void *data)
{
    struct bsn_cni *c = cni;
    int n = 0;
    BSN_AUTOFREE char *dir = bsn_sprintf("%s/attachments", c->state_dir);
    DIR *d = opendir(dir);
    struct dirent *de;
    char **ids = NULL;
    size_t nids = 0;
    while (d && (de = readdir(d))) {
        size_t l = strlen(de->d_name);
        if (de->d_name[0] == '.' || l < 6 || strcmp(de->d_name + l - 5, ".json"))
            continue;
        ids = bsn_realloc(ids, (nids + 1) * sizeof(*ids));
        ids[nids++] = bsn_strndup(de->d_name, l - 5);
    }
    if (d)
        closedir(d);
    for (size_t i = 0; i < nids; i++) {
        if (safe_id(ids[i]) && !(alive && alive(data, ids[i]))) {
            struct bsn_err err;
            bsn_err_clear(&err);
            /* never beside a worker's ADD or DEL of the same sandbox */
            pthread_mutex_lock(&c->mu);
            while (is_claimed(c, ids[i]))
                pthread_cond_wait(&c->idle, &c->mu);
            claim(c, ids[i]);
            pthread_mutex_unlock(&c->mu);
            int rc = release(c, ids[i], NULL, true, &err);
            pthread_mutex_lock(&c->mu);
            unclaim(c, ids[i]);
            pthread_mutex_unlock(&c->mu);
            if (rc == 0) {
                n++;
                bsn_info("cni", "released the network of stale sandbox %.12s", ids[i]);
            } else {
                bsn_warn("cni", "stale sandbox %.12s: DEL: %s", ids[i], err.msg);
            }
        }
        free(ids[i]);
    }
    free(ids);
    /* remembered pod IPs nobody asked for in a day */
    BSN_AUTOFREE char *pdir = bsn_sprintf("%s/pods", c->state_dir);
    d = opendir(pdir);
    time_t now = time(NULL);
    while (d && (de = readdir(d))) {
        if (de->d_name[0] == '.')
            continue;
        struct stat st;
        if (fstatat(dirfd(d), de->d_name, &st, 0) == 0 && now - st.st_mtime > STICKY_MAX_AGE_S)
            unlinkat(dirfd(d), de->d_name, 0);
    }
    if (d)
        closedir(d);
    return n;
}
