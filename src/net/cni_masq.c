/*
 * cni_masq.c - the node's one masquerade rule for the default pod network (see cni.h).
 *
 * Bosun's own network (99-bosun.conflist) runs the bridge plugin with ipMasq off: its
 * per-pod chain made every ADD and DEL run iptables, serialised by the xtables lock. Instead,
 * when the network is in use, this file programs once, with libnftables, a table of its own
 * named after the bridge (so agents on different bridges never touch each other's rule):
 *
 *     table ip bosun-masq-<bridge> {
 *         chain postrouting {
 *             type nat hook postrouting priority srcnat; policy accept;
 *             ip saddr <node pod CIDR> ip daddr != <cluster CIDR> ip daddr != 224.0.0.0/4
 *                 masquerade
 *         }
 *     }
 *
 * Traffic from this node's pods to anything outside the pod network leaves with the node's
 * address; pod to pod keeps its source. Installing replaces the table whole (one
 * transaction), so a restart with other flags, or a table left by a crash, ends up right.
 * The table's comment names the agent's pid: installing also drops other agents' tables
 * whose agent and bridge are both gone (gc_stale).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <nftables/libnftables.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/buf.h"
#include "base/log.h"
#include "base/mem.h"
#include "net/cni.h"

void
bsn_cni_masq_table(const char *bridge, char *out, size_t outlen)
{
    /* nft identifiers: a letter, then letters, digits, '-', '_', '.'; an interface name
     * may hold more, so anything else is written as _xx (hex) */
    struct bsn_buf b;
    bsn_buf_init(&b);
    bsn_buf_puts(&b, "bosun-masq-");
    for (const unsigned char *s = (const unsigned char *)bridge; *s; s++) {
        if ((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
            *s == '-' || *s == '.')
            bsn_buf_putc(&b, (char)*s);
        else
            bsn_buf_printf(&b, "_%02x", *s);
    }
    snprintf(out, outlen, "%.*s", (int)b.len, b.data);
    bsn_buf_fini(&b);
}

/* "a.b.c.d/n" with nothing else in it (the text goes into an nft command) */
static bool
plain_cidr4(const char *s)
{
    char addr[INET_ADDRSTRLEN];
    const char *slash = strchr(s, '/');
    if (!slash || (size_t)(slash - s) >= sizeof(addr) || !slash[1] || strlen(slash + 1) > 2)
        return false;
    snprintf(addr, sizeof(addr), "%.*s", (int)(slash - s), s);
    for (const char *p = slash + 1; *p; p++)
        if (*p < '0' || *p > '9')
            return false;
    struct in_addr a;
    return inet_pton(AF_INET, addr, &a) == 1 && atoi(slash + 1) <= 32;
}

/* The bridge a table name stands for (the reverse of bsn_cni_masq_table); false if name is
 * not one of ours. */
static bool
table_bridge(const char *name, char *out, size_t outlen)
{
    static const char prefix[] = "bosun-masq-";
    if (strncmp(name, prefix, sizeof(prefix) - 1) != 0)
        return false;
    size_t o = 0;
    for (const char *s = name + sizeof(prefix) - 1; *s && o + 1 < outlen; s++) {
        unsigned v;
        if (*s == '_' && sscanf(s + 1, "%2x", &v) == 1 && s[1] && s[2]) {
            out[o++] = (char)v;
            s += 2;
        } else {
            out[o++] = *s;
        }
    }
    out[o] = '\0';
    return o > 0;
}

/* Drops the tables of agents that are gone, with their bridge: a server killed before its
 * clean stop (a test's teardown, a crash) leaves its table; the next agent on the machine
 * removes it once nobody can need it. An agent that is gone but whose bridge is still there
 * keeps its table (its pods may still run and get it back at its restart); so does any
 * agent still running, whether or not its bridge exists yet (bridge creates it at the first
 * pod). The agent is the pid in the table's comment. */
static void
gc_stale(struct nft_ctx *ctx, const char *ours)
{
    if (nft_run_cmd_from_buffer(ctx, "list tables") != 0)
        return;
    const char *out = nft_ctx_get_output_buffer(ctx);
    char *tables = strdup(out ? out : "");
    if (!tables)
        return;
    char *save = NULL;
    for (char *line = strtok_r(tables, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        char name[128], bridge[64];
        if (sscanf(line, "table ip %127s", name) != 1 || !strcmp(name, ours) ||
            !table_bridge(name, bridge, sizeof(bridge)))
            continue;
        char cmd[200];
        snprintf(cmd, sizeof(cmd), "list table ip %s", name);
        if (nft_run_cmd_from_buffer(ctx, cmd) != 0)
            continue;
        const char *t = nft_ctx_get_output_buffer(ctx);
        const char *c = t ? strstr(t, "comment \"bosun agent pid ") : NULL;
        long pid = c ? strtol(c + strlen("comment \"bosun agent pid "), NULL, 10) : 0;
        bool alive = pid > 0 && (kill((pid_t)pid, 0) == 0 || errno == EPERM);
        if (alive || if_nametoindex(bridge) != 0)
            continue;
        snprintf(cmd, sizeof(cmd), "delete table ip %s", name);
        nft_run_cmd_from_buffer(ctx, cmd);
    }
    free(tables);
}

/* libnftables in the calling process (after the garbage pass, when gc_ours is our table's
 * name): 0, or -1 with its error text in msg */
static int
nft_apply(const char *cmds, const char *gc_ours, char *msg, size_t msglen)
{
    struct nft_ctx *ctx = nft_ctx_new(NFT_CTX_DEFAULT);
    if (!ctx) {
        snprintf(msg, msglen, "nft_ctx_new failed");
        return -1;
    }
    nft_ctx_buffer_output(ctx);
    nft_ctx_buffer_error(ctx);
    if (gc_ours)
        gc_stale(ctx, gc_ours);
    int rc = nft_run_cmd_from_buffer(ctx, cmds);
    if (rc != 0) {
        const char *e = nft_ctx_get_error_buffer(ctx);
        size_t l = e ? strlen(e) : 0;
        while (l && e[l - 1] == '\n')
            l--;
        snprintf(msg, msglen, "%.*s", (int)l, l ? e : "failed");
    }
    nft_ctx_free(ctx);
    return rc != 0 ? -1 : 0;
}

/* Runs cmds from a short-lived child: libnftables' context (its parser, the ruleset cache,
 * ~2 MB of heap that the allocator keeps afterwards) and the pages of its libraries never
 * become part of the agent, which uses them once at start and once at stop. */
static int
nft_run(const char *cmds, const char *gc_ours, const char *what, struct bsn_err *err)
{
    char msg[700] = "";
    int pfd[2];
    if (pipe2(pfd, O_CLOEXEC) < 0)
        return bsn_err_set(err, 500, "InternalError", "%s: pipe: %s", what, strerror(errno));
    pid_t pid = fork();
    if (pid < 0) {
        int e = errno;
        close(pfd[0]);
        close(pfd[1]);
        return bsn_err_set(err, 500, "InternalError", "%s: fork: %s", what, strerror(e));
    }
    if (pid == 0) {
        close(pfd[0]);
        int rc = nft_apply(cmds, gc_ours, msg, sizeof(msg));
        if (rc < 0 && write(pfd[1], msg, strlen(msg)) < 0)
            rc = -1;
        _exit(rc < 0 ? 1 : 0);
    }
    close(pfd[1]);
    size_t len = 0;
    for (;;) {
        ssize_t r = read(pfd[0], msg + len, sizeof(msg) - 1 - len);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        len += (size_t)r;
        if (len == sizeof(msg) - 1)
            break;
    }
    msg[len] = '\0';
    close(pfd[0]);
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
        return 0;
    return bsn_err_set(err, 500, "InternalError", "%s: nft: %s", what,
                       msg[0] ? msg : "the helper process failed");
}

int
bsn_cni_masq_install(const char *bridge, const char *pod_cidr, const char *cluster_cidr,
                     struct bsn_err *err)
{
    if (!plain_cidr4(pod_cidr) || !plain_cidr4(cluster_cidr))
        return bsn_err_set(err, 400, "Invalid", "cni masquerade: not IPv4 CIDRs: %s, %s", pod_cidr,
                           cluster_cidr);
    char t[96];
    bsn_cni_masq_table(bridge, t, sizeof(t));
    BSN_AUTOFREE char *cmds =
        bsn_sprintf("add table ip %s\n"
                    "delete table ip %s\n"
                    "add table ip %s { comment \"bosun agent pid %d\"; }\n"
                    "add chain ip %s postrouting { type nat hook postrouting priority srcnat; "
                    "policy accept; }\n"
                    "add rule ip %s postrouting ip saddr %s ip daddr != %s ip daddr != 224.0.0.0/4 "
                    "masquerade\n",
                    t, t, t, (int)getpid(), t, t, pod_cidr, cluster_cidr);
    BSN_AUTOFREE char *what = bsn_sprintf("cni: masquerade table %s", t);
    return nft_run(cmds, t, what, err);
}

int
bsn_cni_masq_remove(const char *bridge, struct bsn_err *err)
{
    char t[96];
    bsn_cni_masq_table(bridge, t, sizeof(t));
    /* "add" first: removing a table that is already gone is not an error */
    BSN_AUTOFREE char *cmds = bsn_sprintf("add table ip %s\ndelete table ip %s\n", t, t);
    BSN_AUTOFREE char *what = bsn_sprintf("cni: remove masquerade table %s", t);
    return nft_run(cmds, NULL, what, err);
}
