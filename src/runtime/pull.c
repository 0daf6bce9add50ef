/*
 * pull.c - registry pull over the OCI distribution API (see image.h).
 *
 * Blocking, meant for a worker thread: manifests and tokens through bsn_http_fetch, blobs
 * streamed to disk by the async client on a private loop. Flow: GET the manifest by tag or
 * digest (Accept: OCI/Docker manifests and indexes); on 401 follow the WWW-Authenticate
 * challenge (Bearer: fetch a token from the realm, with basic credentials if any; Basic: send
 * the credentials) and retry once; an index is resolved to its linux/amd64 manifest; then the
 * config and every layer blob not already stored are fetched (following redirects to blob
 * storage without the registry's credentials) and verified against their digests.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/log.h"
#include "base/mem.h"
#include "http/client.h"
#include "loop/loop.h"
#include "runtime/image.h"
#include "runtime/image_int.h"
#include "runtime/rt_impl.h"

#define ACCEPT_MANIFESTS                                          \
    "Accept: application/vnd.oci.image.index.v1+json, "           \
    "application/vnd.docker.distribution.manifest.list.v2+json, " \
    "application/vnd.oci.image.manifest.v1+json, "                \
    "application/vnd.docker.distribution.manifest.v2+json"
#define MANIFEST_MAX (8u << 20)

struct reg {
    const struct bsn_registry_auth *auth;
    char base[512]; /* scheme://host[:port] */
    char repo[256];
    char *token; /* bearer token (given or obtained) */
    char *basic; /* "Authorization: Basic ..." */
    bool tried_auth;
};

/* "scheme://host[:port]" of url into out. */
static void
url_origin(const char *url, char *out, size_t n)
{
    const char *p = strstr(url, "://");
    p = p ? p + 3 : url;
    size_t len = strcspn(p, "/?");
    snprintf(out, n, "%.*s", (int)(p - url + (ptrdiff_t)len), url);
}

static void
url_encode(struct bsn_buf *b, const char *s)
{
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~')
            bsn_buf_putc(b, (char)c);
        else
            bsn_buf_printf(b, "%%%02X", c);
    }
}

bool
rt_img_challenge_param(const char *params, const char *key, char *out, size_t n)
{
    size_t kl = strlen(key);
    for (const char *p = params; *p;) {
        while (*p == ' ' || *p == ',')
            p++;
        const char *eq = strchr(p, '=');
        if (!eq)
            break;
        bool match = (size_t)(eq - p) == kl && !strncasecmp(p, key, kl);
        const char *v = eq + 1, *end;
        if (*v == '"') {
            v++;
            end = strchr(v, '"');
            if (!end)
                break;
        } else {
            end = v + strcspn(v, ",");
        }
        if (match) {
            snprintf(out, n, "%.*s", (int)(end - v), v);
            return true;
        }
        p = *end == '"' ? end + 1 : end;
    }
    return false;
}

static char *
basic_header(const char *user, const char *pass)
{
    BSN_AUTOFREE char *raw = bsn_sprintf("%s:%s", user, pass ? pass : "");
    size_t n = strlen(raw);
    char *b64 = bsn_malloc(4 * ((n + 2) / 3) + 1);
    EVP_EncodeBlock((unsigned char *)b64, (const unsigned char *)raw, (int)n);
    char *h = bsn_sprintf("Authorization: Basic %s", b64);
    free(b64);
    return h;
}

static void
fill_tls(const struct reg *r, struct bsn_http_fetch_opts *o)
{
    if (r->auth) {
        o->tls.ca_file = r->auth->ca_file;
        o->tls.insecure = r->auth->insecure_tls;
    }
}

/* Answers a 401 challenge: sets r->token or r->basic. */
static int
authenticate(struct reg *r, const char *challenge, struct bsn_err *err)
{
    const char *user = r->auth ? r->auth->username : NULL;
    const char *pass = r->auth ? r->auth->password : NULL;
    if (!challenge)
        return bsn_err_set(err, 401, "Unauthorized", "registry %s: 401 without a challenge",
                           r->base);
    if (!strncasecmp(challenge, "Basic", 5)) {
        if (!user)
            return bsn_err_set(err, 401, "Unauthorized",
                               "registry %s wants basic credentials for %s", r->base, r->repo);
        free(r->basic);
        r->basic = basic_header(user, pass);
        return 0;
    }
    if (strncasecmp(challenge, "Bearer", 6) != 0)
        return bsn_err_set(err, 401, "Unauthorized", "registry %s: unsupported challenge '%s'",
                           r->base, challenge);
    char realm[512], service[256] = "", scope[512];
    if (!rt_img_challenge_param(challenge + 6, "realm", realm, sizeof(realm)))
        return bsn_err_set(err, 401, "Unauthorized",
                           "registry %s: bearer challenge without "
                           "realm",
                           r->base);
    rt_img_challenge_param(challenge + 6, "service", service, sizeof(service));
    if (!rt_img_challenge_param(challenge + 6, "scope", scope, sizeof(scope)))
        snprintf(scope, sizeof(scope), "repository:%s:pull", r->repo);
    struct bsn_buf url;
    bsn_buf_init(&url);
    bsn_buf_printf(&url, "%s%c", realm, strchr(realm, '?') ? '&' : '?');
    if (service[0]) {
        bsn_buf_puts(&url, "service=");
        url_encode(&url, service);
        bsn_buf_putc(&url, '&');
    }
    bsn_buf_puts(&url, "scope=");
    url_encode(&url, scope);
    BSN_AUTOFREE char *basic = user ? basic_header(user, pass) : NULL;
    const char *hdrs[] = {basic, NULL};
    struct bsn_http_fetch_opts o = {
        .url = url.data, .headers = basic ? hdrs : NULL, .timeout_ms = 60000, .max_body = 1 << 20};
    fill_tls(r, &o);
    struct bsn_http_fetch_result res;
    int rc = bsn_http_fetch(&o, &res, err);
    bsn_buf_fini(&url);
    if (rc < 0)
        return bsn_err_prefix(err, "registry token");
    if (res.status != 200) {
        rc = bsn_err_set(err, res.status == 401 || res.status == 403 ? 401 : 502, "Unauthorized",
                         "registry token from %s: HTTP %d", realm, res.status);
        bsn_http_fetch_result_fini(&res);
        return rc;
    }
    json_t *j = json_loadb(res.body, res.body_len, 0, NULL);
    const char *tok = json_string_value(json_object_get(j, "token"));
    if (!tok)
        tok = json_string_value(json_object_get(j, "access_token"));
    if (tok) {
        free(r->token);
        r->token = bsn_strdup(tok);
    } else {
        rc =
            bsn_err_set(err, 502, "BadGateway", "registry token from %s: no token in reply", realm);
    }
    json_decref(j);
    bsn_http_fetch_result_fini(&res);
    return rc;
}

/* GET path (relative to the registry) with auth, one auth retry and up to 5 redirects. */
static int
reg_get(struct reg *r, const char *path, const char *accept, size_t max_body,
        struct bsn_http_fetch_result *res, struct bsn_err *err)
{
    BSN_AUTOFREE char *url = bsn_sprintf("%s%s", r->base, path);
    for (int hop = 0; hop < 8; hop++) {
        char origin[512];
        url_origin(url, origin, sizeof(origin));
        bool same = !strcmp(origin, r->base);
        const char *hdrs[3] = {0};
        int nh = 0;
        if (accept)
            hdrs[nh++] = accept;
        if (same && r->basic && !r->token)
            hdrs[nh++] = r->basic;
        struct bsn_http_fetch_opts o = {.url = url,
                                        .headers = hdrs,
                                        .bearer_token = same ? r->token : NULL,
                                        .timeout_ms = 30 * 60 * 1000,
                                        .max_body = max_body};
        fill_tls(r, &o);
        if (bsn_http_fetch(&o, res, err) < 0)
            return -1;
        if (res->status == 401 && same && !r->tried_auth) {
            r->tried_auth = true;
            const char *ch = bsn_http_fetch_header(res, "WWW-Authenticate");
            BSN_AUTOFREE char *chal = ch ? bsn_strdup(ch) : NULL;
            bsn_http_fetch_result_fini(res);
            if (authenticate(r, chal, err) < 0)
                return -1;
            continue;
        }
        if (res->status == 301 || res->status == 302 || res->status == 303 || res->status == 307 ||
            res->status == 308) {
            const char *loc = bsn_http_fetch_header(res, "Location");
            if (!loc) {
                bsn_http_fetch_result_fini(res);
                return bsn_err_set(err, 502, "BadGateway", "%s: redirect without Location", url);
            }
            char *next = loc[0] == '/' ? bsn_sprintf("%s%s", origin, loc) : bsn_strdup(loc);
            bsn_http_fetch_result_fini(res);
            free(url);
            url = next;
            continue;
        }
        return 0;
    }
    bsn_http_fetch_result_fini(res);
    return bsn_err_set(err, 502, "BadGateway", "%s: too many redirects", path);
}

static int
status_error(struct reg *r, const char *what, struct bsn_http_fetch_result *res,
             struct bsn_err *err)
{
    int code = res->status == 404 ? 404 : res->status == 401 || res->status == 403 ? 401 : 502;
    const char *reason = code == 404 ? "NotFound" : code == 401 ? "Unauthorized" : "BadGateway";
    bsn_err_set(err, code, reason, "%s/%s: %s: HTTP %d %.200s", r->base, r->repo, what, res->status,
                res->body ? res->body : "");
    bsn_http_fetch_result_fini(res);
    return -1;
}

/* Fetches a manifest, verifies it and stores it; returns the parsed JSON. */
static json_t *
get_manifest(struct bsn_image_store *s, struct reg *r, const char *ref, const char *expect,
             char digest[72], struct bsn_err *err)
{
    BSN_AUTOFREE char *path = bsn_sprintf("/v2/%s/manifests/%s", r->repo, ref);
    struct bsn_http_fetch_result res;
    if (reg_get(r, path, ACCEPT_MANIFESTS, MANIFEST_MAX, &res, err) < 0)
        return NULL;
    if (res.status != 200) {
        status_error(r, path, &res, err);
        return NULL;
    }
    json_t *j = NULL;
    if (rt_img_blob_put_mem(s, res.body, res.body_len, expect, digest, err) == 0) {
        json_error_t je;
        j = json_loadb(res.body, res.body_len, 0, &je);
        if (!j)
            bsn_err_set(err, 502, "BadGateway", "manifest %s: %s", ref, je.text);
    }
    bsn_http_fetch_result_fini(&res);
    return j;
}

/* --- streamed blob download: straight to a temp file in the store, hashed on the way --- */

struct dl {
    struct bsn_loop *loop;
    int fd;
    EVP_MD_CTX *md;
    int64_t bytes;
    int status;
    char *location;  /* 3xx */
    char *challenge; /* 401 */
    bool failed;
    struct bsn_err err;
};

static char *
resp_header(const struct bsn_http_client_resp *r, const char *name)
{
    for (size_t i = 0; i < r->nheaders; i++)
        if (bsn_str_case_eq(r->headers[i].name, name))
            return bsn_str_dup(r->headers[i].value);
    return NULL;
}

static int
dl_chunk(const struct bsn_http_client_resp *resp, const char *data, size_t len, void *arg)
{
    struct dl *d = arg;
    if (!data) { /* the head */
        d->status = resp->status;
        if (resp->status == 200)
            return 0;
        d->location = resp_header(resp, "Location");
        d->challenge = resp_header(resp, "WWW-Authenticate");
        bsn_loop_stop(d->loop);
        return -1;
    }
    d->bytes += (int64_t)len;
    if ((size_t)d->bytes > BSN_IMAGE_PULL_MAX_BLOB) {
        d->failed = true;
        bsn_err_set(&d->err, 413, "RequestEntityTooLarge", "blob larger than %zu bytes",
                    BSN_IMAGE_PULL_MAX_BLOB);
        bsn_loop_stop(d->loop);
        return -1;
    }
    EVP_DigestUpdate(d->md, data, len);
    while (len > 0) {
        ssize_t n = write(d->fd, data, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            d->failed = true;
            bsn_err_set(&d->err, 500, "InternalError", "write blob: %s", strerror(errno));
            bsn_loop_stop(d->loop);
            return -1;
        }
        data += n;
        len -= (size_t)n;
    }
    return 0;
}

static void
dl_done(const struct bsn_http_client_resp *resp, void *arg)
{
    struct dl *d = arg;
    if (resp->err) {
        d->failed = true;
        bsn_err_copy(&d->err, resp->err);
    }
    bsn_loop_stop(d->loop);
}

/* One GET of url into d (reset per hop); runs a private loop until the call ends. */
static int
dl_once(struct reg *r, const char *url, struct dl *d, struct bsn_err *err)
{
    char origin[512];
    url_origin(url, origin, sizeof(origin));
    const char *path = url + strlen(origin);
    bool same = !strcmp(origin, r->base);
    struct bsn_http_client_opts co = {.base_url = origin, .bearer_token = same ? r->token : NULL};
    if (r->auth) {
        co.tls.ca_file = r->auth->ca_file;
        co.tls.insecure = r->auth->insecure_tls;
    }
    d->loop = bsn_loop_new();
    struct bsn_http_client *cl = bsn_http_client_new(d->loop, &co, err);
    if (!cl) {
        bsn_loop_free(d->loop);
        return -1;
    }
    const char *hdrs[2] = {same && r->basic && !r->token ? r->basic : NULL, NULL};
    struct bsn_http_call_opts o = {.path = *path ? path : "/",
                                   .headers = hdrs,
                                   .timeout_ms = 30 * 60 * 1000,
                                   .on_chunk = dl_chunk,
                                   .on_done = dl_done,
                                   .data = d};
    bsn_http_client_request(cl, &o);
    bsn_loop_run(d->loop);
    bsn_http_client_free(cl);
    bsn_loop_free(d->loop);
    if (d->failed) {
        bsn_err_copy(err, &d->err);
        return -1;
    }
    return 0;
}

static int
get_blob(struct bsn_image_store *s, struct reg *r, const char *digest, struct bsn_err *err)
{
    if (!rt_img_valid_digest(digest))
        return bsn_err_set(err, 502, "BadGateway", "manifest names an invalid digest '%s'", digest);
    if (rt_img_blob_exists(s, digest))
        return 0;
    BSN_AUTOFREE char *tmp = bsn_sprintf("%s/blobs/sha256/.dl-XXXXXX", bsn_image_store_root(s));
    char *url = bsn_sprintf("%s/v2/%s/blobs/%s", r->base, r->repo, digest);
    int rc = -1;
    for (int hop = 0; hop < 8; hop++) {
        struct dl d = {.fd = mkstemp(tmp), .md = EVP_MD_CTX_new()};
        if (d.fd < 0) {
            EVP_MD_CTX_free(d.md);
            bsn_err_set(err, 500, "InternalError", "blob temp: %s", strerror(errno));
            break;
        }
        EVP_DigestInit_ex(d.md, EVP_sha256(), NULL);
        int got = dl_once(r, url, &d, err);
        close(d.fd);
        unsigned char md[32];
        unsigned mdlen = 0;
        EVP_DigestFinal_ex(d.md, md, &mdlen);
        EVP_MD_CTX_free(d.md);
        char origin[512];
        url_origin(url, origin, sizeof(origin));
        bool retry = false;
        if (got == 0 && d.status == 401 && !strcmp(origin, r->base) && !r->tried_auth) {
            r->tried_auth = true;
            retry = authenticate(r, d.challenge, err) == 0;
            if (!retry)
                got = -1;
        } else if (got == 0 && d.status >= 300 && d.status < 400 && d.location) {
            char *next = d.location[0] == '/' ? bsn_sprintf("%s%s", origin, d.location)
                                              : bsn_strdup(d.location);
            free(url);
            url = next;
            retry = true;
        } else if (got == 0 && d.status != 200) {
            bsn_err_set(err,
                        d.status == 404   ? 404
                        : d.status == 401 ? 401
                                          : 502,
                        d.status == 404 ? "NotFound" : "BadGateway", "%s/%s: blob %s: HTTP %d",
                        r->base, r->repo, digest, d.status);
            got = -1;
        } else if (got == 0) {
            char have[72] = "sha256:";
            for (int i = 0; i < 32; i++)
                snprintf(have + 7 + 2 * i, 3, "%02x", md[i]);
            if (strcmp(have, digest) != 0) {
                bsn_err_set(err, 400, "BadRequest", "blob %s: digest mismatch (content is %s)",
                            digest, have);
                got = -1;
            } else {
                BSN_AUTOFREE char *final = rt_img_blob_path(s, digest);
                fchmodat(AT_FDCWD, tmp, 0644, 0);
                if (rename(tmp, final) < 0) {
                    bsn_err_set(err, 500, "InternalError", "store blob %s: %s", digest,
                                strerror(errno));
                    got = -1;
                } else {
                    rc = 0;
                }
            }
        }
        free(d.location);
        free(d.challenge);
        if (rc == 0 || !retry) {
            if (rc < 0)
                unlink(tmp);
            break;
        }
        unlink(tmp);
        snprintf(tmp + strlen(tmp) - 6, 7, "XXXXXX");
        if (hop == 7)
            bsn_err_set(err, 502, "BadGateway", "blob %s: too many redirects", digest);
    }
    free(url);
    return rc;
}

static bool
is_local(const char *domain)
{
    return !strncmp(domain, "localhost", 9) || !strncmp(domain, "127.", 4) ||
           !strncmp(domain, "[::1]", 5);
}

static int pull_guarded(struct bsn_image_store *s, const char *refstr,
                        const struct bsn_registry_auth *auth, char *name, size_t namelen,
                        struct bsn_err *err);

int
bsn_image_pull(struct bsn_image_store *s, const char *refstr, const struct bsn_registry_auth *auth,
               char *name, size_t namelen, struct bsn_err *err)
{
    int g = rt_img_guard_begin(s);
    int rc = pull_guarded(s, refstr, auth, name, namelen, err);
    rt_img_guard_end(g);
    return rc;
}

static int
pull_guarded(struct bsn_image_store *s, const char *refstr, const struct bsn_registry_auth *auth,
             char *name, size_t namelen, struct bsn_err *err)
{
    struct bsn_image_ref ref;
    if (bsn_image_ref_parse(refstr, &ref, err) < 0)
        return bsn_err_prefix(err, "pull");
    struct reg r = {.auth = auth};
    snprintf(r.repo, sizeof(r.repo), "%s", ref.path);
    if (auth && auth->mirror && *auth->mirror) {
        snprintf(r.base, sizeof(r.base), "%s", auth->mirror);
        size_t n = strlen(r.base);
        while (n > 0 && r.base[n - 1] == '/')
            r.base[--n] = '\0';
    } else {
        bool http = (auth && auth->plain_http) || is_local(ref.domain);
        const char *host = !strcmp(ref.domain, "docker.io") ? "registry-1.docker.io" : ref.domain;
        snprintf(r.base, sizeof(r.base), "%s://%s", http ? "http" : "https", host);
    }
    if (auth && auth->token)
        r.token = bsn_strdup(auth->token);
    char full[512];
    bsn_image_ref_name(&ref, full, sizeof(full));
    char md[72];
    int rc = -1;
    json_t *m = get_manifest(s, &r, ref.digest[0] ? ref.digest : ref.tag,
                             ref.digest[0] ? ref.digest : NULL, md, err);
    if (m && rt_img_is_index(json_string_value(json_object_get(m, "mediaType")))) {
        const char *pick = rt_img_pick_platform(m);
        BSN_AUTOFREE char *want = pick ? bsn_strdup(pick) : NULL;
        json_decref(m);
        m = NULL;
        if (!want || !rt_img_valid_digest(want))
            bsn_err_set(err, 502, "BadGateway", "%s: index without a usable manifest", full);
        else
            m = get_manifest(s, &r, want, want, md, err);
    }
    if (!m)
        goto out;
    if (json_integer_value(json_object_get(m, "schemaVersion")) != 2) {
        bsn_err_set(err, 502, "BadGateway", "%s: only schema 2 manifests are supported", full);
        goto out;
    }
    if (get_blob(s, &r,
                 json_string_value(json_object_get(json_object_get(m, "config"), "digest")) ?: "",
                 err) < 0)
        goto out;
    json_t *layers = json_object_get(m, "layers");
    for (size_t i = 0; i < json_array_size(layers); i++) {
        const char *ld = json_string_value(json_object_get(json_array_get(layers, i), "digest"));
        if (get_blob(s, &r, ld ? ld : "", err) < 0)
            goto out;
    }
    if (rt_img_commit(s, md, full, err) < 0)
        goto out;
    if (name)
        snprintf(name, namelen, "%s", full);
    rc = 0;
out:
    json_decref(m);
    free(r.token);
    free(r.basic);
    if (rc < 0)
        bsn_err_prefix(err, "pull %s", full);
    return rc;
}

enum bsn_pull_policy
bsn_image_default_policy(const char *refstr)
{
    struct bsn_image_ref ref;
    if (bsn_image_is_host(refstr) || bsn_image_ref_parse(refstr, &ref, NULL) < 0)
        return BSN_PULL_IF_NOT_PRESENT;
    if (ref.digest[0])
        return BSN_PULL_IF_NOT_PRESENT;
    return !strcmp(ref.tag, "latest") ? BSN_PULL_ALWAYS : BSN_PULL_IF_NOT_PRESENT;
}

int
bsn_image_parse_policy(const char *s, const char *ref, enum bsn_pull_policy *out)
{
    if (!s || !*s)
        *out = bsn_image_default_policy(ref);
    else if (!strcmp(s, "Always"))
        *out = BSN_PULL_ALWAYS;
    else if (!strcmp(s, "IfNotPresent"))
        *out = BSN_PULL_IF_NOT_PRESENT;
    else if (!strcmp(s, "Never"))
        *out = BSN_PULL_NEVER;
    else
        return -1;
    return 0;
}

int
bsn_image_ensure(struct bsn_image_store *s, const char *ref, enum bsn_pull_policy policy,
                 const struct bsn_registry_auth *auth, struct bsn_err *err)
{
    if (bsn_image_is_host(ref))
        return 0;
    struct bsn_image_ref r;
    if (bsn_image_ref_parse(ref, &r, err) < 0)
        return -1;
    struct bsn_image_config c;
    struct bsn_err probe = {0};
    bool present = bsn_image_resolve(s, ref, &c, &probe) == 0;
    if (present)
        bsn_image_config_fini(&c);
    if (policy == BSN_PULL_NEVER) {
        if (present)
            return 0;
        return bsn_err_set(err, 404, "ErrImageNeverPull",
                           "image %s is not present and the pull policy is Never", ref);
    }
    if (present && (policy == BSN_PULL_IF_NOT_PRESENT || r.digest[0]))
        return 0;
    return bsn_image_pull(s, ref, auth, NULL, 0, err);
}

struct pull_job {
    struct bsn_image_store *s;
    struct bsn_loop *loop;
    char *ref;
    enum bsn_pull_policy policy;
    bool ensure;
    struct bsn_registry_auth auth;
    char *strs[6];
    bsn_image_done_cb cb;
    void *data;
    int rc;
    struct bsn_err err;
};

static void
pull_done(struct bsn_loop *loop, void *data)
{
    struct pull_job *j = data;
    j->cb(j->data, j->rc, j->rc < 0 ? &j->err : NULL);
    free(j->ref);
    for (int i = 0; i < 6; i++)
        free(j->strs[i]);
    free(j);
}

static void *
pull_thread(void *arg)
{
    struct pull_job *j = arg;
    j->rc = j->ensure ? bsn_image_ensure(j->s, j->ref, j->policy, &j->auth, &j->err)
                      : bsn_image_pull(j->s, j->ref, &j->auth, NULL, 0, &j->err);
    bsn_loop_post(j->loop, pull_done, j);
    return NULL;
}

static const char *
keep(struct pull_job *j, int i, const char *s)
{
    j->strs[i] = s ? bsn_strdup(s) : NULL;
    return j->strs[i];
}

static int start_job(struct bsn_image_store *s, struct bsn_loop *loop, const char *ref,
                     const struct bsn_registry_auth *auth, bsn_image_done_cb cb, void *data,
                     bool ensure, enum bsn_pull_policy policy);

int
bsn_image_pull_async(struct bsn_image_store *s, struct bsn_loop *loop, const char *ref,
                     const struct bsn_registry_auth *auth, bsn_image_done_cb cb, void *data)
{
    return start_job(s, loop, ref, auth, cb, data, false, BSN_PULL_ALWAYS);
}

int
bsn_image_ensure_async(struct bsn_image_store *s, struct bsn_loop *loop, const char *ref,
                       enum bsn_pull_policy policy, const struct bsn_registry_auth *auth,
                       bsn_image_done_cb cb, void *data)
{
    return start_job(s, loop, ref, auth, cb, data, true, policy);
}

static int
start_job(struct bsn_image_store *s, struct bsn_loop *loop, const char *ref,
          const struct bsn_registry_auth *auth, bsn_image_done_cb cb, void *data, bool ensure,
          enum bsn_pull_policy policy)
{
    struct pull_job *j = bsn_calloc(1, sizeof(*j));
    j->ensure = ensure;
    j->policy = policy;
    j->s = s;
    j->loop = loop;
    j->ref = bsn_strdup(ref);
    j->cb = cb;
    j->data = data;
    if (auth) {
        j->auth = *auth;
        j->auth.username = keep(j, 0, auth->username);
        j->auth.password = keep(j, 1, auth->password);
        j->auth.token = keep(j, 2, auth->token);
        j->auth.mirror = keep(j, 3, auth->mirror);
        j->auth.ca_file = keep(j, 4, auth->ca_file);
    }
    pthread_t t;
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    int rc = pthread_create(&t, &attr, pull_thread, j);
    pthread_attr_destroy(&attr);
    if (rc != 0) {
        free(j->ref);
        for (int i = 0; i < 6; i++)
            free(j->strs[i]);
        free(j);
        return -rc;
    }
    return 0;
}
