/*
 * test_pull.c - bsn_image_pull against a small OCI distribution registry served here on
 * 127.0.0.1 (bsn_http_server on its own thread): bearer-token auth from the WWW-Authenticate
 * challenge, blob redirects, multi-arch index resolution, pull by digest, digest mismatch,
 * 404, missing credentials, and the async variant.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/mem.h"
#include "http/server.h"
#include "loop/loop.h"
#include "runtime/image.h"
#include "runtime/rt_impl.h"

static char tmpdir[256], blobs[300];
static char tags[3][2][80]; /* tag -> digest */
static char bad_layer[72];
static int port;
static struct bsn_loop *srv_loop;
static struct bsn_http_server *srv;
static pthread_t srv_thread;
static int token_requests, manifest_requests;

static char *
blob_file(const char *digest)
{
    if (strncmp(digest, "sha256:", 7) != 0 || strchr(digest, '/') || strlen(digest) != 71)
        return NULL;
    return bsn_sprintf("%s/%s", blobs, digest + 7);
}

static void
serve_file(struct bsn_http_req *req, const char *digest, const char *ctype)
{
    BSN_AUTOFREE char *f = blob_file(digest);
    size_t len = 0;
    BSN_AUTOFREE char *data = f ? rt_read_file(f, 1 << 24, &len) : NULL;
    if (!data) {
        bsn_http_respond(req, 404, "application/json", "{\"errors\":[]}", 13);
        return;
    }
    bsn_http_respond(req, 200, ctype, data, len);
}

static void
handle(struct bsn_http_req *req, void *data)
{
    const char *authz = bsn_http_req_header(req, "Authorization");
    if (!strcmp(req->path, "/token")) {
        token_requests++;
        /* alice:secret */
        if (!authz || strcmp(authz, "Basic YWxpY2U6c2VjcmV0") != 0) {
            bsn_http_respond(req, 401, "application/json", "{}", 2);
            return;
        }
        char scope[200];
        if (bsn_http_query_get(req, "scope", scope, sizeof(scope)) < 0 ||
            strcmp(scope, "repository:team/app:pull") != 0) {
            bsn_http_respond(req, 400, "text/plain", "bad scope", 9);
            return;
        }
        bsn_http_respond(req, 200, "application/json", "{\"token\":\"tok-123\"}", 19);
        return;
    }
    if (!strncmp(req->path, "/cdn/", 5)) {
        if (!strcmp(req->path + 5, bad_layer)) {
            bsn_http_respond(req, 200, "application/octet-stream", "not what you asked", 18);
            return;
        }
        serve_file(req, req->path + 5, "application/octet-stream");
        return;
    }
    if (strncmp(req->path, "/v2/", 4) != 0) {
        bsn_http_respond(req, 404, NULL, NULL, 0);
        return;
    }
    if (!authz || strcmp(authz, "Bearer tok-123") != 0) {
        char ch[300];
        snprintf(ch, sizeof(ch),
                 "Bearer realm=\"http://127.0.0.1:%d/token\",service=\"bsn-test\","
                 "scope=\"repository:team/app:pull\"",
                 port);
        bsn_http_req_add_header(req, "WWW-Authenticate", ch);
        bsn_http_respond(req, 401, "application/json", "{}", 2);
        return;
    }
    const char *m = "/v2/team/app/manifests/", *b = "/v2/team/app/blobs/";
    if (!strncmp(req->path, m, strlen(m))) {
        manifest_requests++;
        const char *ref = req->path + strlen(m);
        const char *digest = !strncmp(ref, "sha256:", 7) ? ref : NULL;
        for (int i = 0; i < 3 && !digest; i++)
            if (!strcmp(tags[i][0], ref))
                digest = tags[i][1];
        if (!digest) {
            bsn_http_respond(req, 404, "application/json", "{\"errors\":[]}", 13);
            return;
        }
        serve_file(req, digest, "application/vnd.oci.image.manifest.v1+json");
        return;
    }
    if (!strncmp(req->path, b, strlen(b))) {
        char loc[200];
        snprintf(loc, sizeof(loc), "/cdn/%s", req->path + strlen(b));
        bsn_http_req_add_header(req, "Location", loc);
        bsn_http_respond(req, 307, NULL, NULL, 0);
        return;
    }
    bsn_http_respond(req, 404, NULL, NULL, 0);
}

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;

static void *
server_main(void *arg)
{
    srv_loop = bsn_loop_new();
    struct bsn_http_server_opts o = {.listen = "127.0.0.1:0", .handler = handle};
    struct bsn_err err = {0};
    srv = bsn_http_server_new(srv_loop, &o, &err);
    pthread_mutex_lock(&mu);
    port = srv ? bsn_http_server_port(srv) : -1;
    pthread_cond_signal(&cv);
    pthread_mutex_unlock(&mu);
    if (srv)
        bsn_loop_run(srv_loop);
    bsn_http_server_free(srv);
    bsn_loop_free(srv_loop);
    return NULL;
}

static void
stop_loop(struct bsn_loop *loop, void *data)
{
    bsn_loop_stop(loop);
}

static void
put_json(json_t *j, char digest[72])
{
    char tmp[400];
    snprintf(tmp, sizeof(tmp), "%s/tmp.json", tmpdir);
    assert_int_equal(json_dump_file(j, tmp, JSON_COMPACT), 0);
    json_decref(j);
    assert_int_equal(bsn_file_digest(tmp, digest, NULL), 0);
    BSN_AUTOFREE char *dst = blob_file(digest);
    assert_int_equal(rename(tmp, dst), 0);
}

static int
setup(void **state)
{
    snprintf(tmpdir, sizeof(tmpdir), "/tmp/bsn-pull-%d-XXXXXX", (int)getpid());
    assert_non_null(mkdtemp(tmpdir));
    snprintf(blobs, sizeof(blobs), "%s/blobs", tmpdir);
    assert_int_equal(rt_mkdir_p(blobs, 0755), 0);
    /* One image: layer (etc/motd), config, manifest; an index; a manifest with a bad layer. */
    char src[300], p[400], ld[72], cd[72], md[72], idx[72], badm[72];
    snprintf(src, sizeof(src), "%s/src/etc", tmpdir);
    rt_mkdir_p(src, 0755);
    snprintf(p, sizeof(p), "%s/motd", src);
    rt_write_file(p, "pulled\n", 7, 0644);
    /* 3 MiB of incompressible bytes so the blob streams in many chunks */
    snprintf(p, sizeof(p), "%s/big.bin", src);
    size_t bigsz = 3u << 20;
    unsigned char *big = bsn_malloc(bigsz);
    uint32_t x = 12345;
    for (size_t i = 0; i < bigsz; i++) {
        x = x * 1103515245u + 12345u;
        big[i] = (unsigned char)(x >> 24);
    }
    rt_write_file(p, (const char *)big, bigsz, 0644);
    free(big);
    snprintf(src, sizeof(src), "%s/src", tmpdir);
    snprintf(p, sizeof(p), "%s/layer.tar", tmpdir);
    struct bsn_err err = {0};
    assert_int_equal(bsn_layer_pack(src, p, &err), 0);
    int64_t lsize;
    assert_int_equal(bsn_file_digest(p, ld, &lsize), 0);
    BSN_AUTOFREE char *ldst = blob_file(ld);
    assert_int_equal(rename(p, ldst), 0);
    put_json(json_pack("{s:s,s:s,s:{s:[s]},s:{s:s,s:[s]}}", "architecture", "amd64", "os", "linux",
                       "config", "Cmd", "/bin/pulled", "rootfs", "type", "layers", "diff_ids", ld),
             cd);
    put_json(json_pack("{s:i,s:s,s:{s:s,s:s,s:i},s:[{s:s,s:s,s:I}]}", "schemaVersion", 2,
                       "mediaType", "application/vnd.oci.image.manifest.v1+json", "config",
                       "mediaType", "application/vnd.oci.image.config.v1+json", "digest", cd,
                       "size", 100, "layers", "mediaType", "application/vnd.oci.image.layer.v1.tar",
                       "digest", ld, "size", (json_int_t)lsize),
             md);
    put_json(json_pack("{s:i,s:s,s:[{s:s,s:s,s:i,s:{s:s,s:s}},{s:s,s:s,s:i,s:{s:s,s:s}}]}",
                       "schemaVersion", 2, "mediaType", "application/vnd.oci.image.index.v1+json",
                       "manifests", "mediaType", "application/vnd.oci.image.manifest.v1+json",
                       "digest",
                       "sha256:1111111111111111111111111111111111111111111111111111111111111111",
                       "size", 1, "platform", "os", "linux", "architecture", "arm64", "mediaType",
                       "application/vnd.oci.image.manifest.v1+json", "digest", md, "size", 1,
                       "platform", "os", "linux", "architecture", "amd64"),
             idx);
    snprintf(bad_layer, sizeof(bad_layer),
             "sha256:2222222222222222222222222222222222222222222222222222222222222222");
    put_json(json_pack("{s:i,s:{s:s,s:s,s:i},s:[{s:s,s:s,s:i}]}", "schemaVersion", 2, "config",
                       "mediaType", "application/vnd.oci.image.config.v1+json", "digest", cd,
                       "size", 100, "layers", "mediaType", "application/vnd.oci.image.layer.v1.tar",
                       "digest", bad_layer, "size", 18),
             badm);
    snprintf(tags[0][0], 80, "1.0");
    snprintf(tags[0][1], 80, "%s", md);
    snprintf(tags[1][0], 80, "multi");
    snprintf(tags[1][1], 80, "%s", idx);
    snprintf(tags[2][0], 80, "bad");
    snprintf(tags[2][1], 80, "%s", badm);
    pthread_mutex_lock(&mu);
    port = 0;
    pthread_create(&srv_thread, NULL, server_main, NULL);
    while (port == 0)
        pthread_cond_wait(&cv, &mu);
    pthread_mutex_unlock(&mu);
    assert_true(port > 0);
    return 0;
}

static int
teardown(void **state)
{
    bsn_loop_post(srv_loop, stop_loop, NULL);
    pthread_join(srv_thread, NULL);
    rt_rm_rf(tmpdir);
    return 0;
}

static void
test_pull(void **state)
{
    char data[300];
    snprintf(data, sizeof(data), "%s/data", tmpdir);
    struct bsn_err err = {0};
    struct bsn_image_store *s = bsn_image_store_open(data, &err);
    struct bsn_registry_auth auth = {.username = "alice", .password = "secret"};
    char ref[200], name[512];
    snprintf(ref, sizeof(ref), "127.0.0.1:%d/team/app:1.0", port);
    if (bsn_image_pull(s, ref, &auth, name, sizeof(name), &err) < 0)
        fail_msg("pull: %s", err.msg);
    assert_string_equal(name, ref);
    assert_true(token_requests >= 1);
    struct bsn_image_config c;
    assert_int_equal(bsn_image_resolve(s, ref, &c, &err), 0);
    assert_string_equal(c.cmd[0], "/bin/pulled");
    assert_string_equal(c.digest, tags[0][1]);
    char p[600];
    snprintf(p, sizeof(p), "%s/etc/motd", c.layer_dirs[0]);
    BSN_AUTOFREE char *motd = rt_read_file(p, 100, NULL);
    assert_string_equal(motd, "pulled\n");
    snprintf(p, sizeof(p), "%s/etc/big.bin", c.layer_dirs[0]);
    struct stat bst;
    assert_int_equal(stat(p, &bst), 0);
    assert_int_equal(bst.st_size, 3 << 20);
    bsn_image_config_fini(&c);

    /* A multi-arch index resolves to the linux/amd64 manifest. */
    snprintf(ref, sizeof(ref), "127.0.0.1:%d/team/app:multi", port);
    assert_int_equal(bsn_image_pull(s, ref, &auth, NULL, 0, &err), 0);
    assert_int_equal(bsn_image_resolve(s, ref, &c, &err), 0);
    assert_string_equal(c.digest, tags[0][1]);
    bsn_image_config_fini(&c);

    /* By digest. */
    snprintf(ref, sizeof(ref), "127.0.0.1:%d/team/app@%s", port, tags[0][1]);
    assert_int_equal(bsn_image_pull(s, ref, &auth, name, sizeof(name), &err), 0);
    assert_string_equal(name, ref);

    /* A blob whose content does not match its digest. */
    snprintf(ref, sizeof(ref), "127.0.0.1:%d/team/app:bad", port);
    assert_int_equal(bsn_image_pull(s, ref, &auth, NULL, 0, &err), -1);
    assert_non_null(strstr(err.msg, "digest mismatch"));
    assert_int_equal(bsn_image_resolve(s, ref, &c, &err), -1);

    /* Unknown tag, then no credentials. */
    memset(&err, 0, sizeof(err));
    snprintf(ref, sizeof(ref), "127.0.0.1:%d/team/app:nope", port);
    assert_int_equal(bsn_image_pull(s, ref, &auth, NULL, 0, &err), -1);
    assert_int_equal(err.code, 404);
    snprintf(ref, sizeof(ref), "127.0.0.1:%d/team/app:1.0", port);
    assert_int_equal(bsn_image_pull(s, ref, NULL, NULL, 0, &err), -1);
    assert_int_equal(err.code, 401);

    /* The mirror option sends any registry name to our server. */
    struct bsn_registry_auth mir = auth;
    char base[64];
    snprintf(base, sizeof(base), "http://127.0.0.1:%d/", port);
    mir.mirror = base;
    assert_int_equal(bsn_image_pull(s, "example.org/team/app:1.0", &mir, name, sizeof(name), &err),
                     0);
    assert_string_equal(name, "example.org/team/app:1.0");
    bsn_image_store_close(s);
}

static void
test_ensure(void **state)
{
    char data[300], ref[200];
    snprintf(data, sizeof(data), "%s/data3", tmpdir);
    struct bsn_err err = {0};
    struct bsn_image_store *s = bsn_image_store_open(data, &err);
    struct bsn_registry_auth auth = {.username = "alice", .password = "secret"};
    snprintf(ref, sizeof(ref), "127.0.0.1:%d/team/app:1.0", port);
    /* Never: missing is an error, nothing is fetched. */
    int before = manifest_requests;
    assert_int_equal(bsn_image_ensure(s, ref, BSN_PULL_NEVER, &auth, &err), -1);
    assert_string_equal(err.reason, "ErrImageNeverPull");
    assert_int_equal(manifest_requests, before);
    /* IfNotPresent pulls once, then uses the store. */
    assert_int_equal(bsn_image_ensure(s, ref, BSN_PULL_IF_NOT_PRESENT, &auth, &err), 0);
    int after_first = manifest_requests;
    assert_true(after_first > before);
    assert_int_equal(bsn_image_ensure(s, ref, BSN_PULL_IF_NOT_PRESENT, &auth, &err), 0);
    assert_int_equal(bsn_image_ensure(s, ref, BSN_PULL_NEVER, &auth, &err), 0);
    assert_int_equal(manifest_requests, after_first);
    /* Always asks the registry again. */
    assert_int_equal(bsn_image_ensure(s, ref, BSN_PULL_ALWAYS, &auth, &err), 0);
    assert_true(manifest_requests > after_first);
    assert_int_equal(bsn_image_ensure(s, "host", BSN_PULL_NEVER, NULL, &err), 0);
    /* Defaults and parsing follow Kubernetes. */
    assert_int_equal(bsn_image_default_policy("busybox"), BSN_PULL_ALWAYS);
    assert_int_equal(bsn_image_default_policy("busybox:latest"), BSN_PULL_ALWAYS);
    assert_int_equal(bsn_image_default_policy("busybox:1.36"), BSN_PULL_IF_NOT_PRESENT);
    enum bsn_pull_policy p;
    assert_int_equal(bsn_image_parse_policy("Never", "x", &p), 0);
    assert_int_equal(p, BSN_PULL_NEVER);
    assert_int_equal(bsn_image_parse_policy(NULL, "x:2", &p), 0);
    assert_int_equal(p, BSN_PULL_IF_NOT_PRESENT);
    assert_int_equal(bsn_image_parse_policy("Sometimes", "x", &p), -1);
    bsn_image_store_close(s);
}

static int async_rc = 1;

static void
pulled(void *data, int rc, const struct bsn_err *err)
{
    async_rc = rc;
    bsn_loop_stop(data);
}

static void
test_pull_async(void **state)
{
    char data[300];
    snprintf(data, sizeof(data), "%s/data2", tmpdir);
    struct bsn_err err = {0};
    struct bsn_image_store *s = bsn_image_store_open(data, &err);
    struct bsn_loop *loop = bsn_loop_new();
    char ref[200];
    snprintf(ref, sizeof(ref), "127.0.0.1:%d/team/app:multi", port);
    char user[] = "alice", pass[] = "secret";
    struct bsn_registry_auth auth = {.username = user, .password = pass};
    assert_int_equal(bsn_image_pull_async(s, loop, ref, &auth, pulled, loop), 0);
    user[0] = pass[0] = 'X'; /* the job has its own copies */
    bsn_loop_run(loop);
    assert_int_equal(async_rc, 0);
    struct bsn_image_config c;
    assert_int_equal(bsn_image_resolve(s, ref, &c, &err), 0);
    bsn_image_config_fini(&c);
    bsn_loop_free(loop);
    bsn_image_store_close(s);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pull),
        cmocka_unit_test(test_pull_async),
        cmocka_unit_test(test_ensure),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
