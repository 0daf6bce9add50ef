/*
 * policy.c - the GatewayPolicy kind (gateway.bosun.dev/v1alpha1): parsing, defaults and
 * merging, plus the small value parsers it needs (durations, CIDRs, base64 Secret data).
 *
 * A GatewayPolicy attaches to an Ingress, HTTPRoute or Service through spec.targetRefs (or an
 * Ingress names it with the annotation gateway.bosun.dev/policy). The effective policy of a
 * route is: its route-level policy, then for groups it does not set the policy of its first
 * backend Service, then the defaults. See docs/gateway.md for every field.
 */
#include <arpa/inet.h>
#include <math.h>
#include <stdio.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <stdlib.h>
#include <string.h>

#include "base/mem.h"
#include "gateway/gw_internal.h"
#include "gateway/gw_jwt.h"

int64_t
gw_parse_duration_ms(const char *s)
{
    if (!s || !*s)
        return -1;
    int64_t total = 0;
    const char *p = s;
    while (*p) {
        char *end;
        double v = strtod(p, &end);
        if (end == p || v < 0 || !isfinite(v))
            return -1;
        double mul;
        if (strncmp(end, "ms", 2) == 0) {
            mul = 1;
            end += 2;
        } else if (*end == 's') {
            mul = 1000;
            end++;
        } else if (*end == 'm') {
            mul = 60000;
            end++;
        } else if (*end == 'h') {
            mul = 3600000;
            end++;
        } else if (*end == '\0' && p == s) {
            mul = 1000; /* bare number: seconds */
        } else {
            return -1;
        }
        if (v * mul > 1e12)
            return -1;
        total += (int64_t)(v * mul);
        p = end;
    }
    return total;
}

int
gw_parse_cidr(const char *s, struct gw_cidr *out)
{
    char buf[64];
    if (!s || strlen(s) >= sizeof(buf))
        return -1;
    strcpy(buf, s);
    char *slash = strchr(buf, '/');
    int bits = -1;
    if (slash) {
        *slash = '\0';
        char *end;
        long b = strtol(slash + 1, &end, 10);
        if (*end || end == slash + 1 || b < 0)
            return -1;
        bits = (int)b;
    }
    memset(out, 0, sizeof(*out));
    if (inet_pton(AF_INET, buf, out->addr) == 1) {
        out->family = AF_INET;
        out->bits = bits < 0 ? 32 : bits;
        return out->bits <= 32 ? 0 : -1;
    }
    if (inet_pton(AF_INET6, buf, out->addr) == 1) {
        out->family = AF_INET6;
        out->bits = bits < 0 ? 128 : bits;
        return out->bits <= 128 ? 0 : -1;
    }
    return -1;
}

bool
gw_cidr_match(const struct gw_cidr *c, const struct sockaddr *sa)
{
    const uint8_t *a;
    uint8_t mapped[16];
    if (sa->sa_family == AF_INET && c->family == AF_INET) {
        a = (const uint8_t *)&((const struct sockaddr_in *)sa)->sin_addr;
    } else if (sa->sa_family == AF_INET6) {
        const uint8_t *a6 = (const uint8_t *)&((const struct sockaddr_in6 *)sa)->sin6_addr;
        static const uint8_t v4pre[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
        if (c->family == AF_INET && memcmp(a6, v4pre, 12) == 0) {
            memcpy(mapped, a6 + 12, 4);
            a = mapped;
        } else if (c->family == AF_INET6) {
            a = a6;
        } else {
            return false;
        }
    } else {
        return false;
    }
    int full = c->bits / 8, rem = c->bits % 8;
    if (memcmp(a, c->addr, (size_t)full) != 0)
        return false;
    if (rem == 0)
        return true;
    uint8_t mask = (uint8_t)(0xff << (8 - rem));
    return (a[full] & mask) == (c->addr[full] & mask);
}

/* Decodes standard base64 (Secret .data); returns a NUL-terminated string or NULL. */
static char *
b64_decode(const char *in)
{
    size_t n = strlen(in);
    char *out = bsn_malloc(n / 4 * 3 + 4);
    size_t o = 0;
    unsigned acc = 0;
    int bits = 0;
    for (size_t i = 0; i < n; i++) {
        int c = (unsigned char)in[i], v;
        if (c >= 'A' && c <= 'Z')
            v = c - 'A';
        else if (c >= 'a' && c <= 'z')
            v = c - 'a' + 26;
        else if (c >= '0' && c <= '9')
            v = c - '0' + 52;
        else if (c == '+' || c == '-')
            v = 62;
        else if (c == '/' || c == '_')
            v = 63;
        else if (c == '=' || c == '\n' || c == '\r')
            continue;
        else {
            free(out);
            return NULL;
        }
        acc = (acc << 6) | (unsigned)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[o++] = (char)((acc >> bits) & 0xff);
        }
    }
    out[o] = '\0';
    return out;
}

char *
gw_secret_value(const json_t *secrets, const char *ns, const char *name, const char *key)
{
    char k[512];
    snprintf(k, sizeof(k), "%s/%s", ns, name);
    const json_t *s = json_object_get(secrets, k);
    const char *v = json_string_value(json_object_get(json_object_get(s, "stringData"), key));
    if (v)
        return bsn_strdup(v);
    v = json_string_value(json_object_get(json_object_get(s, "data"), key));
    return v ? b64_decode(v) : NULL;
}

/*
 * Calls fn(key, value) for each entry of a Secret's data (base64) and stringData (plain).
 * Returns -1 if the Secret does not exist.
 */
static int
secret_foreach(const json_t *secrets, const char *ns, const json_t *ref,
               void (*fn)(void *, const char *, const char *, const char *), void *arg)
{
    const char *name = json_string_value(json_object_get(ref, "name"));
    if (!name)
        return -1;
    char key[512];
    snprintf(key, sizeof(key), "%s/%s", ns, name);
    const json_t *s = json_object_get(secrets, key);
    if (!s)
        return -1;
    const char *type = json_string_value(json_object_get(s, "type"));
    const char *k;
    json_t *v;
    json_t *plain = json_object();
    json_object_foreach(json_object_get(s, "data"), k, v)
    {
        char *d = json_is_string(v) ? b64_decode(json_string_value(v)) : NULL;
        if (d)
            json_object_set_new(plain, k, json_string(d));
        free(d);
    }
    json_object_foreach(json_object_get(s, "stringData"), k, v)
    {
        if (json_is_string(v))
            json_object_set(plain, k, v);
    }
    if (type && strcmp(type, "kubernetes.io/basic-auth") == 0) {
        const char *u = json_string_value(json_object_get(plain, "username"));
        const char *p = json_string_value(json_object_get(plain, "password"));
        if (u && p)
            fn(arg, type, u, p);
    } else {
        json_object_foreach(plain, k, v) fn(arg, type, k, json_string_value(v));
    }
    json_decref(plain);
    return 0;
}

struct cred_acc {
    struct gw_cred **creds;
    int *n;
    bool basic;
};

static void
add_cred(void *arg, const char *type, const char *k, const char *v)
{
    struct cred_acc *a = arg;
    BSN_UNUSED(type);
    *a->creds = bsn_realloc(*a->creds, (size_t)(*a->n + 1) * sizeof(**a->creds));
    struct gw_cred *c = &(*a->creds)[(*a->n)++];
    c->user = bsn_strdup(k);
    c->secret = a->basic ? bsn_sprintf("%s:%s", k, v) : bsn_strdup(v);
}

struct jwt_acc {
    struct gw_jwt *j;
    struct bsn_err *err;
    int failed;
};

static void
add_jwt_key(void *arg, const char *type, const char *k, const char *v)
{
    struct jwt_acc *a = arg;
    size_t kl = strlen(k);
    BSN_UNUSED(type);
    if (strcmp(k, "jwks") == 0 || strcmp(k, "jwks.json") == 0) {
        if (gw_jwt_add_jwks(a->j, v, a->err) < 0)
            a->failed = 1;
    } else if (strcmp(k, "hmac") == 0) {
        gw_jwt_add_hmac(a->j, v, strlen(v));
    } else if (kl > 4 && strcmp(k + kl - 4, ".pem") == 0) {
        if (gw_jwt_add_pem(a->j, v, a->err) < 0)
            a->failed = 1;
    }
}

static int
dur_field(const json_t *o, const char *key, uint32_t *out, struct bsn_err *err, const char *ctx)
{
    const json_t *v = json_object_get(o, key);
    if (!v)
        return 0;
    int64_t ms = json_is_string(v)   ? gw_parse_duration_ms(json_string_value(v))
                 : json_is_number(v) ? (int64_t)(json_number_value(v) * 1000)
                                     : -1;
    if (ms < 0 || ms > 86400000)
        return bsn_err_set(err, 400, "Invalid", "%s.%s: expected a duration like 5s or 250ms", ctx,
                           key);
    *out = (uint32_t)ms;
    return 0;
}

static int
int_field(const json_t *o, const char *key, int *out, int min, int max, struct bsn_err *err,
          const char *ctx)
{
    const json_t *v = json_object_get(o, key);
    if (!v)
        return 0;
    if (!json_is_integer(v) || json_integer_value(v) < min || json_integer_value(v) > max)
        return bsn_err_set(err, 400, "Invalid", "%s.%s: expected an integer in [%d, %d]", ctx, key,
                           min, max);
    *out = (int)json_integer_value(v);
    return 0;
}

/* A byte size: an integer or a string like "64Mi", "512Ki", "1G". */
static int
size_field(const json_t *o, const char *key, int64_t *out, struct bsn_err *err)
{
    const json_t *v = json_object_get(o, key);
    if (!v)
        return 0;
    if (json_is_integer(v) && json_integer_value(v) >= 0) {
        *out = json_integer_value(v);
        return 0;
    }
    const char *s = json_string_value(v);
    char *end;
    long long n = s ? strtoll(s, &end, 10) : -1;
    if (!s || end == s || n < 0)
        goto bad;
    static const struct {
        const char *suf;
        int64_t mul;
    } sufs[] = {{"", 1},        {"k", 1000},     {"K", 1000},       {"Ki", 1024},
                {"M", 1000000}, {"Mi", 1 << 20}, {"G", 1000000000}, {"Gi", 1 << 30}};
    for (size_t i = 0; i < sizeof(sufs) / sizeof(sufs[0]); i++)
        if (strcmp(end, sufs[i].suf) == 0 && n <= (1LL << 40)) {
            *out = n * sufs[i].mul;
            return 0;
        }
bad:
    return bsn_err_set(err, 400, "Invalid", "spec: %s: expected a size like 64Mi", key);
}

static char *
str_list(const json_t *arr)
{
    if (json_is_string(arr))
        return bsn_strdup(json_string_value(arr));
    struct bsn_buf b;
    bsn_buf_init(&b);
    size_t i;
    json_t *v;
    json_array_foreach(arr, i, v)
    {
        if (!json_is_string(v))
            continue;
        if (b.len)
            bsn_buf_puts(&b, ", ");
        bsn_buf_puts(&b, json_string_value(v));
    }
    return b.len ? bsn_buf_take(&b) : (bsn_buf_fini(&b), NULL);
}

static void
kv_add(struct gw_kv **arr, int *n, const char *name, const char *value)
{
    *arr = bsn_realloc(*arr, (size_t)(*n + 1) * sizeof(**arr));
    (*arr)[*n] = (struct gw_kv){bsn_strdup(name), bsn_strdup(value), strlen(name), strlen(value)};
    (*n)++;
}

int
gw_header_mod_parse(struct gw_header_mod *m, const json_t *obj, bool gateway_api_style)
{
    if (!obj)
        return 0;
    const char *lists[2] = {"set", "add"};
    for (int l = 0; l < 2; l++) {
        const json_t *v = json_object_get(obj, lists[l]);
        struct gw_kv **arr = l == 0 ? &m->set : &m->add;
        int *n = l == 0 ? &m->nset : &m->nadd;
        if (json_is_array(v)) { /* Gateway API: [{name, value}] */
            size_t i;
            json_t *e;
            json_array_foreach(v, i, e)
            {
                const char *name = json_string_value(json_object_get(e, "name"));
                const char *val = json_string_value(json_object_get(e, "value"));
                if (!name || !val)
                    return -1;
                kv_add(arr, n, name, val);
            }
        } else if (json_is_object(v)) { /* GatewayPolicy: {name: value} */
            const char *k;
            json_t *e;
            json_object_foreach((json_t *)v, k, e)
            {
                if (!json_is_string(e))
                    return -1;
                kv_add(arr, n, k, json_string_value(e));
            }
        } else if (v) {
            return -1;
        }
    }
    BSN_UNUSED(gateway_api_style);
    size_t i;
    json_t *e;
    json_array_foreach(json_object_get(obj, "remove"), i, e)
    {
        if (!json_is_string(e))
            return -1;
        m->remove = bsn_realloc(m->remove, (size_t)(m->nremove + 1) * sizeof(char *));
        m->remove[m->nremove++] = bsn_strdup(json_string_value(e));
    }
    return 0;
}

void
gw_header_mod_fini(struct gw_header_mod *m)
{
    for (int i = 0; i < m->nset; i++) {
        free(m->set[i].name);
        free(m->set[i].value);
    }
    for (int i = 0; i < m->nadd; i++) {
        free(m->add[i].name);
        free(m->add[i].value);
    }
    for (int i = 0; i < m->nremove; i++)
        free(m->remove[i]);
    free(m->set);
    free(m->add);
    free(m->remove);
    memset(m, 0, sizeof(*m));
}

static int
parse_cidrs(const json_t *arr, struct gw_cidr **out, int *n, struct bsn_err *err, const char *what)
{
    size_t i;
    json_t *v;
    json_array_foreach(arr, i, v)
    {
        struct gw_cidr c;
        if (gw_parse_cidr(json_string_value(v), &c) < 0)
            return bsn_err_set(err, 400, "Invalid", "%s[%zu]: expected an address or CIDR", what,
                               i);
        *out = bsn_realloc(*out, (size_t)(*n + 1) * sizeof(**out));
        (*out)[(*n)++] = c;
    }
    return 0;
}

/*
 * backendTLS: {hostname, caSecretRef: {name, key (default ca.crt)} | wellKnownCACertificates:
 * System | insecureSkipVerify: true}. Builds the client context the upstream shim uses.
 */
static int
btls_parse(struct gw_policy *p, const json_t *o, const char *ns, const json_t *secrets,
           struct bsn_err *err)
{
    const char *host = json_string_value(json_object_get(o, "hostname"));
    const json_t *ref = json_object_get(o, "caSecretRef");
    const char *wk = json_string_value(json_object_get(o, "wellKnownCACertificates"));
    bool insecure = json_is_true(json_object_get(o, "insecureSkipVerify"));
    if (!host || !*host || strlen(host) > 253)
        return bsn_err_set(err, 400, "Invalid", "spec.backendTLS.hostname: required");
    if (!ref && !(wk && strcmp(wk, "System") == 0) && !insecure)
        return bsn_err_set(err, 400, "Invalid",
                           "spec.backendTLS: needs caSecretRef, wellKnownCACertificates: System "
                           "or insecureSkipVerify: true");
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    if (!ctx)
        return bsn_err_set(err, 500, "InternalError", "spec.backendTLS: no TLS context");
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER |
                              SSL_MODE_RELEASE_BUFFERS);
    SSL_CTX_set_verify(ctx, insecure ? SSL_VERIFY_NONE : SSL_VERIFY_PEER, NULL);
    p->btls_ctx = ctx;
    p->btls_host = bsn_strdup(host);
    if (wk && strcmp(wk, "System") == 0 && SSL_CTX_set_default_verify_paths(ctx) != 1)
        return bsn_err_set(err, 500, "InternalError", "spec.backendTLS: no system CAs");
    if (ref) {
        const char *name = json_string_value(json_object_get(ref, "name"));
        const char *key = json_string_value(json_object_get(ref, "key"));
        char *pem = name ? gw_secret_value(secrets, ns, name, key ? key : "ca.crt") : NULL;
        if (!pem)
            return bsn_err_set(err, 400, "Invalid",
                               "spec.backendTLS.caSecretRef: Secret or key %s not found",
                               key ? key : "ca.crt");
        BIO *bio = BIO_new_mem_buf(pem, -1);
        X509_STORE *store = SSL_CTX_get_cert_store(ctx);
        int nca = 0;
        X509 *x;
        while ((x = PEM_read_bio_X509(bio, NULL, NULL, NULL))) {
            nca += X509_STORE_add_cert(store, x) == 1;
            X509_free(x);
        }
        ERR_clear_error();
        BIO_free(bio);
        free(pem);
        if (nca == 0)
            return bsn_err_set(err, 400, "Invalid",
                               "spec.backendTLS.caSecretRef: no PEM certificate in the Secret");
    }
    return 0;
}

int
gw_policy_parse(struct gw_policy *p, const json_t *spec, const char *ns, const json_t *secrets,
                struct bsn_err *err)
{
    memset(p, 0, sizeof(*p));
    if (!json_is_object(spec))
        return bsn_err_set(err, 400, "Invalid", "spec: expected an object");
    const json_t *o;
    if ((o = json_object_get(spec, "loadBalancer"))) {
        p->set |= GW_P_LB;
        const char *t = json_string_value(json_object_get(o, "type"));
        if (!t || strcmp(t, "RoundRobin") == 0)
            p->lb = GW_LB_ROUND_ROBIN;
        else if (strcmp(t, "LeastRequest") == 0)
            p->lb = GW_LB_LEAST_REQUEST;
        else if (strcmp(t, "Random") == 0)
            p->lb = GW_LB_RANDOM;
        else if (strcmp(t, "ConsistentHash") == 0) {
            p->lb = GW_LB_HASH;
            const json_t *h = json_object_get(o, "hash");
            const char *hn;
            if ((hn = json_string_value(json_object_get(h, "header")))) {
                p->hash_src = GW_HASH_HEADER;
                p->hash_name = bsn_strdup(hn);
            } else if ((hn = json_string_value(json_object_get(h, "cookie")))) {
                p->hash_src = GW_HASH_COOKIE;
                p->hash_name = bsn_strdup(hn);
            } else {
                p->hash_src = GW_HASH_CLIENT_IP;
            }
        } else
            return bsn_err_set(err, 400, "Invalid",
                               "spec.loadBalancer.type %s: expected RoundRobin, LeastRequest, "
                               "Random or ConsistentHash",
                               t);
        const json_t *ss = json_object_get(o, "slowStart");
        if (ss) {
            p->slow_start_ms = 30000;
            p->slow_start_aggression = 1.0;
            p->slow_start_min = 0.1;
            if (dur_field(ss, "window", &p->slow_start_ms, err, "spec.loadBalancer.slowStart") < 0)
                return -1;
            const json_t *ag = json_object_get(ss, "aggression");
            if (ag && (!json_is_number(ag) || json_number_value(ag) <= 0))
                return bsn_err_set(err, 400, "Invalid",
                                   "spec.loadBalancer.slowStart.aggression: expected a number > 0");
            if (ag)
                p->slow_start_aggression = json_number_value(ag);
            const json_t *mn = json_object_get(ss, "minWeightPercent");
            if (mn && (!json_is_integer(mn) || json_integer_value(mn) < 0 ||
                       json_integer_value(mn) > 100))
                return bsn_err_set(err, 400, "Invalid",
                                   "spec.loadBalancer.slowStart.minWeightPercent: expected 0..100");
            if (mn)
                p->slow_start_min = (double)json_integer_value(mn) / 100.0;
        }
    }
    if ((o = json_object_get(spec, "timeouts"))) {
        p->set |= GW_P_TIMEOUTS;
        p->connect_ms = 5000;
        p->request_ms = 60000;
        p->idle_ms = 60000;
        if (dur_field(o, "connect", &p->connect_ms, err, "spec.timeouts") < 0 ||
            dur_field(o, "request", &p->request_ms, err, "spec.timeouts") < 0 ||
            dur_field(o, "perTry", &p->per_try_ms, err, "spec.timeouts") < 0 ||
            dur_field(o, "idle", &p->idle_ms, err, "spec.timeouts") < 0)
            return -1;
    }
    if ((o = json_object_get(spec, "retries"))) {
        p->set |= GW_P_RETRY;
        p->retry_attempts = 2;
        p->retry_backoff_ms = 25;
        p->retry_budget_pct = 20;
        if (int_field(o, "attempts", &p->retry_attempts, 1, 10, err, "spec.retries") < 0 ||
            dur_field(o, "backoff", &p->retry_backoff_ms, err, "spec.retries") < 0 ||
            int_field(o, "budgetPercent", &p->retry_budget_pct, 0, 100, err, "spec.retries") < 0)
            return -1;
        const json_t *on = json_object_get(o, "on");
        if (!on) {
            p->retry_5xx = p->retry_connect = p->retry_reset = true;
        }
        size_t i;
        json_t *v;
        json_array_foreach(on, i, v)
        {
            const char *s = json_string_value(v);
            if (s && strcmp(s, "5xx") == 0)
                p->retry_5xx = true;
            else if (s && strcmp(s, "connect-failure") == 0)
                p->retry_connect = true;
            else if (s && strcmp(s, "reset") == 0)
                p->retry_reset = true;
            else
                return bsn_err_set(err, 400, "Invalid",
                                   "spec.retries.on[%zu]: expected 5xx, connect-failure or reset",
                                   i);
        }
    }
    if ((o = json_object_get(spec, "outlierDetection"))) {
        p->set |= GW_P_OUTLIER;
        p->outlier_consecutive_5xx = 5;
        p->outlier_base_ms = 30000;
        p->outlier_max_pct = 10;
        if (int_field(o, "consecutive5xx", &p->outlier_consecutive_5xx, 0, 1000, err,
                      "spec.outlierDetection") < 0 ||
            dur_field(o, "baseEjectionTime", &p->outlier_base_ms, err, "spec.outlierDetection") <
                0 ||
            int_field(o, "maxEjectionPercent", &p->outlier_max_pct, 0, 100, err,
                      "spec.outlierDetection") < 0)
            return -1;
    }
    if ((o = json_object_get(spec, "circuitBreaker"))) {
        p->set |= GW_P_CB;
        if (int_field(o, "maxConnections", &p->cb_max_connections, 0, 1000000, err,
                      "spec.circuitBreaker") < 0 ||
            int_field(o, "maxPendingRequests", &p->cb_max_pending, 0, 1000000, err,
                      "spec.circuitBreaker") < 0 ||
            int_field(o, "maxRequests", &p->cb_max_requests, 0, 1000000, err,
                      "spec.circuitBreaker") < 0)
            return -1;
    }
    if ((o = json_object_get(spec, "healthCheck"))) {
        p->set |= GW_P_HC;
        const char *path = json_string_value(json_object_get(o, "path"));
        p->hc_path = bsn_strdup(path ? path : "/healthz");
        p->hc_interval_ms = 5000;
        p->hc_timeout_ms = 1000;
        p->hc_unhealthy = 3;
        p->hc_healthy = 1;
        if (dur_field(o, "interval", &p->hc_interval_ms, err, "spec.healthCheck") < 0 ||
            dur_field(o, "timeout", &p->hc_timeout_ms, err, "spec.healthCheck") < 0 ||
            int_field(o, "unhealthyThreshold", &p->hc_unhealthy, 1, 100, err, "spec.healthCheck") <
                0 ||
            int_field(o, "healthyThreshold", &p->hc_healthy, 1, 100, err, "spec.healthCheck") < 0)
            return -1;
        if (p->hc_interval_ms < 100)
            p->hc_interval_ms = 100;
    }
    if ((o = json_object_get(spec, "rateLimit"))) {
        p->set |= GW_P_RATE;
        int req = 0;
        uint32_t per = 1000;
        if (int_field(o, "requests", &req, 1, 100000000, err, "spec.rateLimit") < 0 ||
            dur_field(o, "per", &per, err, "spec.rateLimit") < 0)
            return -1;
        if (req <= 0 || per == 0)
            return bsn_err_set(err, 400, "Invalid",
                               "spec.rateLimit: requests (> 0) and per (> 0) are required");
        p->rl_rate = (double)req * 1000.0 / per;
        int burst = req;
        if (int_field(o, "burst", &burst, 1, 100000000, err, "spec.rateLimit") < 0)
            return -1;
        p->rl_burst = burst;
        const char *key = json_string_value(json_object_get(o, "key"));
        if (!key || strcmp(key, "route") == 0)
            p->rl_key = GW_RL_ROUTE;
        else if (strcmp(key, "clientIP") == 0)
            p->rl_key = GW_RL_CLIENT_IP;
        else if (strcmp(key, "apiKey") == 0)
            p->rl_key = GW_RL_API_KEY;
        else if (strncmp(key, "header:", 7) == 0 && key[7]) {
            p->rl_key = GW_RL_HEADER;
            p->rl_header = bsn_strdup(key + 7);
        } else
            return bsn_err_set(err, 400, "Invalid",
                               "spec.rateLimit.key %s: expected route, clientIP, apiKey or "
                               "header:<name>",
                               key);
    }
    if ((o = json_object_get(spec, "auth"))) {
        p->set |= GW_P_AUTH;
        const json_t *ak = json_object_get(o, "apiKey");
        if (ak) {
            const char *h = json_string_value(json_object_get(ak, "header"));
            p->apikey_header = bsn_strdup(h ? h : "X-API-Key");
            struct cred_acc a = {&p->apikeys, &p->napikeys, false};
            if (secret_foreach(secrets, ns, json_object_get(ak, "secretRef"), add_cred, &a) < 0)
                return bsn_err_set(err, 400, "Invalid",
                                   "spec.auth.apiKey.secretRef: Secret not found");
        }
        const json_t *jw = json_object_get(o, "jwt");
        if (jw) {
            p->jwt = gw_jwt_new(jw, err);
            if (!p->jwt)
                return -1;
            struct jwt_acc a = {p->jwt, err, 0};
            const char *uri = json_string_value(json_object_get(jw, "jwksUri"));
            if ((!uri || json_object_get(jw, "secretRef")) &&
                secret_foreach(secrets, ns, json_object_get(jw, "secretRef"), add_jwt_key, &a) < 0)
                return bsn_err_set(err, 400, "Invalid",
                                   "spec.auth.jwt.secretRef: Secret not found");
            if (uri) {
                if (strncmp(uri, "https://", 8) != 0 && strncmp(uri, "http://", 7) != 0)
                    return bsn_err_set(err, 400, "Invalid",
                                       "spec.auth.jwt.jwksUri: expected an http(s) URL");
                /* fetched by jwks.c; no keys yet: every token is rejected (fail closed) */
                char name[24];
                gw_jwks_name(uri, name);
                char *set = gw_secret_value(secrets, "bosun-jwks", name, "jwks");
                if (set && gw_jwt_add_jwks(p->jwt, set, err) < 0)
                    a.failed = 1;
                free(set);
            }
            if (a.failed)
                return bsn_err_prefix(err, "spec.auth.jwt");
            if (gw_jwt_nkeys(p->jwt) == 0 && !uri)
                return bsn_err_set(err, 400, "Invalid",
                                   "spec.auth.jwt: the Secret has no jwks, hmac or *.pem key");
        }
        const json_t *ba = json_object_get(o, "basic");
        if (ba) {
            const char *realm = json_string_value(json_object_get(ba, "realm"));
            p->basic_realm = bsn_strdup(realm ? realm : "bosun");
            struct cred_acc a = {&p->basic, &p->nbasic, true};
            if (secret_foreach(secrets, ns, json_object_get(ba, "secretRef"), add_cred, &a) < 0)
                return bsn_err_set(err, 400, "Invalid",
                                   "spec.auth.basic.secretRef: Secret not found");
            if (p->nbasic == 0)
                p->basic = bsn_calloc(1, sizeof(*p->basic)); /* no user can log in */
        }
    }
    if (json_object_get(spec, "ipAllow") || json_object_get(spec, "ipDeny")) {
        p->set |= GW_P_IP;
        if (parse_cidrs(json_object_get(spec, "ipAllow"), &p->allow, &p->nallow, err,
                        "spec.ipAllow") < 0 ||
            parse_cidrs(json_object_get(spec, "ipDeny"), &p->deny, &p->ndeny, err, "spec.ipDeny") <
                0)
            return -1;
    }
    if ((o = json_object_get(spec, "cors"))) {
        p->set |= GW_P_CORS;
        size_t i;
        json_t *v;
        json_array_foreach(json_object_get(o, "allowOrigins"), i, v)
        {
            if (!json_is_string(v))
                continue;
            p->cors_origins =
                bsn_realloc(p->cors_origins, (size_t)(p->ncors_origins + 1) * sizeof(char *));
            p->cors_origins[p->ncors_origins++] = bsn_strdup(json_string_value(v));
        }
        p->cors_methods = str_list(json_object_get(o, "allowMethods"));
        p->cors_headers = str_list(json_object_get(o, "allowHeaders"));
        p->cors_expose = str_list(json_object_get(o, "exposeHeaders"));
        p->cors_credentials = json_is_true(json_object_get(o, "allowCredentials"));
        p->cors_max_age = 600;
        if (int_field(o, "maxAge", &p->cors_max_age, 0, 86400 * 7, err, "spec.cors") < 0)
            return -1;
    }
    if ((o = json_object_get(spec, "compression"))) {
        p->set |= GW_P_COMP;
        p->gzip = !json_is_false(json_object_get(o, "gzip"));
        p->brotli = json_is_true(json_object_get(o, "brotli"));
        int min = 1024;
        if (int_field(o, "minSize", &min, 0, 1 << 30, err, "spec.compression") < 0)
            return -1;
        p->gzip_min_size = min;
        size_t i;
        json_t *v;
        json_array_foreach(json_object_get(o, "contentTypes"), i, v)
        {
            if (!json_is_string(v))
                return bsn_err_set(err, 400, "Invalid",
                                   "spec.compression.contentTypes[%zu]: expected a string", i);
            p->gzip_types =
                bsn_realloc(p->gzip_types, (size_t)(p->gzip_ntypes + 1) * sizeof(char *));
            p->gzip_types[p->gzip_ntypes++] = bsn_strdup(json_string_value(v));
        }
    }
    if ((o = json_object_get(spec, "tracing"))) {
        p->set |= GW_P_TRACE;
        p->gen_request_id = !json_is_false(json_object_get(o, "requestId"));
        p->gen_traceparent = !json_is_false(json_object_get(o, "traceparent"));
    }
    if ((o = json_object_get(spec, "cache"))) {
        p->set |= GW_P_CACHE;
        p->cache_max_bytes = 64 << 20;
        p->cache_max_object = 1 << 20;
        uint32_t ttl = 0;
        if (size_field(o, "maxBytes", &p->cache_max_bytes, err) < 0 ||
            size_field(o, "maxObjectSize", &p->cache_max_object, err) < 0 ||
            dur_field(o, "ttl", &ttl, err, "spec.cache") < 0)
            return -1;
        p->cache_ttl_ms = ttl;
    }
    p->ns = bsn_strdup(ns ? ns : "default");
    if ((o = json_object_get(spec, "aggregate"))) {
        p->set |= GW_P_AGG;
        p->agg_timeout_ms = 5000;
        if (dur_field(o, "timeout", &p->agg_timeout_ms, err, "spec.aggregate") < 0)
            return -1;
        const json_t *parts = json_object_get(o, "parts");
        if (!json_is_array(parts) || json_array_size(parts) == 0 || json_array_size(parts) > 16)
            return bsn_err_set(err, 400, "Invalid",
                               "spec.aggregate.parts: expected 1 to 16 {name, service, port, "
                               "path}");
        p->agg = bsn_calloc(json_array_size(parts), sizeof(*p->agg));
        size_t i;
        const json_t *pt;
        json_array_foreach(parts, i, pt)
        {
            const char *name = json_string_value(json_object_get(pt, "name"));
            const char *svc = json_string_value(json_object_get(pt, "service"));
            const char *path = json_string_value(json_object_get(pt, "path"));
            json_int_t port = json_integer_value(json_object_get(pt, "port"));
            if (!name || !*name || !svc || !*svc || port <= 0 || port > 65535 ||
                (path && path[0] != '/'))
                return bsn_err_set(err, 400, "Invalid",
                                   "spec.aggregate.parts[%zu]: needs name, service, port and a "
                                   "path starting with /",
                                   i);
            for (int k = 0; k < p->nagg; k++)
                if (strcmp(p->agg[k].name, name) == 0)
                    return bsn_err_set(err, 400, "Invalid",
                                       "spec.aggregate.parts: duplicate name %s", name);
            struct gw_agg_part *a = &p->agg[p->nagg++];
            a->name = bsn_strdup(name);
            a->service = bsn_strdup(svc);
            a->port = (int)port;
            a->path = bsn_strdup(path ? path : "/");
        }
    }
    if ((o = json_object_get(spec, "fallback"))) {
        p->set |= GW_P_FALLBACK;
        const json_t *st = json_object_get(o, "status");
        p->fallback_status = st ? (int)json_integer_value(st) : 503;
        const char *body = json_string_value(json_object_get(o, "body"));
        const char *ct = json_string_value(json_object_get(o, "contentType"));
        if (p->fallback_status < 200 || p->fallback_status > 599 ||
            (json_object_get(o, "body") && !body) || (body && strlen(body) > 65536))
            return bsn_err_set(err, 400, "Invalid",
                               "spec.fallback: expected {status: 200..599, body: string (<= "
                               "64 KiB), contentType}");
        p->fallback_body = bsn_strdup(body ? body : "");
        p->fallback_ctype = bsn_strdup(ct ? ct : "text/plain; charset=utf-8");
        for (const char *q = p->fallback_ctype; *q; q++)
            if (*q == '\r' || *q == '\n')
                return bsn_err_set(err, 400, "Invalid", "spec.fallback.contentType: bad value");
    }
    if ((o = json_object_get(spec, "backendTLS"))) {
        p->set |= GW_P_BTLS;
        if (btls_parse(p, o, ns, secrets, err) < 0)
            return -1;
    }
    if ((o = json_object_get(spec, "concurrency"))) {
        p->set |= GW_P_CONC;
        const json_t *m = json_object_get(o, "maxRequests");
        if (!json_is_integer(m) || json_integer_value(m) < 1 || json_integer_value(m) > 1000000)
            return bsn_err_set(err, 400, "Invalid",
                               "spec.concurrency.maxRequests: expected 1..1000000");
        p->max_concurrent = (int)json_integer_value(m);
    }
    if ((o = json_object_get(spec, "limits"))) {
        p->set |= GW_P_LIMITS;
        if (size_field(o, "maxRequestBodySize", &p->max_body, err) < 0)
            return -1;
    }
    if ((o = json_object_get(spec, "headers"))) {
        p->set |= GW_P_HEADERS;
        if (gw_header_mod_parse(&p->req_hdr, json_object_get(o, "request"), false) < 0 ||
            gw_header_mod_parse(&p->resp_hdr, json_object_get(o, "response"), false) < 0)
            return bsn_err_set(err, 400, "Invalid",
                               "spec.headers: expected request/response with set/add maps and "
                               "a remove list");
    }
    return 0;
}

void
gw_policy_fini(struct gw_policy *p)
{
    free(p->hash_name);
    free(p->hc_path);
    free(p->rl_header);
    free(p->apikey_header);
    for (int i = 0; i < p->napikeys; i++) {
        free(p->apikeys[i].secret);
        free(p->apikeys[i].user);
    }
    free(p->apikeys);
    for (int i = 0; i < p->nbasic; i++) {
        free(p->basic[i].secret);
        free(p->basic[i].user);
    }
    free(p->basic);
    free(p->basic_realm);
    gw_jwt_free(p->jwt);
    free(p->allow);
    free(p->deny);
    for (int i = 0; i < p->ncors_origins; i++)
        free(p->cors_origins[i]);
    free(p->cors_origins);
    free(p->cors_methods);
    free(p->cors_headers);
    free(p->cors_expose);
    gw_header_mod_fini(&p->req_hdr);
    gw_header_mod_fini(&p->resp_hdr);
    for (int i = 0; i < p->gzip_ntypes; i++)
        free(p->gzip_types[i]);
    free(p->gzip_types);
    for (int i = 0; i < p->nagg; i++) {
        free(p->agg[i].name);
        free(p->agg[i].service);
        free(p->agg[i].path);
    }
    free(p->agg);
    free(p->ns);
    free(p->fallback_body);
    free(p->fallback_ctype);
    if (p->btls_ctx)
        SSL_CTX_free(p->btls_ctx);
    free(p->btls_host);
}

void
gw_policy_defaults(struct gw_policy *p)
{
    memset(p, 0, sizeof(*p));
    p->set = GW_P_LB | GW_P_TIMEOUTS | GW_P_RETRY | GW_P_OUTLIER | GW_P_CB;
    p->lb = GW_LB_ROUND_ROBIN;
    p->connect_ms = 5000;
    p->request_ms = 60000;
    p->idle_ms = 60000;
    /* A request that never reached the upstream (connect failure, or a reused keep-alive
     * connection closed under us) is always safe to retry once. */
    p->retry_attempts = 2;
    p->retry_connect = true;
    p->retry_reset = true;
    p->retry_backoff_ms = 25;
    p->retry_budget_pct = 20;
    p->outlier_consecutive_5xx = 5;
    p->outlier_base_ms = 30000;
    p->outlier_max_pct = 10;
}

void
gw_policy_merge(struct gw_policy *dst, const struct gw_policy *src)
{
    unsigned add = src->set & ~dst->set;
    if (add & GW_P_LB) {
        dst->lb = src->lb;
        dst->hash_src = src->hash_src;
        dst->hash_name = src->hash_name;
        dst->slow_start_ms = src->slow_start_ms;
        dst->slow_start_aggression = src->slow_start_aggression;
        dst->slow_start_min = src->slow_start_min;
    }
    if (add & GW_P_TIMEOUTS) {
        dst->connect_ms = src->connect_ms;
        dst->request_ms = src->request_ms;
        dst->per_try_ms = src->per_try_ms;
        dst->idle_ms = src->idle_ms;
    }
    if (add & GW_P_RETRY) {
        dst->retry_attempts = src->retry_attempts;
        dst->retry_5xx = src->retry_5xx;
        dst->retry_connect = src->retry_connect;
        dst->retry_reset = src->retry_reset;
        dst->retry_backoff_ms = src->retry_backoff_ms;
        dst->retry_budget_pct = src->retry_budget_pct;
    }
    if (add & GW_P_OUTLIER) {
        dst->outlier_consecutive_5xx = src->outlier_consecutive_5xx;
        dst->outlier_base_ms = src->outlier_base_ms;
        dst->outlier_max_pct = src->outlier_max_pct;
    }
    if (add & GW_P_CB) {
        dst->cb_max_connections = src->cb_max_connections;
        dst->cb_max_pending = src->cb_max_pending;
        dst->cb_max_requests = src->cb_max_requests;
    }
    if (add & GW_P_HC) {
        dst->hc_path = src->hc_path;
        dst->hc_interval_ms = src->hc_interval_ms;
        dst->hc_timeout_ms = src->hc_timeout_ms;
        dst->hc_unhealthy = src->hc_unhealthy;
        dst->hc_healthy = src->hc_healthy;
    }
    if (add & GW_P_RATE) {
        dst->rl_rate = src->rl_rate;
        dst->rl_burst = src->rl_burst;
        dst->rl_key = src->rl_key;
        dst->rl_header = src->rl_header;
    }
    if (add & GW_P_AUTH) {
        dst->apikey_header = src->apikey_header;
        dst->apikeys = src->apikeys;
        dst->napikeys = src->napikeys;
        dst->basic = src->basic;
        dst->nbasic = src->nbasic;
        dst->basic_realm = src->basic_realm;
        dst->jwt = src->jwt;
    }
    if (add & GW_P_IP) {
        dst->allow = src->allow;
        dst->nallow = src->nallow;
        dst->deny = src->deny;
        dst->ndeny = src->ndeny;
    }
    if (add & GW_P_CORS) {
        dst->cors_origins = src->cors_origins;
        dst->ncors_origins = src->ncors_origins;
        dst->cors_methods = src->cors_methods;
        dst->cors_headers = src->cors_headers;
        dst->cors_expose = src->cors_expose;
        dst->cors_max_age = src->cors_max_age;
        dst->cors_credentials = src->cors_credentials;
    }
    if (add & GW_P_COMP) {
        dst->gzip = src->gzip;
        dst->brotli = src->brotli;
        dst->gzip_min_size = src->gzip_min_size;
        dst->gzip_types = src->gzip_types;
        dst->gzip_ntypes = src->gzip_ntypes;
    }
    if (add & GW_P_TRACE) {
        dst->gen_request_id = src->gen_request_id;
        dst->gen_traceparent = src->gen_traceparent;
    }
    if (add & GW_P_CACHE) {
        dst->cache_max_bytes = src->cache_max_bytes;
        dst->cache_max_object = src->cache_max_object;
        dst->cache_ttl_ms = src->cache_ttl_ms;
    }
    if (add & GW_P_LIMITS)
        dst->max_body = src->max_body;
    if (add & GW_P_FALLBACK) {
        dst->fallback_status = src->fallback_status;
        dst->fallback_body = src->fallback_body;
        dst->fallback_ctype = src->fallback_ctype;
    }
    if (add & GW_P_CONC)
        dst->max_concurrent = src->max_concurrent;
    if (add & GW_P_BTLS) {
        dst->btls_ctx = src->btls_ctx;
        dst->btls_host = src->btls_host;
    }
    if (add & GW_P_AGG) {
        dst->agg = src->agg;
        dst->nagg = src->nagg;
        dst->agg_timeout_ms = src->agg_timeout_ms;
    }
    if (add & GW_P_HEADERS) {
        dst->req_hdr = src->req_hdr;
        dst->resp_hdr = src->resp_hdr;
    }
    dst->set |= add;
}
