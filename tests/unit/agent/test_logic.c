/*
 * test_logic.c - the agent's pure rules: $(VAR) expansion, restart back-off, pod phase from
 * container states, probe thresholds, CRI log line parsing.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "agent/logic.h"

static const char *
lookup(const char *name, size_t len, void *data)
{
    (void)data;
    if (len == 3 && !strncmp(name, "FOO", 3))
        return "foo";
    if (len == 4 && !strncmp(name, "PORT", 4))
        return "8080";
    return NULL;
}

static void
expect_expand(const char *in, const char *want)
{
    char *got = bsn_agent_expand(in, lookup, NULL);
    assert_string_equal(got, want);
    free(got);
}

static void
test_expand(void **state)
{
    (void)state;
    expect_expand("plain", "plain");
    expect_expand("$(FOO)", "foo");
    expect_expand("a-$(FOO)-$(PORT)", "a-foo-8080");
    expect_expand("$(MISSING)", "$(MISSING)"); /* unknown stays as written */
    expect_expand("$$(FOO)", "$(FOO)");        /* escaped */
    expect_expand("$$$(FOO)", "$foo");
    expect_expand("cost $5", "cost $5"); /* lone $ kept */
    expect_expand("$(FOO", "$(FOO");     /* unterminated */
    expect_expand("", "");
    expect_expand("end$", "end$");
}

static void
test_backoff(void **state)
{
    (void)state;
    assert_int_equal(bsn_agent_backoff_next(0), 10000);
    assert_int_equal(bsn_agent_backoff_next(10000), 20000);
    assert_int_equal(bsn_agent_backoff_next(20000), 40000);
    assert_int_equal(bsn_agent_backoff_next(160000), 300000);
    assert_int_equal(bsn_agent_backoff_next(300000), 300000);
    assert_true(bsn_agent_should_restart("Always", 0));
    assert_true(bsn_agent_should_restart(NULL, 1));
    assert_true(bsn_agent_should_restart("OnFailure", 1));
    assert_false(bsn_agent_should_restart("OnFailure", 0));
    assert_false(bsn_agent_should_restart("Never", 1));
}

static void
test_phase(void **state)
{
    (void)state;
    struct bsn_ctr_summary run = {BSN_CS_RUNNING, 0, false};
    struct bsn_ctr_summary wait = {BSN_CS_WAITING, 0, false};
    struct bsn_ctr_summary crash = {BSN_CS_WAITING, 0, true};
    struct bsn_ctr_summary ok = {BSN_CS_TERMINATED, 0, false};
    struct bsn_ctr_summary bad = {BSN_CS_TERMINATED, 1, false};
    struct bsn_ctr_summary two[2];

    assert_string_equal(bsn_agent_pod_phase("Always", true, false, &run, 1), "Pending");
    assert_string_equal(bsn_agent_pod_phase("Never", false, true, &wait, 1), "Failed");
    assert_string_equal(bsn_agent_pod_phase("Always", false, false, &wait, 1), "Pending");
    assert_string_equal(bsn_agent_pod_phase("Always", false, false, &run, 1), "Running");
    /* a crash-looping container keeps the pod Running */
    assert_string_equal(bsn_agent_pod_phase("Always", false, false, &crash, 1), "Running");
    assert_string_equal(bsn_agent_pod_phase("Always", false, false, &ok, 1), "Running");
    assert_string_equal(bsn_agent_pod_phase("Never", false, false, &ok, 1), "Succeeded");
    assert_string_equal(bsn_agent_pod_phase("OnFailure", false, false, &ok, 1), "Succeeded");
    assert_string_equal(bsn_agent_pod_phase("Never", false, false, &bad, 1), "Failed");
    assert_string_equal(bsn_agent_pod_phase("OnFailure", false, false, &bad, 1), "Running");
    two[0] = ok;
    two[1] = bad;
    assert_string_equal(bsn_agent_pod_phase("Never", false, false, two, 2), "Failed");
    two[1] = run;
    assert_string_equal(bsn_agent_pod_phase("Never", false, false, two, 2), "Running");
    two[1] = wait;
    assert_string_equal(bsn_agent_pod_phase("Never", false, false, two, 2), "Pending");
}

static void
test_probe(void **state)
{
    (void)state;
    struct bsn_probe_counter p = {0, 0, BSN_PROBE_UNKNOWN};
    /* failureThreshold 3: two failures change nothing */
    assert_false(bsn_probe_record(&p, false, 1, 3));
    assert_false(bsn_probe_record(&p, false, 1, 3));
    assert_int_equal(p.result, BSN_PROBE_UNKNOWN);
    assert_true(bsn_probe_record(&p, false, 1, 3));
    assert_int_equal(p.result, BSN_PROBE_FAILURE);
    /* successThreshold 2: one success is not enough, a failure resets the count */
    assert_false(bsn_probe_record(&p, true, 2, 3));
    assert_false(bsn_probe_record(&p, false, 2, 3));
    assert_false(bsn_probe_record(&p, true, 2, 3));
    assert_true(bsn_probe_record(&p, true, 2, 3));
    assert_int_equal(p.result, BSN_PROBE_SUCCESS);
    assert_false(bsn_probe_record(&p, true, 2, 3));
    /* thresholds below 1 act as 1 */
    struct bsn_probe_counter q = {0, 0, BSN_PROBE_UNKNOWN};
    assert_true(bsn_probe_record(&q, true, 0, 0));
    assert_true(bsn_probe_record(&q, false, 0, 0));
}

static void
test_cri(void **state)
{
    (void)state;
    const char *line = "2026-11-21T05:46:40.219834512Z stdout F hello world";
    const char *ts, *msg;
    size_t tslen, msglen;
    bool partial;
    assert_int_equal(bsn_agent_cri_parse(line, strlen(line), &ts, &tslen, &msg, &msglen, &partial),
                     0);
    assert_int_equal(tslen, strlen("2026-11-21T05:46:40.219834512Z"));
    assert_int_equal(msglen, strlen("hello world"));
    assert_memory_equal(msg, "hello world", msglen);
    assert_false(partial);
    const char *p2 = "2026-11-21T05:46:40Z stderr P part";
    assert_int_equal(bsn_agent_cri_parse(p2, strlen(p2), &ts, &tslen, &msg, &msglen, &partial), 0);
    assert_true(partial);
    const char *empty = "2026-11-21T05:46:40Z stdout F";
    assert_int_equal(
        bsn_agent_cri_parse(empty, strlen(empty), &ts, &tslen, &msg, &msglen, &partial), 0);
    assert_int_equal(msglen, 0);
    const char *bad = "garbage";
    assert_int_equal(bsn_agent_cri_parse(bad, strlen(bad), &ts, &tslen, &msg, &msglen, &partial),
                     -1);
    const char *bad2 = "ts stdout X msg";
    assert_int_equal(bsn_agent_cri_parse(bad2, strlen(bad2), &ts, &tslen, &msg, &msglen, &partial),
                     -1);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_expand), cmocka_unit_test(test_backoff), cmocka_unit_test(test_phase),
        cmocka_unit_test(test_probe),  cmocka_unit_test(test_cri),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
