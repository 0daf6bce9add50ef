/*
 * test_jobpolicy.c - table-driven tests of a Job's podFailurePolicy decision (jobpolicy.h).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "codec/json.h"
#include "controllers/jobpolicy.h"

static json_t *
J(const char *s)
{
    struct bsn_err err;
    json_t *j = bsn_json_parse(s, strlen(s), &err);
    assert_non_null(j);
    return j;
}

static void
test_actions(void **state)
{
    json_t *pod = J("{\"metadata\":{\"name\":\"p\",\"namespace\":\"ns\"},\"status\":{"
                    "\"conditions\":[{\"type\":\"DisruptionTarget\",\"status\":\"True\"}],"
                    "\"containerStatuses\":[{\"name\":\"side\",\"state\":{\"terminated\":{"
                    "\"exitCode\":0}}},{\"name\":\"main\",\"state\":{\"terminated\":{"
                    "\"exitCode\":42}}}]}}");
    struct {
        const char *rules;
        enum bsn_pfp_action want;
        const char *msg;
    } cases[] = {
        {"[]", BSN_PFP_COUNT, ""},
        {"[{\"action\":\"FailJob\",\"onExitCodes\":{\"operator\":\"In\",\"values\":[42]}}]",
         BSN_PFP_FAIL_JOB,
         "Container main for pod ns/p failed with exit code 42 matching FailJob rule at index 0"},
        {"[{\"action\":\"FailJob\",\"onExitCodes\":{\"operator\":\"In\",\"values\":[1]}}]",
         BSN_PFP_COUNT, ""},
        /* NotIn never matches exit code 0 (the sidecar) */
        {"[{\"action\":\"Ignore\",\"onExitCodes\":{\"operator\":\"NotIn\",\"values\":[42]}}]",
         BSN_PFP_COUNT, ""},
        {"[{\"action\":\"Ignore\",\"onExitCodes\":{\"operator\":\"NotIn\",\"values\":[1]}}]",
         BSN_PFP_IGNORE, NULL},
        /* containerName restricts the match */
        {"[{\"action\":\"FailJob\",\"onExitCodes\":{\"containerName\":\"side\",\"operator\":"
         "\"In\",\"values\":[42]}}]",
         BSN_PFP_COUNT, ""},
        /* the first matching rule wins */
        {"[{\"action\":\"Count\",\"onPodConditions\":[{\"type\":\"Other\"}]},"
         "{\"action\":\"Ignore\",\"onPodConditions\":[{\"type\":\"DisruptionTarget\"}]},"
         "{\"action\":\"FailJob\",\"onExitCodes\":{\"operator\":\"In\",\"values\":[42]}}]",
         BSN_PFP_IGNORE, "Pod ns/p has condition DisruptionTarget matching Ignore rule at index 1"},
        {"[{\"action\":\"FailIndex\",\"onPodConditions\":[{\"type\":\"DisruptionTarget\","
         "\"status\":\"False\"}]}]",
         BSN_PFP_COUNT, ""},
        {"[{\"action\":\"FailIndex\",\"onExitCodes\":{\"operator\":\"In\",\"values\":[7,42]}}]",
         BSN_PFP_FAIL_INDEX, NULL},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        json_t *policy = json_pack("{s:o}", "rules", J(cases[i].rules));
        char msg[300] = "";
        assert_int_equal(bsn_pfp_action(policy, pod, msg, sizeof(msg)), cases[i].want);
        if (cases[i].msg)
            assert_string_equal(msg, cases[i].msg);
        json_decref(policy);
    }
    json_decref(pod);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_actions)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
