/*
 * jwks.c - JWK Sets fetched from URLs (GatewayPolicy spec.auth.jwt.jwksUri).
 *
 * Compiling a configuration never touches the network, so the keys of a jwksUri come in as
 * data: every bsn_gw_update() adds, for each URL fetched so far, a synthetic Secret
 * "bosun-jwks/<hash of the URL>" holding the JWK Set under "jwks", which the policy compiler
 * reads like any key Secret. A fetcher thread downloads each URL named by a policy (at once
 * when it first appears, then every GW_JWKS_REFRESH_S seconds, every GW_JWKS_RETRY_S after a
 * failure; 5 s timeout, 1 MiB cap) and, when a set changed, recompiles the last configuration
 * with it. Until a URL's first successful fetch its policy has no keys and rejects every token
 * (fail closed).
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/log.h"
#include "base/mem.h"
#include "gateway/gw_worker.h"
#include "http/client.h"

#define GW_JWKS_REFRESH_S 300
#define GW_JWKS_RETRY_S   10
#define GW_JWKS_MAX_URIS  64

struct jwks_uri {
    char *uri;
    char *body;     /* last good JWK Set, NULL before the first fetch */
    time_t next_at; /* next fetch (0 = now) */
};

struct gw_jwks {
    struct bsn_gw *gw;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    pthread_t thread;
    bool started, stop;
    struct jwks_uri uris[GW_JWKS_MAX_URIS];
    int nuris;
    json_t *last; /* the objects of the last update (without synthetic Secrets) */
};

void
gw_jwks_name(const char *uri, char out[24])
{
    snprintf(out, 24, "u%016llx", (unsigned long long)gw_hash_bytes(uri, strlen(uri), 0x6a776b73));
}

/* Fetches what is due; returns true when a key set changed. Called without the lock. */
static bool
fetch_due(struct gw_jwks *j)
{
    bool changed = false;
    for (int i = 0;; i++) {
        pthread_mutex_lock(&j->mu);
        if (i >= j->nuris || j->stop) {
            pthread_mutex_unlock(&j->mu);
            break;
        }
        time_t now = time(NULL);
        if (j->uris[i].next_at > now) {
            pthread_mutex_unlock(&j->mu);
            continue;
        }
        char *uri = bsn_strdup(j->uris[i].uri);
        pthread_mutex_unlock(&j->mu);
        struct bsn_http_fetch_opts fo = {.url = uri, .timeout_ms = 5000, .max_body = 1u << 20};
        struct bsn_http_fetch_result res;
        struct bsn_err err;
        bsn_err_clear(&err);
        char *body = NULL;
        if (bsn_http_fetch(&fo, &res, &err) == 0) {
            if (res.status == 200)
                body = bsn_strndup(res.body, res.body_len);
            else
                bsn_warn("gateway", "jwksUri %s: HTTP %d", uri, res.status);
            bsn_http_fetch_result_fini(&res);
        } else {
            bsn_warn("gateway", "jwksUri %s: %s", uri, err.msg);
        }
        pthread_mutex_lock(&j->mu);
        /* the list only grows (bounded), so index i is still this URL */
        struct jwks_uri *u = &j->uris[i];
        u->next_at = time(NULL) + (body ? GW_JWKS_REFRESH_S : GW_JWKS_RETRY_S);
        if (body && (!u->body || strcmp(u->body, body) != 0)) {
            free(u->body);
            u->body = body;
            body = NULL;
            changed = true;
        }
        pthread_mutex_unlock(&j->mu);
        free(body);
        free(uri);
    }
    return changed;
}

static void *
fetcher(void *arg)
{
    struct gw_jwks *j = arg;
    for (;;) {
        if (fetch_due(j)) {
            pthread_mutex_lock(&j->mu);
            json_t *objs = json_incref(j->last);
            pthread_mutex_unlock(&j->mu);
            struct bsn_err err;
            bsn_err_clear(&err);
            if (objs && bsn_gw_update(j->gw, objs, &err) < 0)
                bsn_warn("gateway", "recompiling with new JWKS: %s", err.msg);
            json_decref(objs);
        }
        pthread_mutex_lock(&j->mu);
        if (j->stop) {
            pthread_mutex_unlock(&j->mu);
            return NULL;
        }
        time_t next = 0, now = time(NULL);
        for (int i = 0; i < j->nuris; i++)
            if (!next || j->uris[i].next_at < next)
                next = j->uris[i].next_at;
        if (!next || next > now) {
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            ts.tv_sec += next ? next - now : 3600;
            pthread_cond_timedwait(&j->cv, &j->mu, &ts);
        }
        bool stop = j->stop;
        pthread_mutex_unlock(&j->mu);
        if (stop)
            return NULL;
    }
}

struct gw_jwks *
gw_jwks_new(struct bsn_gw *gw)
{
    struct gw_jwks *j = bsn_calloc(1, sizeof(*j));
    j->gw = gw;
    pthread_mutex_init(&j->mu, NULL);
    pthread_cond_init(&j->cv, NULL);
    return j;
}

void
gw_jwks_free(struct gw_jwks *j)
{
    if (!j)
        return;
    pthread_mutex_lock(&j->mu);
    j->stop = true;
    pthread_cond_signal(&j->cv);
    pthread_mutex_unlock(&j->mu);
    if (j->started)
        pthread_join(j->thread, NULL);
    for (int i = 0; i < j->nuris; i++) {
        free(j->uris[i].uri);
        free(j->uris[i].body);
    }
    json_decref(j->last);
    pthread_mutex_destroy(&j->mu);
    pthread_cond_destroy(&j->cv);
    free(j);
}

/*
 * Remembers objects for refetch-driven recompiles, registers the jwksUri of every policy, and
 * returns the array to compile: objects plus one synthetic Secret per fetched key set (a new
 * reference; objects itself when there is nothing to add).
 */
json_t *
gw_jwks_prepare(struct gw_jwks *j, const json_t *objects)
{
    bool wake = false;
    pthread_mutex_lock(&j->mu);
    if (j->last != objects) {
        json_decref(j->last);
        j->last = json_incref((json_t *)objects);
    }
    size_t i;
    json_t *o;
    json_array_foreach(objects, i, o)
    {
        const char *kind = json_string_value(json_object_get(o, "kind"));
        if (!kind || strcmp(kind, "GatewayPolicy") != 0)
            continue;
        const char *uri = json_string_value(json_object_get(
            json_object_get(json_object_get(json_object_get(o, "spec"), "auth"), "jwt"),
            "jwksUri"));
        if (!uri || (strncmp(uri, "https://", 8) != 0 && strncmp(uri, "http://", 7) != 0))
            continue;
        bool known = false;
        for (int k = 0; k < j->nuris && !known; k++)
            known = strcmp(j->uris[k].uri, uri) == 0;
        if (!known && j->nuris < GW_JWKS_MAX_URIS) {
            j->uris[j->nuris++] = (struct jwks_uri){bsn_strdup(uri), NULL, 0};
            wake = true;
        }
    }
    json_t *out = NULL;
    for (int k = 0; k < j->nuris; k++) {
        if (!j->uris[k].body)
            continue;
        if (!out)
            out = json_copy((json_t *)objects); /* shallow: the objects are shared */
        char name[24];
        gw_jwks_name(j->uris[k].uri, name);
        json_array_append_new(out, json_pack("{s:s,s:{s:s,s:s},s:{s:s}}", "kind", "Secret",
                                             "metadata", "namespace", "bosun-jwks", "name", name,
                                             "stringData", "jwks", j->uris[k].body));
    }
    if (wake && !j->started) {
        j->started = pthread_create(&j->thread, NULL, fetcher, j) == 0;
    } else if (wake) {
        pthread_cond_signal(&j->cv);
    }
    pthread_mutex_unlock(&j->mu);
    return out ? out : json_incref((json_t *)objects);
}
