/*
 * healthcheck.c - active HTTP health checks (GatewayPolicy spec.healthCheck).
 *
 * One thread per gateway probes every endpoint of every backend whose route policy asks for
 * it: GET <path> with "Connection: close" every interval; a 2xx/3xx answer within the timeout
 * is a success. After unhealthyThreshold consecutive failures the endpoint is marked down
 * (gw_host_info.healthy = 0, read by every worker's load balancer without locks); after
 * healthyThreshold successes it is up again. Probes block this thread only (timeouts bound
 * them), never a worker.
 *
 * The target list is rebuilt on every publish; the state of endpoints that stay is kept.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "base/log.h"
#include "base/mem.h"
#include "base/time.h"
#include "gateway/gw_worker.h"

struct gw_hc_target {
    uint32_t host_id;
    struct sockaddr_storage sa;
    socklen_t salen;
    char name[64];
    char path[256];
    uint32_t interval_ms, timeout_ms;
    int unhealthy, healthy;
    int fails, oks;
    uint64_t next_ms;
};

struct gw_hc {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool stop;
    pthread_t thread;
    bool running;
    struct gw_hc_target *t;
    size_t n;
};

/* Waits up to ms for fd to become readable/writable; 1 ready, 0 timeout, -1 error. */
static int
wait_fd(int fd, short ev, int ms)
{
    struct pollfd p = {fd, ev, 0};
    int rc;
    do
        rc = poll(&p, 1, ms);
    while (rc < 0 && errno == EINTR);
    return rc;
}

/* One probe; true when the endpoint answered 2xx/3xx in time. */
static bool
probe(const struct gw_hc_target *t)
{
    int fd = socket(t->sa.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return false;
    bool ok = false;
    uint64_t deadline = bsn_mono_ms() + t->timeout_ms;
    if (connect(fd, (const struct sockaddr *)&t->sa, t->salen) < 0 && errno != EINPROGRESS)
        goto out;
    if (wait_fd(fd, POLLOUT, (int)t->timeout_ms) != 1)
        goto out;
    int err = 0;
    socklen_t el = sizeof(err);
    getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &el);
    if (err)
        goto out;
    char req[512];
    int n = snprintf(req, sizeof(req),
                     "GET %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: bosun-gateway-healthcheck\r\n"
                     "Connection: close\r\n\r\n",
                     t->path, t->name);
    if (send(fd, req, (size_t)n, MSG_NOSIGNAL) != n)
        goto out;
    char buf[64];
    size_t got = 0;
    while (got < 12) {
        uint64_t now = bsn_mono_ms();
        if (now >= deadline || wait_fd(fd, POLLIN, (int)(deadline - now)) != 1)
            goto out;
        ssize_t r = recv(fd, buf + got, sizeof(buf) - got, 0);
        if (r <= 0)
            goto out;
        got += (size_t)r;
    }
    ok = memcmp(buf, "HTTP/1.", 7) == 0 && (buf[9] == '2' || buf[9] == '3');
out:
    close(fd);
    return ok;
}

static void *
hc_main(void *arg)
{
    struct bsn_gw *gw = arg;
    struct gw_hc *hc = gw->hc;
    pthread_mutex_lock(&hc->mu);
    while (!hc->stop) {
        uint64_t now = bsn_mono_ms();
        for (size_t i = 0; i < hc->n && !hc->stop; i++) {
            struct gw_hc_target t = hc->t[i];
            if (t.next_ms > now)
                continue;
            pthread_mutex_unlock(&hc->mu);
            bool ok = probe(&t);
            pthread_mutex_lock(&hc->mu);
            /* the list may have been replaced meanwhile: find the target again */
            for (size_t k = 0; k < hc->n; k++) {
                struct gw_hc_target *x = &hc->t[k];
                if (x->host_id != t.host_id)
                    continue;
                x->next_ms = bsn_mono_ms() + x->interval_ms;
                struct gw_host_info *hi = gw->host_info[x->host_id];
                if (ok) {
                    x->fails = 0;
                    if (++x->oks >= x->healthy && !atomic_load(&hi->healthy)) {
                        atomic_store(&hi->healthy, 1);
                        bsn_info("gateway", "health check: %s is healthy", x->name);
                    }
                } else {
                    x->oks = 0;
                    if (++x->fails >= x->unhealthy && atomic_load(&hi->healthy)) {
                        atomic_store(&hi->healthy, 0);
                        bsn_warn("gateway", "health check: %s%s failed %d times: unhealthy",
                                 x->name, x->path, x->fails);
                    }
                }
            }
        }
        if (hc->n == 0) { /* nothing to probe: sleep until a publish or stop */
            pthread_cond_wait(&hc->cv, &hc->mu);
            continue;
        }
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += 50 * 1000000L;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&hc->cv, &hc->mu, &ts);
    }
    pthread_mutex_unlock(&hc->mu);
    return NULL;
}

void
gw_hc_init(struct bsn_gw *gw)
{
    struct gw_hc *hc = bsn_calloc(1, sizeof(*hc));
    pthread_mutex_init(&hc->mu, NULL);
    pthread_cond_init(&hc->cv, NULL);
    gw->hc = hc;
}

/* Rebuilds the target list from cfg (called under gw->mu, host ids bound). */
void
gw_hc_update(struct bsn_gw *gw, const struct bsn_gw_config *cfg)
{
    struct gw_hc *hc = gw->hc;
    struct gw_hc_target *t = NULL;
    size_t n = 0;
    for (size_t i = 0; i < cfg->nroutes; i++) {
        const struct gw_route *r = cfg->routes[i];
        const struct gw_policy *p = r->policy;
        if (!p->hc_path)
            continue;
        for (int b = 0; b < r->nbackends; b++) {
            const struct gw_backend *be = r->backends[b].b;
            if (p->btls_ctx || (be->policy && be->policy->btls_ctx))
                continue; /* probes are plain HTTP: TLS backends rely on outlier detection */
            for (uint32_t e = 0; e < be->neps; e++) {
                bool dup = false;
                for (size_t k = 0; k < n && !dup; k++)
                    dup = t[k].host_id == be->eps[e].host_id;
                if (dup)
                    continue;
                t = bsn_realloc(t, (n + 1) * sizeof(*t));
                struct gw_hc_target *x = &t[n++];
                memset(x, 0, sizeof(*x));
                x->host_id = be->eps[e].host_id;
                x->sa = be->eps[e].sa;
                x->salen = be->eps[e].salen;
                snprintf(x->name, sizeof(x->name), "%s", be->eps[e].name);
                snprintf(x->path, sizeof(x->path), "%s", p->hc_path);
                x->interval_ms = p->hc_interval_ms;
                x->timeout_ms = p->hc_timeout_ms ? p->hc_timeout_ms : 1000;
                x->unhealthy = p->hc_unhealthy;
                x->healthy = p->hc_healthy;
            }
        }
    }
    pthread_mutex_lock(&hc->mu);
    /* keep the state of endpoints still checked; endpoints no longer checked count as up */
    for (size_t k = 0; k < hc->n; k++) {
        bool kept = false;
        for (size_t i = 0; i < n; i++)
            if (t[i].host_id == hc->t[k].host_id) {
                t[i].fails = hc->t[k].fails;
                t[i].oks = hc->t[k].oks;
                t[i].next_ms = hc->t[k].next_ms;
                kept = true;
            }
        if (!kept)
            atomic_store(&gw->host_info[hc->t[k].host_id]->healthy, 1);
    }
    free(hc->t);
    hc->t = t;
    hc->n = n;
    pthread_cond_signal(&hc->cv);
    pthread_mutex_unlock(&hc->mu);
}

int
gw_hc_start(struct bsn_gw *gw)
{
    struct gw_hc *hc = gw->hc;
    int rc = pthread_create(&hc->thread, NULL, hc_main, gw);
    hc->running = rc == 0;
    return -rc;
}

void
gw_hc_stop(struct bsn_gw *gw)
{
    struct gw_hc *hc = gw->hc;
    if (!hc || !hc->running)
        return;
    pthread_mutex_lock(&hc->mu);
    hc->stop = true;
    pthread_cond_signal(&hc->cv);
    pthread_mutex_unlock(&hc->mu);
    pthread_join(hc->thread, NULL);
    hc->running = false;
}

void
gw_hc_free(struct bsn_gw *gw)
{
    struct gw_hc *hc = gw->hc;
    if (!hc)
        return;
    gw_hc_stop(gw);
    free(hc->t);
    pthread_mutex_destroy(&hc->mu);
    pthread_cond_destroy(&hc->cv);
    free(hc);
    gw->hc = NULL;
}
