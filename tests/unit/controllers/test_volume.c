/*
 * test_volume.c - table-driven tests of PV/PVC binding decisions, the local-path volume, and
 * the scheduler's claim states and volume node affinity.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "codec/json.h"
#include "controllers/volume.h"
#include "scheduler/volumes.h"

static json_t *
J(const char *s)
{
    struct bsn_err err;
    json_t *j = bsn_json_parse(s, strlen(s), &err);
    assert_non_null(j);
    return j;
}

static json_t *
pv(const char *name, const char *size, const char *cls, const char *modes, const char *extra)
{
    char buf[2048];
    snprintf(buf, sizeof(buf),
             "{\"metadata\":{\"name\":\"%s\",\"labels\":{\"tier\":\"%s\"}},\"spec\":{\"capacity\":"
             "{\"storage\":\"%s\"},\"storageClassName\":\"%s\",\"accessModes\":%s%s},"
             "\"status\":{\"phase\":\"Available\"}}",
             name, name, size, cls, modes, extra ? extra : "");
    return J(buf);
}

static json_t *
claim(const char *size, const char *cls, const char *modes, const char *extra)
{
    char buf[2048];
    snprintf(buf, sizeof(buf),
             "{\"metadata\":{\"name\":\"c\",\"namespace\":\"ns\",\"uid\":\"u1\"},\"spec\":{"
             "\"storageClassName\":\"%s\",\"accessModes\":%s,\"resources\":{\"requests\":{"
             "\"storage\":\"%s\"}}%s}}",
             cls, modes, size, extra ? extra : "");
    return J(buf);
}

static void
test_find_best(void **state)
{
    const char *rwo = "[\"ReadWriteOnce\"]";
    json_t *pvs[] = {
        pv("small", "1Gi", "fast", rwo, NULL),
        pv("mid", "5Gi", "fast", rwo, NULL),
        pv("big", "10Gi", "fast", rwo, NULL),
        pv("rox", "3Gi", "fast", "[\"ReadOnlyMany\"]", NULL),
        pv("slow", "3Gi", "slow", rwo, NULL),
        pv("taken", "3Gi", "fast", rwo,
           ",\"claimRef\":{\"namespace\":\"ns\",\"name\":\"other\",\"uid\":\"u9\"}"),
        pv("pinned", "20Gi", "fast", rwo,
           ",\"nodeAffinity\":{\"required\":{\"nodeSelectorTerms\":[{\"matchExpressions\":[{"
           "\"key\":\"kubernetes.io/hostname\",\"operator\":\"In\",\"values\":[\"n2\"]}]}]}}"),
    };
    size_t n = sizeof(pvs) / sizeof(pvs[0]);
    struct {
        const char *size, *cls, *modes, *extra, *node, *want;
    } cases[] = {
        {"2Gi", "fast", rwo, NULL, NULL, "mid"},   /* smallest that fits */
        {"1Gi", "fast", rwo, NULL, NULL, "small"}, /* exact fit */
        {"3Gi", "slow", rwo, NULL, NULL, "slow"},  /* by class */
        {"3Gi", "fast", "[\"ReadOnlyMany\"]", NULL, NULL, "rox"},
        {"3Gi", "fast", "[\"ReadWriteMany\"]", NULL, NULL, NULL}, /* no mode offered */
        {"11Gi", "fast", rwo, NULL, NULL, "pinned"},              /* only the pinned one is large */
        {"11Gi", "fast", rwo, NULL, "n1", NULL},                  /* ... but not on n1 */
        {"11Gi", "fast", rwo, NULL, "n2", "pinned"},
        {"50Gi", "fast", rwo, NULL, NULL, NULL},                      /* too large */
        {"1Gi", "fast", rwo, ",\"volumeName\":\"big\"", NULL, "big"}, /* pre-bound by name */
        {"1Gi", "fast", rwo, ",\"volumeName\":\"taken\"", NULL, NULL},
        {"2Gi", "fast", rwo, ",\"selector\":{\"matchLabels\":{\"tier\":\"big\"}}", NULL, "big"},
        {"1Gi", "", rwo, NULL, NULL, NULL}, /* no class: only class-less volumes */
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        json_t *c = claim(cases[i].size, cases[i].cls, cases[i].modes, cases[i].extra);
        json_t *got = bsn_pv_find_best(c, pvs, n, cases[i].node);
        if (!cases[i].want)
            assert_null(got);
        else {
            assert_non_null(got);
            assert_string_equal(bsn_json_str(got, "metadata.name"), cases[i].want);
        }
        json_decref(c);
    }
    /* a volume whose claimRef names the claim (by uid) wins over a smaller one */
    json_t *mine = pv("mine", "10Gi", "fast", rwo,
                      ",\"claimRef\":{\"namespace\":\"ns\",\"name\":\"c\",\"uid\":\"u1\"}");
    json_t *two[] = {pvs[0], mine};
    json_t *c = claim("1Gi", "fast", rwo, NULL);
    assert_ptr_equal(bsn_pv_find_best(c, two, 2, NULL), mine);
    json_decref(c);
    json_decref(mine);
    for (size_t i = 0; i < n; i++)
        json_decref(pvs[i]);
}

static void
test_want_phase(void **state)
{
    json_t *c = claim("1Gi", "x", "[\"ReadWriteOnce\"]", ",\"volumeName\":\"v\"");
    json_t *other = claim("1Gi", "x", "[\"ReadWriteOnce\"]", NULL);
    json_object_set_new(json_object_get(other, "metadata"), "uid", json_string("u2"));
    json_t *free_pv = J("{\"metadata\":{\"name\":\"v\"},\"spec\":{}}");
    json_t *bound = J("{\"metadata\":{\"name\":\"v\"},\"spec\":{\"claimRef\":{\"namespace\":"
                      "\"ns\",\"name\":\"c\",\"uid\":\"u1\"}}}");
    json_t *prebound = J("{\"metadata\":{\"name\":\"v\"},\"spec\":{\"claimRef\":{\"namespace\":"
                         "\"ns\",\"name\":\"c\"}}}");
    assert_string_equal(bsn_pv_want_phase(free_pv, NULL), "Available");
    assert_string_equal(bsn_pv_want_phase(bound, c), "Bound");
    assert_string_equal(bsn_pv_want_phase(bound, NULL), "Released");
    assert_string_equal(bsn_pv_want_phase(bound, other), "Released"); /* re-created claim */
    assert_string_equal(bsn_pv_want_phase(prebound, NULL), "Available");
    assert_string_equal(bsn_pv_want_phase(prebound, c), "Bound");
    json_decref(c);
    json_decref(other);
    json_decref(free_pv);
    json_decref(bound);
    json_decref(prebound);
}

static void
test_localpath(void **state)
{
    json_t *c = claim("2Gi", "local-path", "[\"ReadWriteOnce\"]", NULL);
    json_t *sc = J("{\"metadata\":{\"name\":\"local-path\"},\"reclaimPolicy\":\"Retain\"}");
    json_t *v = bsn_localpath_pv(c, sc, "node-a", "/data/storage");
    assert_string_equal(bsn_json_str(v, "metadata.name"), "pvc-u1");
    assert_string_equal(bsn_json_str(v, "spec.hostPath.path"), "/data/storage/pvc-u1_ns_c");
    assert_string_equal(bsn_json_str(v, "spec.hostPath.type"), "DirectoryOrCreate");
    assert_string_equal(bsn_json_str(v, "spec.capacity.storage"), "2Gi");
    assert_string_equal(bsn_json_str(v, "spec.persistentVolumeReclaimPolicy"), "Retain");
    assert_string_equal(bsn_json_str(v, "spec.storageClassName"), "local-path");
    assert_string_equal(bsn_json_str(v, "spec.claimRef.uid"), "u1");
    /* it binds to its claim on its node only */
    assert_true(bsn_pv_matches(c, v, "node-a"));
    assert_false(bsn_pv_matches(c, v, "node-b"));
    json_t *labels = J("{\"kubernetes.io/hostname\":\"node-a\"}");
    assert_true(bsn_sched_pv_admits(v, labels, "node-a"));
    json_object_set_new(labels, "kubernetes.io/hostname", json_string("node-b"));
    assert_false(bsn_sched_pv_admits(v, labels, "node-b"));
    json_decref(labels);
    json_decref(v);
    /* default reclaim policy is Delete */
    json_object_del(sc, "reclaimPolicy");
    v = bsn_localpath_pv(c, sc, "node-a", "/data/storage");
    assert_string_equal(bsn_json_str(v, "spec.persistentVolumeReclaimPolicy"), "Delete");
    json_decref(v);
    json_decref(sc);
    json_decref(c);
}

static void
test_localpath_remove(void **state)
{
    char base[] = "/tmp/bsn-lp-XXXXXX";
    assert_non_null(mkdtemp(base));
    char dir[256], file[300], sub[300];
    snprintf(dir, sizeof(dir), "%s/pvc-1_ns_c", base);
    snprintf(sub, sizeof(sub), "%s/sub", dir);
    snprintf(file, sizeof(file), "%s/f", sub);
    assert_int_equal(mkdir(dir, 0700), 0);
    assert_int_equal(mkdir(sub, 0700), 0);
    FILE *f = fopen(file, "w");
    assert_non_null(f);
    fclose(f);
    /* refused outside the base or without the pvc- prefix */
    assert_int_equal(bsn_localpath_remove("/nonexistent", dir), -1);
    assert_int_equal(bsn_localpath_remove(base, base), -1);
    char bad[300];
    snprintf(bad, sizeof(bad), "%s/../x", base);
    assert_int_equal(bsn_localpath_remove(base, bad), -1);
    assert_int_equal(access(file, F_OK), 0);
    assert_int_equal(bsn_localpath_remove(base, dir), 0);
    assert_int_equal(access(dir, F_OK), -1);
    assert_int_equal(bsn_localpath_remove(base, dir), 0); /* already gone */
    rmdir(base);
}

static void
test_claim_state(void **state)
{
    json_t *wffc = J("{\"volumeBindingMode\":\"WaitForFirstConsumer\",\"provisioner\":\"p\"}");
    json_t *imm = J("{\"volumeBindingMode\":\"Immediate\"}");
    json_t *unbound = claim("1Gi", "x", "[]", NULL);
    json_t *bound = claim("1Gi", "x", "[]", ",\"volumeName\":\"v\"");
    json_t *selected = claim("1Gi", "x", "[]", NULL);
    json_object_set_new(json_object_get(selected, "metadata"), "annotations",
                        json_pack("{s:s}", BSN_SELECTED_NODE_ANN, "n1"));
    json_t *deleting = claim("1Gi", "x", "[]", NULL);
    json_object_set_new(json_object_get(deleting, "metadata"), "deletionTimestamp",
                        json_string("2026-01-01T00:00:00Z"));
    assert_int_equal(bsn_sched_claim_state(NULL, NULL), BSN_CLAIM_MISSING);
    assert_int_equal(bsn_sched_claim_state(deleting, wffc), BSN_CLAIM_MISSING);
    assert_int_equal(bsn_sched_claim_state(bound, wffc), BSN_CLAIM_BOUND);
    assert_int_equal(bsn_sched_claim_state(unbound, imm), BSN_CLAIM_IMMEDIATE);
    assert_int_equal(bsn_sched_claim_state(unbound, NULL), BSN_CLAIM_IMMEDIATE);
    assert_int_equal(bsn_sched_claim_state(unbound, wffc), BSN_CLAIM_WAIT);
    assert_int_equal(bsn_sched_claim_state(selected, wffc), BSN_CLAIM_SELECTED);
    json_decref(wffc);
    json_decref(imm);
    json_decref(unbound);
    json_decref(bound);
    json_decref(selected);
    json_decref(deleting);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_find_best),   cmocka_unit_test(test_want_phase),
        cmocka_unit_test(test_localpath),   cmocka_unit_test(test_localpath_remove),
        cmocka_unit_test(test_claim_state),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
