/*
 * jobpolicy.h - a Job's podFailurePolicy (batch/v1) against one failed pod: the first rule
 * whose onExitCodes (a container's non-zero exit code In / NotIn the values, optionally only
 * for containerName) or onPodConditions (a condition of that type with that status) matches
 * decides the action. Pure; used by job.c, unit-tested.
 */
#ifndef BSN_CONTROLLERS_JOBPOLICY_H
#define BSN_CONTROLLERS_JOBPOLICY_H

#include <jansson.h>
#include <stddef.h>

enum bsn_pfp_action {
    BSN_PFP_COUNT,     /* no rule matched, or Count: counts towards backoffLimit */
    BSN_PFP_IGNORE,    /* not counted; the pod is replaced */
    BSN_PFP_FAIL_JOB,  /* the Job fails at once (reason PodFailurePolicy) */
    BSN_PFP_FAIL_INDEX /* an Indexed Job's index fails and is not retried */
};

/* The action for pod; msg gets upstream's message for FailJob ("Container c for pod ns/p
 * failed with exit code 3 matching FailJob rule at index 0"). */
enum bsn_pfp_action bsn_pfp_action(const json_t *policy, const json_t *pod, char *msg, size_t n);

#endif
