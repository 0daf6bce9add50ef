/*
 * logic.h - the pure parts of the agent, unit-tested without a loop or an API server:
 * `$(VAR)` expansion, restart back-off, pod phase from container states, probe thresholds.
 */
#ifndef BSN_AGENT_LOGIC_H
#define BSN_AGENT_LOGIC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * Kubernetes' variable expansion (command, args, env values): "$(NAME)" becomes the value of
 * NAME when lookup knows it and stays as written otherwise; "$$" is an escaped "$"; any other
 * "$" is kept. lookup returns NULL for unknown names. Returns a heap string.
 */
typedef const char *(*bsn_agent_lookup_fn)(const char *name, size_t len, void *data);
char *bsn_agent_expand(const char *in, bsn_agent_lookup_fn lookup, void *data);

/* Restart back-off: the delay before the next restart after one at delay cur_ms: 0 -> 10 s,
 * then doubling up to 5 min. */
#define BSN_AGENT_BACKOFF_INITIAL_MS 10000
#define BSN_AGENT_BACKOFF_MAX_MS     300000
/* A container that ran this long before exiting starts over at no back-off. */
#define BSN_AGENT_BACKOFF_RESET_MS 600000
int64_t bsn_agent_backoff_next(int64_t cur_ms);

/* Whether restartPolicy ("Always", "OnFailure", "Never"; NULL = Always) restarts a container
 * that exited with exit_code. */
bool bsn_agent_should_restart(const char *policy, int exit_code);

/* A container as the phase computation sees it (kubelet's getPhase). */
enum bsn_ctr_phase_state { BSN_CS_WAITING, BSN_CS_RUNNING, BSN_CS_TERMINATED };
struct bsn_ctr_summary {
    enum bsn_ctr_phase_state state;
    int exit_code;        /* when terminated */
    bool last_terminated; /* waiting with a terminated lastState (crash loop) */
};
/*
 * The pod phase: init_pending when some init container has not yet succeeded, init_failed
 * when one failed for good (restartPolicy Never). Returns "Pending", "Running", "Succeeded"
 * or "Failed".
 */
const char *bsn_agent_pod_phase(const char *policy, bool init_pending, bool init_failed,
                                const struct bsn_ctr_summary *c, size_t n);

/* Probe result bookkeeping: consecutive successes / failures against the thresholds. */
enum bsn_probe_result { BSN_PROBE_UNKNOWN = -1, BSN_PROBE_FAILURE = 0, BSN_PROBE_SUCCESS = 1 };
struct bsn_probe_counter {
    int successes, failures;
    enum bsn_probe_result result;
};
/* Records one probe outcome; returns true when the result changed. */
bool bsn_probe_record(struct bsn_probe_counter *p, bool ok, int success_threshold,
                      int failure_threshold);

/* Parses one CRI log line "<ts> <stream> <P|F> <msg>": the pieces as views into line.
 * Returns -1 when the line does not have that shape. */
int bsn_agent_cri_parse(const char *line, size_t len, const char **ts, size_t *tslen,
                        const char **msg, size_t *msglen, bool *partial);

#endif
