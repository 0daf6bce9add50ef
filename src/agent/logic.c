/*
 * logic.c - the agent's pure rules (see logic.h): expansion, back-off, pod phase, probe
 * thresholds and CRI log lines. No I/O, no loop.
 */
#include "agent/logic.h"

#include <string.h>

#include "base/buf.h"
#include "base/mem.h"

char *
bsn_agent_expand(const char *in, bsn_agent_lookup_fn lookup, void *data)
{
    struct bsn_buf b;
    bsn_buf_init(&b);
    for (const char *p = in; *p;) {
        if (p[0] != '$') {
            bsn_buf_putc(&b, *p++);
            continue;
        }
        if (p[1] == '$') { /* escaped */
            bsn_buf_putc(&b, '$');
            p += 2;
            continue;
        }
        if (p[1] == '(') {
            const char *end = strchr(p + 2, ')');
            if (end) {
                const char *v = lookup ? lookup(p + 2, (size_t)(end - p - 2), data) : NULL;
                if (v)
                    bsn_buf_puts(&b, v);
                else
                    bsn_buf_append(&b, p, (size_t)(end - p + 1));
                p = end + 1;
                continue;
            }
        }
        bsn_buf_putc(&b, *p++);
    }
    if (!b.data)
        return bsn_strdup("");
    return bsn_buf_take(&b);
}

int64_t
bsn_agent_backoff_next(int64_t cur_ms)
{
    if (cur_ms <= 0)
        return BSN_AGENT_BACKOFF_INITIAL_MS;
    return BSN_MIN(cur_ms * 2, (int64_t)BSN_AGENT_BACKOFF_MAX_MS);
}

bool
bsn_agent_should_restart(const char *policy, int exit_code)
{
    if (!policy || !strcmp(policy, "Always"))
        return true;
    if (!strcmp(policy, "OnFailure"))
        return exit_code != 0;
    return false;
}

const char *
bsn_agent_pod_phase(const char *policy, bool init_pending, bool init_failed,
                    const struct bsn_ctr_summary *c, size_t n)
{
    if (init_failed)
        return "Failed";
    if (init_pending)
        return "Pending";
    size_t running = 0, waiting = 0, stopped = 0, succeeded = 0;
    for (size_t i = 0; i < n; i++) {
        switch (c[i].state) {
        case BSN_CS_RUNNING:
            running++;
            break;
        case BSN_CS_TERMINATED:
            stopped++;
            if (c[i].exit_code == 0)
                succeeded++;
            break;
        case BSN_CS_WAITING:
            if (c[i].last_terminated)
                stopped++; /* crash loop: counts as stopped, like kubelet */
            else
                waiting++;
            break;
        }
    }
    if (waiting > 0)
        return "Pending";
    if (running > 0)
        return "Running";
    if (stopped > 0) {
        if (!policy || !strcmp(policy, "Always"))
            return "Running";
        if (stopped == succeeded)
            return "Succeeded";
        if (!strcmp(policy, "Never"))
            return "Failed";
        return "Running";
    }
    return "Pending";
}

bool
bsn_probe_record(struct bsn_probe_counter *p, bool ok, int success_threshold, int failure_threshold)
{
    enum bsn_probe_result before = p->result;
    if (success_threshold < 1)
        success_threshold = 1;
    if (failure_threshold < 1)
        failure_threshold = 1;
    if (ok) {
        p->failures = 0;
        p->successes++;
        if (p->successes >= success_threshold)
            p->result = BSN_PROBE_SUCCESS;
    } else {
        p->successes = 0;
        p->failures++;
        if (p->failures >= failure_threshold)
            p->result = BSN_PROBE_FAILURE;
    }
    return p->result != before;
}

int
bsn_agent_cri_parse(const char *line, size_t len, const char **ts, size_t *tslen, const char **msg,
                    size_t *msglen, bool *partial)
{
    const char *end = line + len;
    const char *sp1 = memchr(line, ' ', len);
    if (!sp1)
        return -1;
    const char *sp2 = memchr(sp1 + 1, ' ', (size_t)(end - sp1 - 1));
    if (!sp2 || sp2 + 2 > end || (sp2[1] != 'P' && sp2[1] != 'F'))
        return -1;
    *ts = line;
    *tslen = (size_t)(sp1 - line);
    *partial = sp2[1] == 'P';
    const char *m = sp2 + 2;
    if (m < end && *m == ' ')
        m++;
    *msg = m;
    *msglen = (size_t)(end - m);
    return 0;
}
