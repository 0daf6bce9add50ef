/*
 * test_kinds_fixtures.c - every manifest in the Kubernetes documentation examples
 * (BSN_K8S_FIXTURES, default /work/shared/fixtures/k8s-examples) goes through its kind's
 * prepare_create + defaults + validate as the API server would run them and must be accepted,
 * and must print a full Table row. Known-bad historical variants must be rejected.
 */
#include "kinds_test.h"

#include <ftw.h>
#include <sys/stat.h>

#include "codec/yaml.h"

static int nchecked, nfiles, nunserved;

static const struct bsn_resource *
resource_of(const json_t *obj)
{
    const char *api = kj_str(obj, "apiVersion"), *kind = kj_str(obj, "kind");
    if (!api || !kind)
        return NULL;
    char group[128] = "";
    const char *version = api, *slash = strchr(api, '/');
    if (slash) {
        snprintf(group, sizeof(group), "%.*s", (int)(slash - api), api);
        version = slash + 1;
    }
    return bsn_registry_find_kind(group, version, kind);
}

/* Checks one object; returns the validate rc and leaves causes in err. */
static int
check_object(json_t *obj, struct bsn_err *err)
{
    const struct bsn_resource *r = resource_of(obj);
    if (!r)
        fail_msg("no resource for %s %s", kj_str_or(obj, "apiVersion", "?"),
                 kj_str_or(obj, "kind", "?"));
    json_t *md = kj_obj(obj, "metadata");
    kj_def_str(md, "uid", "0b8f1f6e-1111-2222-3333-444455556666");
    if (r->namespaced)
        kj_def_str(md, "namespace", "default");
    kj_def_str(md, "creationTimestamp", "2024-01-01T00:00:00Z");
    int rc = create_check(r->strategy, obj, err);
    json_t *cells = row_of(r->strategy, obj);
    json_decref(cells);
    nchecked++;
    if (rc == 0) {
        /* defaulting is idempotent, and an unchanged update (kubectl apply again, a status
         * write) validates */
        const struct bsn_strategy *st = r->strategy;
        json_t *again = json_deep_copy(obj);
        if (st->prepare_update)
            st->prepare_update(again, obj);
        if (st->defaults)
            st->defaults(again);
        if (!json_equal(again, obj)) {
            char *a = json_dumps(again, JSON_SORT_KEYS), *b = json_dumps(obj, JSON_SORT_KEYS);
            fprintf(stderr, "after update:\n%s\nbefore:\n%s\n", a, b);
            free(a);
            free(b);
            fail_msg("%s: defaults/prepare_update not idempotent", kj_str_or(obj, "kind", "?"));
        }
        struct bsn_err uerr;
        bsn_err_clear(&uerr);
        if (st->validate && st->validate(again, obj, &uerr) != 0) {
            dump_causes(&uerr);
            fail_msg("%s: unchanged update rejected", kj_str_or(obj, "kind", "?"));
        }
        if (st->prepare_status_update) {
            st->prepare_status_update(again, obj);
            assert_true(json_equal(again, obj));
        }
        json_decref(again);
    }
    return rc;
}

static json_t *
load(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    char *data = NULL;
    size_t len = 0;
    FILE *mem = open_memstream(&data, &len);
    char buf[4096];
    size_t n;
    while ((n = fread(buf, 1, sizeof(buf), f)) > 0)
        fwrite(buf, 1, n, mem);
    fclose(f);
    fclose(mem);
    struct bsn_err err;
    bsn_err_clear(&err);
    json_t *docs = bsn_yaml_parse(data, len, &err);
    free(data);
    if (!docs)
        fail_msg("%s: %s", path, err.msg);
    return docs;
}

static int
visit(const char *path, const struct stat *sb, int type, struct FTW *ftw)
{
    size_t l = strlen(path);
    if (type != FTW_F || l < 5 || strcmp(path + l - 5, ".yaml") != 0)
        return 0;
    if (strstr(path, "/_historical/"))
        return 0;
    json_t *docs = load(path);
    size_t i;
    json_t *obj;
    json_array_foreach(docs, i, obj)
    {
        struct bsn_err err;
        if (!resource_of(obj)) {
            /* removed upstream too (batch/v1beta1 CronJob): kubectl gets "no matches for kind" */
            assert_string_equal(kj_str(obj, "apiVersion"), "batch/v1beta1");
            nunserved++;
            continue;
        }
        if (check_object(obj, &err) != 0) {
            dump_causes(&err);
            fail_msg("%s: document %zu rejected", path, i);
        }
    }
    nfiles++;
    json_decref(docs);
    return 0;
}

static const char *
fixtures_dir(void)
{
    const char *d = getenv("BSN_K8S_FIXTURES");
    return d && *d ? d : "/work/shared/fixtures/k8s-examples";
}

static void
test_examples_validate(void **state)
{
    struct stat st;
    if (stat(fixtures_dir(), &st) != 0)
        skip();
    nchecked = nfiles = nunserved = 0;
    assert_int_equal(nftw(fixtures_dir(), visit, 16, FTW_PHYS), 0);
    assert_true(nfiles >= 50);
    assert_true(nchecked >= nfiles - nunserved);
    assert_int_equal(nunserved, 1);
}

static void
test_example_defaults(void **state)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/controllers/nginx-deployment.yaml", fixtures_dir());
    json_t *docs = load(path);
    if (!docs)
        skip();
    json_t *d = json_array_get(docs, 0);
    struct bsn_err err;
    assert_int_equal(check_object(d, &err), 0);
    assert_int_equal(kj_int(d, "spec.replicas", 0), 3);
    assert_string_equal(kj_str(d, "spec.strategy.rollingUpdate.maxSurge"), "25%");
    const json_t *c = json_array_get(kj_get(d, "spec.template.spec.containers"), 0);
    assert_string_equal(kj_str(c, "imagePullPolicy"), "IfNotPresent");
    assert_string_equal(kj_str(json_array_get(kj_get(c, "ports"), 0), "protocol"), "TCP");
    json_decref(docs);

    snprintf(path, sizeof(path), "%s/controllers/job.yaml", fixtures_dir());
    docs = load(path);
    d = json_array_get(docs, 0);
    assert_int_equal(check_object(d, &err), 0);
    assert_string_equal(json_string_value(json_object_get(kj_get(d, "spec.selector.matchLabels"),
                                                          "batch.kubernetes.io/controller-uid")),
                        "0b8f1f6e-1111-2222-3333-444455556666");
    json_decref(docs);
}

static void
test_historical_typo_rejected(void **state)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/_historical/pods/probe/grpc-liveness.gRPC-typo.yaml",
             fixtures_dir());
    json_t *docs = load(path);
    if (!docs)
        skip();
    struct bsn_err err;
    assert_int_equal(check_object(json_array_get(docs, 0), &err), -1);
    assert_cause(&err, "spec.containers[0].livenessProbe",
                 "Required value: must specify a handler type");
    json_decref(docs);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_examples_validate),
        cmocka_unit_test(test_example_defaults),
        cmocka_unit_test(test_historical_typo_rejected),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
