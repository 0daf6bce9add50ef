/*
 * gateway.c - the gateway object: listeners, worker threads, snapshot publication (RCU
 * style), the registries that survive reloads (route statistics, upstream endpoint ids) and
 * the admin endpoint (/metrics, /healthz, /config).
 *
 * Snapshot life cycle: bsn_gw_publish() binds a compiled config to the registries, makes it
 * current and posts it to every worker. A worker swaps its current snapshot between two
 * events; requests hold the snapshot they started with through a worker-local counter (no
 * atomic per request), and the worker drops its reference when the last of them ends.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "base/time.h"

#include "base/log.h"
#include "base/mem.h"
#include "gateway/gw_conn.h"
#include "gateway/gw_filters.h"

struct swap_msg {
    struct gw_worker *w;
    struct bsn_gw_config *cfg;
};

/* Escapes a Prometheus label value (backslash, double quote, newline). */
static char *
prom_escape(const char *v)
{
    struct bsn_buf b;
    bsn_buf_init(&b);
    bsn_buf_puts(&b, "");
    for (const char *p = v; *p; p++) {
        if (*p == '\\' || *p == '"')
            bsn_buf_putc(&b, '\\');
        if (*p == '\n')
            bsn_buf_puts(&b, "\\n");
        else
            bsn_buf_putc(&b, *p);
    }
    return bsn_buf_take(&b);
}

struct gw_ratelimiter *
gw_ratelimiter_of(struct gw_worker *w)
{
    return w->gw->rl;
}

/* Parses "ADDR:PORT", "[V6]:PORT", ":PORT" or "PORT". */
static int
parse_addr(const char *s, struct sockaddr_storage *ss, socklen_t *len)
{
    char host[128];
    const char *port;
    memset(ss, 0, sizeof(*ss));
    if (s[0] == '[') {
        const char *rb = strchr(s, ']');
        if (!rb || rb[1] != ':' || (size_t)(rb - s - 1) >= sizeof(host))
            return -1;
        memcpy(host, s + 1, (size_t)(rb - s - 1));
        host[rb - s - 1] = '\0';
        port = rb + 2;
    } else {
        const char *colon = strrchr(s, ':');
        if (!colon) {
            strcpy(host, "0.0.0.0");
            port = s;
        } else {
            if ((size_t)(colon - s) >= sizeof(host))
                return -1;
            memcpy(host, s, (size_t)(colon - s));
            host[colon - s] = '\0';
            if (!host[0])
                strcpy(host, "0.0.0.0");
            port = colon + 1;
        }
    }
    char *end;
    long p = strtol(port, &end, 10);
    if (*end || end == port || p < 0 || p > 65535)
        return -1;
    struct sockaddr_in *s4 = (struct sockaddr_in *)ss;
    struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;
    if (inet_pton(AF_INET, host, &s4->sin_addr) == 1) {
        s4->sin_family = AF_INET;
        s4->sin_port = htons((uint16_t)p);
        *len = sizeof(*s4);
    } else if (inet_pton(AF_INET6, host, &s6->sin6_addr) == 1) {
        s6->sin6_family = AF_INET6;
        s6->sin6_port = htons((uint16_t)p);
        *len = sizeof(*s6);
    } else if (strcmp(host, "localhost") == 0) {
        s4->sin_family = AF_INET;
        s4->sin_port = htons((uint16_t)p);
        s4->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        *len = sizeof(*s4);
    } else {
        return -1;
    }
    return 0;
}

static int
listen_on(const char *addr, bool reuseport, struct bsn_err *err)
{
    struct sockaddr_storage ss;
    socklen_t sl;
    if (parse_addr(addr, &ss, &sl) < 0)
        return bsn_err_set(err, 400, "BadRequest", "listen address %s: expected ADDR:PORT", addr);
    int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return bsn_err_set(err, 500, "InternalError", "socket: %s", strerror(errno));
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (reuseport)
        setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one));
    if (bind(fd, (struct sockaddr *)&ss, sl) < 0 || listen(fd, 4096) < 0) {
        int e = errno;
        close(fd);
        return bsn_err_set(err, 500, "InternalError", "listen on %s: %s", addr, strerror(e));
    }
    return fd;
}

struct bsn_gw *
bsn_gw_new(const struct bsn_gw_options *opts, struct bsn_err *err)
{
    signal(SIGPIPE, SIG_IGN);
    struct bsn_gw *gw = bsn_calloc(1, sizeof(*gw));
    pthread_mutex_init(&gw->mu, NULL);
    bsn_map_init(&gw->stats);
    bsn_map_init(&gw->host_ids);
    gw->host_info = bsn_calloc(GW_HOST_CHUNKS * GW_HOST_CHUNK, sizeof(*gw->host_info));
    gw->rl = gw_rl_new(16384);
    gw_tls_set_h2(!opts->no_http2);
    if (opts->ntls_listen > 0) {
        gw->tls_ctx = gw_tls_listener_ctx();
    }
    gw_hc_init(gw);
    gw->jwks = gw_jwks_new(gw);
    if (opts->otlp_endpoint && *opts->otlp_endpoint)
        gw->otlp = gw_otlp_new(opts->otlp_endpoint);
    gw->admin_fd = -1;
    gw->log_fd = -1;
    gw->nthreads = opts->threads > 0 ? opts->threads : (int)sysconf(_SC_NPROCESSORS_ONLN);
    if (gw->nthreads < 1)
        gw->nthreads = 1;
    if (gw->nthreads > GW_MAX_THREADS)
        gw->nthreads = GW_MAX_THREADS;
    gw->opts = *opts;
    for (int i = 0; i < opts->nlisten; i++)
        gw->listen[i] = bsn_strdup(opts->listen[i]);
    const char *al = opts->access_log;
    if (al && strcmp(al, "off") != 0) {
        gw->log_fd = strcmp(al, "stdout") == 0
                         ? dup(1)
                         : open(al, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
        if (gw->log_fd < 0) {
            bsn_err_set(err, 400, "BadRequest", "access log %s: %s", al, strerror(errno));
            bsn_gw_free(gw);
            return NULL;
        }
    }
    gw->workers = bsn_calloc((size_t)gw->nthreads, sizeof(*gw->workers));
    struct bsn_gw_config *empty = NULL;
    json_t *none = json_array();
    empty = bsn_gw_config_build(none, err);
    json_decref(none);
    for (int t = 0; t < gw->nthreads; t++) {
        struct gw_worker *w = &gw->workers[t];
        w->gw = gw;
        w->id = t;
        w->loop = bsn_loop_new();
        w->rng = 0x9e3779b97f4a7c15ULL ^ ((uint64_t)(t + 1) * 0xbf58476d1ce4e5b9ULL) ^
                 (uint64_t)getpid();
        bsn_buf_init(&w->log);
        bsn_buf_init(&w->spans);
        bsn_timer_init(&w->sweep);
        bsn_timer_init(&w->accept_pause);
        for (int i = 0; i < opts->nlisten + opts->ntls_listen; i++) {
            bool tls = i >= opts->nlisten;
            int fd =
                listen_on(tls ? opts->tls_listen[i - opts->nlisten] : opts->listen[i], true, err);
            if (fd < 0) {
                bsn_gw_config_unref(empty);
                bsn_gw_free(gw);
                return NULL;
            }
            w->lfd_tls[w->nlfds] = tls;
            w->lfds[w->nlfds++] = fd;
        }
    }
    if (opts->admin) {
        gw->admin_addr = bsn_strdup(opts->admin);
        gw->admin_fd = listen_on(opts->admin, false, err);
        if (gw->admin_fd < 0) {
            bsn_gw_config_unref(empty);
            bsn_gw_free(gw);
            return NULL;
        }
    }
    bsn_gw_publish(gw, empty);
    return gw;
}

void
gw_cfg_release(struct gw_worker *w, struct gw_cfg_ref *ref)
{
    if (--ref->inflight == 0 && ref->retired) {
        bsn_gw_config_unref(ref->cfg);
        free(ref);
    }
}

/* Installs cfg as worker w's current snapshot (on w's thread, or before it starts). */
static void
worker_swap(struct gw_worker *w, struct bsn_gw_config *cfg)
{
    for (size_t i = 0; i < cfg->nbackends; i++) {
        const struct gw_backend *b = cfg->backends[i];
        for (uint32_t e = 0; e < b->neps; e++) {
            uint32_t ch = b->eps[e].host_id / GW_HOST_CHUNK;
            if (!w->hosts[ch])
                __atomic_store_n(&w->hosts[ch], bsn_calloc(GW_HOST_CHUNK, sizeof(struct gw_host)),
                                 __ATOMIC_RELEASE);
        }
    }
    free(w->rr);
    w->nrr = cfg->nbackends;
    w->rr = bsn_calloc(w->nrr ? w->nrr : 1, sizeof(*w->rr));
    struct gw_cfg_ref *old = w->cur;
    w->cur = bsn_calloc(1, sizeof(*w->cur));
    w->cur->cfg = cfg;
    w->cur->inflight = 1; /* the worker's own hold, dropped when retired */
    if (old) {
        old->retired = true;
        gw_cfg_release(w, old);
    }
}

static void
swap_cb(struct bsn_loop *loop, void *data)
{
    struct swap_msg *m = data;
    worker_swap(m->w, m->cfg);
    free(m);
}

void
bsn_gw_publish(struct bsn_gw *gw, struct bsn_gw_config *cfg)
{
    pthread_mutex_lock(&gw->mu);
    uint64_t gen = ++gw->publish_gen, now_ms = bsn_mono_ms();
    for (size_t i = 0; i < cfg->nbackends; i++) {
        struct gw_backend *b = cfg->backends[i];
        for (uint32_t e = 0; e < b->neps; e++) {
            uintptr_t id = (uintptr_t)bsn_map_get(&gw->host_ids, b->eps[e].name);
            if (!id) {
                if (gw->nhosts >= GW_HOST_CHUNKS * GW_HOST_CHUNK) {
                    bsn_warn("gateway", "too many distinct upstream endpoints; %s shares state",
                             b->eps[e].name);
                    id = 1;
                } else {
                    struct gw_host_info *hi = bsn_calloc(1, sizeof(*hi));
                    snprintf(hi->name, sizeof(hi->name), "%s", b->eps[e].name);
                    atomic_init(&hi->healthy, 1);
                    __atomic_store_n(&gw->host_info[gw->nhosts], hi, __ATOMIC_RELEASE);
                    id = gw->nhosts + 1;
                    __atomic_store_n(&gw->nhosts, (uint32_t)id, __ATOMIC_RELEASE);
                    bsn_map_put(&gw->host_ids, b->eps[e].name, (void *)id);
                }
            }
            b->eps[e].host_id = (uint32_t)(id - 1);
            /* slow start: an endpoint absent from the previous configuration is new (those
             * of the first configuration that has endpoints are not) */
            struct gw_host_info *hi = gw->host_info[id - 1];
            if (!gw->had_endpoints)
                hi->added_ms = 0;
            else if (hi->seen_gen + 1 < gen)
                hi->added_ms = now_ms;
            hi->seen_gen = gen;
            b->eps[e].added_ms = hi->added_ms;
        }
    }
    for (size_t i = 0; i < cfg->nbackends && !gw->had_endpoints; i++)
        gw->had_endpoints = cfg->backends[i]->neps > 0;
    for (size_t i = 0; i < cfg->nroutes; i++) {
        struct gw_route *r = cfg->routes[i];
        struct gw_stats *s = bsn_map_get(&gw->stats, r->name);
        if (!s) {
            s = bsn_calloc(1, sizeof(*s));
            s->name = bsn_strdup(r->name);
            s->label = prom_escape(r->name);
            s->cells = aligned_alloc(64, (size_t)gw->nthreads * sizeof(*s->cells));
            if (!s->cells)
                abort();
            memset(s->cells, 0, (size_t)gw->nthreads * sizeof(*s->cells));
            bsn_map_put(&gw->stats, r->name, s);
        }
        r->stats = s;
        r->cells = s->cells;
    }
    cfg->gw = gw;
    gw_hc_update(gw, cfg);
    struct bsn_gw_config *old = gw->cur;
    gw->cur = cfg;
    gw->reloads++;
    for (int t = 0; t < gw->nthreads; t++) {
        struct gw_worker *w = &gw->workers[t];
        bsn_gw_config_ref(cfg);
        if (gw->started) {
            struct swap_msg *m = bsn_malloc(sizeof(*m));
            *m = (struct swap_msg){w, cfg};
            bsn_loop_post(w->loop, swap_cb, m);
        } else {
            worker_swap(w, cfg);
        }
    }
    pthread_mutex_unlock(&gw->mu);
    bsn_gw_config_unref(old);
}

int
bsn_gw_update(struct bsn_gw *gw, const json_t *objects, struct bsn_err *err)
{
    json_t *all = gw_jwks_prepare(gw->jwks, objects); /* + fetched JWK Sets */
    struct bsn_gw_config *cfg = bsn_gw_config_build(all, err);
    json_decref(all);
    if (!cfg)
        return -1;
    bsn_info("gateway", "configuration: %zu routes, %zu backends", cfg->nroutes, cfg->nbackends);
    bsn_gw_publish(gw, cfg);
    return 0;
}

static void *
worker_main(void *arg)
{
    struct gw_worker *w = arg;
    for (int i = 0; i < w->nlfds; i++)
        bsn_loop_add_fd(w->loop, w->lfds[i], BSN_EV_READ,
                        w->lfd_tls[i] ? gw_proxy_accept_tls : gw_proxy_accept, w);
    bsn_timer_start(w->loop, &w->sweep, 1000, gw_proxy_sweep, w);
    bsn_loop_run(w->loop);
    return NULL;
}

/* --- admin --- */

static void
put_metrics_stats(struct bsn_gw *gw, struct bsn_buf *out)
{
    static const char *bounds[GW_LAT_BUCKETS - 1] = {
        "0.0005", "0.001", "0.0025", "0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "1", "5"};
    static const char *classes[6] = {"none", "1xx", "2xx", "3xx", "4xx", "5xx"};
    bsn_buf_puts(out, "# HELP bosun_gateway_requests_total Requests by route and status class.\n"
                      "# TYPE bosun_gateway_requests_total counter\n");
    const char *k;
    void *v;
    for (size_t it = 0; bsn_map_next(&gw->stats, &it, &k, &v);) {
        struct gw_stats *s = v;
        for (int cls = 0; cls < 6; cls++) {
            uint64_t n = 0;
            for (int t = 0; t < gw->nthreads; t++)
                n += GW_LOAD(&s->cells[t].status[cls]);
            if (n)
                bsn_buf_printf(out, "bosun_gateway_requests_total{route=\"%s\",code=\"%s\"} %llu\n",
                               s->label, classes[cls], (unsigned long long)n);
        }
    }
    bsn_buf_puts(out, "# HELP bosun_gateway_request_duration_seconds Request latency by route.\n"
                      "# TYPE bosun_gateway_request_duration_seconds histogram\n");
    for (size_t it = 0; bsn_map_next(&gw->stats, &it, &k, &v);) {
        struct gw_stats *s = v;
        uint64_t cum = 0, sum = 0, bin = 0, bout = 0;
        for (int b = 0; b < GW_LAT_BUCKETS; b++) {
            for (int t = 0; t < gw->nthreads; t++)
                cum += GW_LOAD(&s->cells[t].lat[b]);
            if (b < GW_LAT_BUCKETS - 1)
                bsn_buf_printf(out,
                               "bosun_gateway_request_duration_seconds_bucket{route=\"%s\","
                               "le=\"%s\"} %llu\n",
                               s->label, bounds[b], (unsigned long long)cum);
        }
        for (int t = 0; t < gw->nthreads; t++) {
            sum += GW_LOAD(&s->cells[t].lat_sum_us);
            bin += GW_LOAD(&s->cells[t].bytes_in);
            bout += GW_LOAD(&s->cells[t].bytes_out);
        }
        bsn_buf_printf(out,
                       "bosun_gateway_request_duration_seconds_bucket{route=\"%s\",le=\"+Inf\"} "
                       "%llu\nbosun_gateway_request_duration_seconds_sum{route=\"%s\"} %.6f\n"
                       "bosun_gateway_request_duration_seconds_count{route=\"%s\"} %llu\n"
                       "bosun_gateway_received_bytes_total{route=\"%s\"} %llu\n"
                       "bosun_gateway_sent_bytes_total{route=\"%s\"} %llu\n",
                       s->label, (unsigned long long)cum, s->label, (double)sum / 1e6, s->label,
                       (unsigned long long)cum, s->label, (unsigned long long)bin, s->label,
                       (unsigned long long)bout);
        uint64_t rej = 0, rl = 0;
        for (int t = 0; t < gw->nthreads; t++) {
            rej += GW_LOAD(&s->cells[t].rejected);
            rl += GW_LOAD(&s->cells[t].ratelimited);
        }
        if (rl)
            bsn_buf_printf(out, "bosun_gateway_ratelimited_total{route=\"%s\"} %llu\n", s->label,
                           (unsigned long long)rl);
        if (rej)
            bsn_buf_printf(out, "bosun_gateway_concurrency_rejected_total{route=\"%s\"} %llu\n",
                           s->label, (unsigned long long)rej);
    }
}

static void
put_metrics_hosts(struct bsn_gw *gw, struct bsn_buf *out)
{
    bsn_buf_puts(out, "# TYPE bosun_gateway_upstream_requests_total counter\n"
                      "# TYPE bosun_gateway_upstream_failures_total counter\n"
                      "# TYPE bosun_gateway_upstream_ejections_total counter\n"
                      "# TYPE bosun_gateway_upstream_connects_total counter\n"
                      "# TYPE bosun_gateway_upstream_healthy gauge\n");
    for (uint32_t id = 0; id < gw->nhosts; id++) {
        uint64_t req = 0, fail = 0, ej = 0, conn = 0;
        for (int t = 0; t < gw->nthreads; t++) {
            struct gw_host *chunk =
                __atomic_load_n(&gw->workers[t].hosts[id / GW_HOST_CHUNK], __ATOMIC_ACQUIRE);
            if (!chunk)
                continue;
            struct gw_host *h = &chunk[id % GW_HOST_CHUNK];
            req += GW_LOAD(&h->requests);
            fail += GW_LOAD(&h->failures);
            ej += GW_LOAD(&h->ejected_total);
            conn += GW_LOAD(&h->connects);
        }
        const char *n = gw->host_info[id]->name;
        bsn_buf_printf(out,
                       "bosun_gateway_upstream_requests_total{endpoint=\"%s\"} %llu\n"
                       "bosun_gateway_upstream_failures_total{endpoint=\"%s\"} %llu\n"
                       "bosun_gateway_upstream_ejections_total{endpoint=\"%s\"} %llu\n"
                       "bosun_gateway_upstream_connects_total{endpoint=\"%s\"} %llu\n"
                       "bosun_gateway_upstream_healthy{endpoint=\"%s\"} %d\n",
                       n, (unsigned long long)req, n, (unsigned long long)fail, n,
                       (unsigned long long)ej, n, (unsigned long long)conn, n,
                       atomic_load(&gw->host_info[id]->healthy));
    }
}

void
bsn_gw_metrics(struct bsn_gw *gw, struct bsn_buf *out)
{
    pthread_mutex_lock(&gw->mu);
    put_metrics_stats(gw, out);
    put_metrics_hosts(gw, out);
    gw_otlp_metrics(gw, out);
    uint64_t conns = 0, reqs = 0, hits = 0;
    long open = 0;
    for (int t = 0; t < gw->nthreads; t++) {
        hits += GW_LOAD(&gw->workers[t].cache_hits);
        conns += GW_LOAD(&gw->workers[t].conns_total);
        reqs += GW_LOAD(&gw->workers[t].requests_total);
        open += GW_LOAD(&gw->workers[t].nconns);
    }
    bsn_buf_printf(out,
                   "# TYPE bosun_gateway_connections_total counter\n"
                   "bosun_gateway_connections_total %llu\n"
                   "# TYPE bosun_gateway_connections gauge\nbosun_gateway_connections %ld\n"
                   "# TYPE bosun_gateway_http_requests_total counter\n"
                   "bosun_gateway_http_requests_total %llu\n"
                   "# TYPE bosun_gateway_config_reloads_total counter\n"
                   "bosun_gateway_config_reloads_total %llu\n"
                   "# TYPE bosun_gateway_routes gauge\nbosun_gateway_routes %zu\n"
                   "# TYPE bosun_gateway_threads gauge\nbosun_gateway_threads %d\n"
                   "# TYPE bosun_gateway_cache_hits_total counter\n"
                   "bosun_gateway_cache_hits_total %llu\n",
                   (unsigned long long)conns, open, (unsigned long long)reqs,
                   (unsigned long long)gw->reloads, gw->cur ? gw->cur->nroutes : 0, gw->nthreads,
                   (unsigned long long)hits);
    pthread_mutex_unlock(&gw->mu);
}

static void
admin_accept(struct bsn_loop *loop, int lfd, unsigned events, void *data)
{
    struct bsn_gw *gw = data;
    int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
    if (fd < 0)
        return;
    struct timeval tv = {1, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    char buf[8192];
    size_t len = 0;
    struct bsn_http_request_head req;
    int status = 400, rc = BSN_HTTP_INCOMPLETE;
    while (len < sizeof(buf)) {
        ssize_t n = recv(fd, buf + len, sizeof(buf) - len, 0);
        if (n <= 0)
            break;
        len += (size_t)n;
        rc = bsn_http_parse_request(buf, len, &req, &status);
        if (rc != BSN_HTTP_INCOMPLETE)
            break;
    }
    struct bsn_buf body, head;
    bsn_buf_init(&body);
    bsn_buf_init(&head);
    const char *ctype = "text/plain; charset=utf-8";
    if (rc < 0) {
        bsn_buf_puts(&body, "bad request\n");
    } else if (bsn_str_eq(req.path, "/metrics")) {
        status = 200;
        ctype = "text/plain; version=0.0.4";
        bsn_gw_metrics(gw, &body);
    } else if (bsn_str_eq(req.path, "/healthz") || bsn_str_eq(req.path, "/readyz")) {
        status = 200;
        bsn_buf_puts(&body, "ok\n");
    } else if (bsn_str_eq(req.path, "/config")) {
        status = 200;
        pthread_mutex_lock(&gw->mu);
        bsn_buf_printf(&body, "routes %zu\nbackends %zu\n", gw->cur->nroutes, gw->cur->nbackends);
        for (size_t i = 0; i < gw->cur->nroutes; i++)
            bsn_buf_printf(&body, "route %s\n", gw->cur->routes[i]->name);
        bsn_buf_puts(&body, bsn_gw_config_warnings(gw->cur));
        pthread_mutex_unlock(&gw->mu);
    } else {
        status = 404;
        bsn_buf_puts(&body, "not found\n");
    }
    bsn_buf_printf(&head,
                   "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
                   "Connection: close\r\n\r\n",
                   status, bsn_http_status_text(status), ctype, body.len);
    struct iovec iov[2] = {{head.data, head.len}, {body.data ? body.data : "", body.len}};
    struct msghdr mh = {.msg_iov = iov, .msg_iovlen = 2};
    ssize_t wr = sendmsg(fd, &mh, MSG_NOSIGNAL);
    if (wr >= 0 && (size_t)wr < head.len + body.len && (size_t)wr >= head.len)
        (void)!send(fd, body.data + (wr - (ssize_t)head.len),
                    body.len - (size_t)(wr - (ssize_t)head.len), MSG_NOSIGNAL);
    bsn_buf_fini(&body);
    bsn_buf_fini(&head);
    close(fd);
}

static void *
admin_main(void *arg)
{
    struct bsn_gw *gw = arg;
    bsn_loop_run(gw->admin_loop);
    return NULL;
}

int
bsn_gw_start(struct bsn_gw *gw, struct bsn_err *err)
{
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &old); /* signals belong to the caller's thread */
    pthread_mutex_lock(&gw->mu);
    gw->started = true;
    pthread_mutex_unlock(&gw->mu);
    int rc = 0;
    for (int t = 0; t < gw->nthreads; t++) {
        rc = pthread_create(&gw->workers[t].thread, NULL, worker_main, &gw->workers[t]);
        if (rc) {
            bsn_err_set(err, 500, "InternalError", "pthread_create: %s", strerror(rc));
            break;
        }
    }
    if (!rc && gw->otlp)
        rc = -gw_otlp_start(gw->otlp);
    if (!rc) {
        rc = -gw_hc_start(gw);
        if (rc)
            bsn_err_set(err, 500, "InternalError", "pthread_create: %s", strerror(rc));
    }
    if (!rc && gw->admin_fd >= 0) {
        gw->admin_loop = bsn_loop_new();
        bsn_loop_add_fd(gw->admin_loop, gw->admin_fd, BSN_EV_READ, admin_accept, gw);
        rc = pthread_create(&gw->admin_thread, NULL, admin_main, gw);
        if (rc) {
            bsn_loop_free(gw->admin_loop);
            gw->admin_loop = NULL;
        }
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    return rc ? -rc : 0;
}

static void
drain_cb(struct bsn_loop *loop, void *data)
{
    gw_proxy_drain(data);
}

long
bsn_gw_drain(struct bsn_gw *gw, int timeout_ms)
{
    if (!gw->started)
        return 0;
    for (int t = 0; t < gw->nthreads; t++)
        bsn_loop_post(gw->workers[t].loop, drain_cb, &gw->workers[t]);
    uint64_t deadline = bsn_mono_ms() + (uint64_t)(timeout_ms > 0 ? timeout_ms : 0);
    for (;;) {
        long open = 0;
        for (int t = 0; t < gw->nthreads; t++)
            open += GW_LOAD(&gw->workers[t].nconns);
        if (open == 0 || bsn_mono_ms() >= deadline)
            return open;
        struct timespec ts = {0, 20 * 1000000L};
        nanosleep(&ts, NULL);
    }
}

static void
stop_cb(struct bsn_loop *loop, void *data)
{
    bsn_loop_stop(loop);
}

void
bsn_gw_stop(struct bsn_gw *gw)
{
    if (!gw->started)
        return;
    gw_hc_stop(gw);
    for (int t = 0; t < gw->nthreads; t++) {
        struct gw_worker *w = &gw->workers[t];
        if (w->thread) {
            bsn_loop_post(w->loop, stop_cb, NULL);
            pthread_join(w->thread, NULL);
            w->thread = 0;
        }
    }
    if (gw->admin_loop) {
        bsn_loop_post(gw->admin_loop, stop_cb, NULL);
        pthread_join(gw->admin_thread, NULL);
        bsn_loop_del_fd(gw->admin_loop, gw->admin_fd);
        bsn_loop_free(gw->admin_loop);
        gw->admin_loop = NULL;
    }
    gw->started = false;
}

void
bsn_gw_free(struct bsn_gw *gw)
{
    if (!gw)
        return;
    gw_jwks_free(gw->jwks); /* first: its thread may recompile */
    gw->jwks = NULL;
    bsn_gw_stop(gw);
    for (int t = 0; gw->workers && t < gw->nthreads; t++) {
        struct gw_worker *w = &gw->workers[t];
        if (!w->loop)
            continue;
        gw_proxy_worker_fini(w);
        for (int i = 0; i < w->nlfds; i++) {
            bsn_loop_del_fd(w->loop, w->lfds[i]);
            close(w->lfds[i]);
        }
        if (w->cur) {
            w->cur->retired = true;
            gw_cfg_release(w, w->cur);
        }
        for (int c = 0; c < GW_HOST_CHUNKS; c++)
            free(w->hosts[c]);
        free(w->rr);
        bsn_buf_fini(&w->log);
        bsn_buf_fini(&w->spans);
        bsn_loop_free(w->loop);
    }
    free(gw->workers);
    bsn_gw_config_unref(gw->cur);
    const char *k;
    void *v;
    for (size_t it = 0; bsn_map_next(&gw->stats, &it, &k, &v);) {
        struct gw_stats *s = v;
        free(s->name);
        free(s->label);
        free(s->cells);
        free(s);
    }
    bsn_map_fini(&gw->stats);
    bsn_map_fini(&gw->host_ids);
    for (uint32_t i = 0; i < gw->nhosts; i++)
        free(gw->host_info[i]);
    free(gw->host_info);
    gw_rl_free(gw->rl);
    gw_hc_free(gw);
    gw_otlp_free(gw->otlp); /* after the workers' last flush; sends what is queued */
    if (gw->tls_ctx)
        gw_tls_ctx_free(gw->tls_ctx);
    if (gw->admin_fd >= 0)
        close(gw->admin_fd);
    if (gw->log_fd >= 0)
        close(gw->log_fd);
    for (int i = 0; i < BSN_GW_MAX_LISTENERS; i++)
        free(gw->listen[i]);
    free(gw->admin_addr);
    pthread_mutex_destroy(&gw->mu);
    free(gw);
}
