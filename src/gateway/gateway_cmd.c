/*
 * gateway_cmd.c - `bosun gateway`: runs the gateway data plane from configuration files.
 *
 *   bosun gateway --listen ADDR:PORT [--listen ...] [--tls-listen ADDR:PORT ...]
 *                 --config FILE|DIR [--threads N]
 *                 [--access-log off|stdout|FILE] [--admin ADDR:PORT] [--log-level L]
 *
 * --config takes a YAML (multi-document) or JSON file of Kubernetes objects, or a directory
 * of *.yaml / *.yml / *.json files. It is reloaded on SIGHUP and whenever a file in it changes
 * (inotify, debounced by 100 ms). A reload that fails to parse keeps the running config.
 * The file reading lives here; the object-to-config path is bsn_gw_update() (gateway.h), which
 * the API-server-fed mode calls directly.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/log.h"
#include "base/mem.h"
#include "codec/yaml.h"
#include "gateway/gateway.h"
#include "loop/loop.h"

#define CONFIG_FILE_MAX (64u << 20)

struct cmd {
    struct bsn_gw *gw;
    struct bsn_loop *loop;
    const char *config;
    const char *file; /* basename of --config when it is a file: other files are ignored */
    int ino_fd;
    struct bsn_timer debounce;
};

static int
read_file(const char *path, struct bsn_buf *out, struct bsn_err *err)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return bsn_err_set(err, 400, "BadRequest", "%s: %s", path, strerror(errno));
    char tmp[65536];
    ssize_t n;
    while ((n = read(fd, tmp, sizeof(tmp))) > 0) {
        if (out->len + (size_t)n > CONFIG_FILE_MAX) {
            close(fd);
            return bsn_err_set(err, 400, "BadRequest", "%s: larger than %u bytes", path,
                               CONFIG_FILE_MAX);
        }
        bsn_buf_append(out, tmp, (size_t)n);
    }
    close(fd);
    return n < 0 ? bsn_err_set(err, 400, "BadRequest", "%s: %s", path, strerror(errno)) : 0;
}

static bool
has_suffix(const char *s, const char *suf)
{
    size_t a = strlen(s), b = strlen(suf);
    return a >= b && strcmp(s + a - b, suf) == 0;
}

/* Appends the objects of one file to `all`. */
static int
load_file(const char *path, json_t *all, struct bsn_err *err)
{
    struct bsn_buf b;
    bsn_buf_init(&b);
    if (read_file(path, &b, err) < 0) {
        bsn_buf_fini(&b);
        return -1;
    }
    json_t *docs;
    if (has_suffix(path, ".json")) {
        json_error_t je;
        json_t *one = json_loadb(b.data ? b.data : "", b.len, JSON_DISABLE_EOF_CHECK * 0, &je);
        if (!one) {
            bsn_buf_fini(&b);
            return bsn_err_set(err, 400, "BadRequest", "%s: line %d: %s", path, je.line, je.text);
        }
        docs = json_is_array(one) ? one : json_pack("[o]", one);
    } else {
        docs = bsn_yaml_parse(b.data ? b.data : "", b.len, err);
        if (!docs) {
            bsn_buf_fini(&b);
            return bsn_err_prefix(err, "%s", path);
        }
    }
    bsn_buf_fini(&b);
    json_array_extend(all, docs);
    json_decref(docs);
    return 0;
}

static int
cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Loads FILE, or every .yaml, .yml and .json file in DIR (sorted by name). */
static json_t *
load_config(const char *path, struct bsn_err *err)
{
    struct stat st;
    if (stat(path, &st) < 0) {
        bsn_err_set(err, 400, "BadRequest", "%s: %s", path, strerror(errno));
        return NULL;
    }
    json_t *all = json_array();
    if (!S_ISDIR(st.st_mode)) {
        if (load_file(path, all, err) < 0) {
            json_decref(all);
            return NULL;
        }
        return all;
    }
    DIR *d = opendir(path);
    if (!d) {
        bsn_err_set(err, 400, "BadRequest", "%s: %s", path, strerror(errno));
        json_decref(all);
        return NULL;
    }
    char **names = NULL;
    size_t n = 0;
    struct dirent *de;
    while ((de = readdir(d))) {
        if (de->d_name[0] == '.' ||
            !(has_suffix(de->d_name, ".yaml") || has_suffix(de->d_name, ".yml") ||
              has_suffix(de->d_name, ".json")))
            continue;
        names = bsn_realloc(names, (n + 1) * sizeof(char *));
        names[n++] = bsn_sprintf("%s/%s", path, de->d_name);
    }
    closedir(d);
    qsort(names, n, sizeof(char *), cmp_str);
    int rc = 0;
    for (size_t i = 0; i < n; i++) {
        if (rc == 0 && load_file(names[i], all, err) < 0)
            rc = -1;
        free(names[i]);
    }
    free(names);
    if (rc < 0) {
        json_decref(all);
        return NULL;
    }
    return all;
}

static void
reload(struct cmd *c)
{
    struct bsn_err err = {0};
    json_t *objs = load_config(c->config, &err);
    if (!objs || bsn_gw_update(c->gw, objs, &err) < 0)
        bsn_error("gateway", "reload %s: %s (keeping the running configuration)", c->config,
                  err.msg);
    json_decref(objs);
    malloc_trim(0); /* give the parse trees' memory back to the system */
}

static void
on_debounce(struct bsn_loop *loop, void *data)
{
    reload(data);
}

static void
on_inotify(struct bsn_loop *loop, int fd, unsigned ev, void *data)
{
    struct cmd *c = data;
    char buf[4096] __attribute__((aligned(8)));
    bool relevant = false;
    ssize_t n;
    while ((n = read(fd, buf, sizeof(buf))) > 0) {
        for (char *p = buf; p < buf + n;) {
            struct inotify_event *ie = (struct inotify_event *)p;
            if (!c->file || (ie->len && strcmp(ie->name, c->file) == 0))
                relevant = true;
            p += sizeof(*ie) + ie->len;
        }
    }
    if (!relevant)
        return;
    bsn_timer_stop(loop, &c->debounce);
    bsn_timer_start(loop, &c->debounce, 100, on_debounce, c);
}

static void
on_hup(struct bsn_loop *loop, void *data)
{
    bsn_info("gateway", "SIGHUP: reloading");
    reload(data);
}

static void
on_term(struct bsn_loop *loop, void *data)
{
    bsn_loop_stop(loop);
}

static void
usage(FILE *out)
{
    fprintf(out,
            "usage: bosun gateway --listen ADDR:PORT [--listen ...] [--tls-listen ADDR:PORT]\n"
            "                     --config FILE|DIR\n"
            "                     [--threads N] [--access-log off|stdout|FILE]\n"
            "                     [--http2 on|off] (ALPN h2 on TLS listeners; default on)\n"
            "                     [--otlp-endpoint http://HOST:4318] (OTLP/HTTP JSON spans)\n"
            "                     [--admin ADDR:PORT] [--log-level debug|info|warn|error]\n\n"
            "Runs the API gateway / ingress data plane. The configuration is Kubernetes objects\n"
            "(Ingress, Gateway, HTTPRoute, Service, EndpointSlice, Secret, GatewayPolicy) in\n"
            "YAML or JSON, reloaded on SIGHUP and when the file changes. See docs/gateway.md.\n");
}

int
bsn_cmd_gateway(int argc, char **argv)
{
    struct bsn_gw_options o = {0};
    const char *config = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage(stdout);
            return 0;
        }
        if (!v) {
            fprintf(stderr, "bosun gateway: %s needs a value (see --help)\n", a);
            return 2;
        }
        i++;
        if (strcmp(a, "--listen") == 0) {
            if (o.nlisten == BSN_GW_MAX_LISTENERS) {
                fprintf(stderr, "bosun gateway: at most %d --listen\n", BSN_GW_MAX_LISTENERS);
                return 2;
            }
            o.listen[o.nlisten++] = v;
        } else if (strcmp(a, "--tls-listen") == 0) {
            if (o.ntls_listen == BSN_GW_MAX_LISTENERS) {
                fprintf(stderr, "bosun gateway: at most %d --tls-listen\n", BSN_GW_MAX_LISTENERS);
                return 2;
            }
            o.tls_listen[o.ntls_listen++] = v;
        } else if (strcmp(a, "--config") == 0) {
            config = v;
        } else if (strcmp(a, "--threads") == 0) {
            char *end;
            long t = strtol(v, &end, 10);
            if (*end || t < 1 || t > 64) {
                fprintf(stderr, "bosun gateway: --threads %s: expected 1..64\n", v);
                return 2;
            }
            o.threads = (int)t;
        } else if (strcmp(a, "--access-log") == 0) {
            o.access_log = v;
        } else if (strcmp(a, "--otlp-endpoint") == 0) {
            o.otlp_endpoint = v;
        } else if (strcmp(a, "--http2") == 0) {
            if (strcmp(v, "on") != 0 && strcmp(v, "off") != 0) {
                fprintf(stderr, "bosun gateway: --http2 %s: expected on|off\n", v);
                return 2;
            }
            o.no_http2 = strcmp(v, "off") == 0;
        } else if (strcmp(a, "--admin") == 0) {
            o.admin = v;
        } else if (strcmp(a, "--log-level") == 0) {
            enum bsn_log_level lvl;
            if (bsn_log_parse_level(v, &lvl) < 0) {
                fprintf(stderr, "bosun gateway: --log-level %s: expected debug|info|warn|error\n",
                        v);
                return 2;
            }
            bsn_log_set_level(lvl);
        } else {
            fprintf(stderr, "bosun gateway: unknown flag %s (see --help)\n", a);
            return 2;
        }
    }
    if (o.nlisten + o.ntls_listen == 0 || !config) {
        usage(stderr);
        return 2;
    }
    struct bsn_err err = {0};
    json_t *objs = load_config(config, &err);
    if (!objs) {
        fprintf(stderr, "bosun gateway: %s\n", err.msg);
        return 1;
    }
    struct cmd c = {.config = config, .ino_fd = -1};
    c.gw = bsn_gw_new(&o, &err);
    if (!c.gw || bsn_gw_update(c.gw, objs, &err) < 0) {
        fprintf(stderr, "bosun gateway: %s\n", err.msg);
        json_decref(objs);
        bsn_gw_free(c.gw);
        return 1;
    }
    json_decref(objs);
    malloc_trim(0);
    c.loop = bsn_loop_new();
    bsn_timer_init(&c.debounce);
    bsn_loop_add_signal(c.loop, SIGHUP, on_hup, &c);
    bsn_loop_add_signal(c.loop, SIGINT, on_term, &c);
    bsn_loop_add_signal(c.loop, SIGTERM, on_term, &c);
    c.ino_fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    if (c.ino_fd >= 0) {
        struct stat st;
        char *dup = bsn_strdup(config);
        bool isdir = stat(config, &st) == 0 && S_ISDIR(st.st_mode);
        const char *slash = strrchr(config, '/');
        c.file = isdir ? NULL : slash ? slash + 1 : config;
        const char *dir = isdir ? config : dirname(dup);
        if (inotify_add_watch(c.ino_fd, dir, IN_CLOSE_WRITE | IN_MOVED_TO | IN_CREATE | IN_DELETE) <
            0)
            bsn_warn("gateway", "inotify %s: %s (reload with SIGHUP)", dir, strerror(errno));
        free(dup);
        bsn_loop_add_fd(c.loop, c.ino_fd, BSN_EV_READ, on_inotify, &c);
    }
    if (bsn_gw_start(c.gw, &err) < 0) {
        fprintf(stderr, "bosun gateway: %s\n", err.msg);
        bsn_gw_free(c.gw);
        bsn_loop_free(c.loop);
        return 1;
    }
    bsn_info("gateway", "listening on %s (%d listeners)%s%s",
             o.nlisten ? o.listen[0] : o.tls_listen[0], o.nlisten + o.ntls_listen,
             o.admin ? ", admin on " : "", o.admin ? o.admin : "");
    bsn_loop_run(c.loop);
    bsn_info("gateway", "stopping: draining connections (up to 10 s)");
    long left = bsn_gw_drain(c.gw, 10000);
    if (left > 0)
        bsn_warn("gateway", "%ld connections still open after 10 s; closing them", left);
    bsn_timer_stop(c.loop, &c.debounce);
    bsn_gw_free(c.gw);
    if (c.ino_fd >= 0) {
        bsn_loop_del_fd(c.loop, c.ino_fd);
        close(c.ino_fd);
    }
    bsn_loop_free(c.loop);
    return 0;
}
