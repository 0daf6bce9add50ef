/*
 * worker.c - one pod on this node, kubelet style: sandbox, init containers in order, then the
 * containers; restarts by restartPolicy with back-off (CrashLoopBackOff); graceful
 * termination when the pod gets a deletionTimestamp, ending with the final DELETE
 * (gracePeriodSeconds=0, preconditions.uid).
 *
 * Everything is driven by pod_sync(), which compares what runs with what the pod asks for and
 * does the next step; container exits, probe results, back-off timers and pod updates just
 * schedule a sync. Status goes out through status.c after every sync that changed something.
 */
#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "agent/agent_int.h"
#include "api/client.h"
#include "base/buf.h"
#include "base/log.h"
#include "base/mem.h"
#include "base/time.h"
#include "codec/json.h"
#include "codec/quantity.h"
#include "runtime/image.h"

void
agent_pod_ref(struct agent_pod *p)
{
    p->refs++;
}

void
agent_pod_destroy(struct agent_pod *p)
{
    agent_volumes_teardown(p);
    for (size_t i = 0; i < p->nctrs; i++)
        for (int k = 0; k < PROBE_KINDS; k++)
            free(p->ctrs[i].probes[k]);
    free(p->ctrs);
    json_decref(p->pod);
    json_decref(p->conds_prev);
    json_decref(p->refs_cache);
    free(p->last_status);
    free(p);
}

void
agent_pod_unref(struct agent_pod *p)
{
    if (--p->refs == 0 && p->gone)
        agent_pod_destroy(p);
}

static void pod_sync(struct agent_pod *p);
static void hook_over(struct agent_ctr *c, bool ok);
static bool run_hook(struct agent_pod *p, struct agent_ctr *c, json_t *cmd, int64_t grace_ms,
                     bool post);

static void
sync_cb(struct bsn_loop *loop, void *data)
{
    BSN_UNUSED(loop);
    pod_sync(data);
}

void
agent_pod_sync_soon(struct agent_pod *p, uint64_t delay_ms)
{
    if (p->gone)
        return;
    uint64_t when = bsn_loop_now(p->a->loop) + delay_ms;
    if (bsn_timer_active(&p->sync_timer) && p->sync_timer.when_ms <= when)
        return;
    bsn_timer_stop(p->a->loop, &p->sync_timer);
    bsn_timer_start(p->a->loop, &p->sync_timer, delay_ms, sync_cb, p);
}

/* Points every container at its spec in the current pod object. */
static void
bind_specs(struct agent_pod *p)
{
    json_t *init = bsn_json_path(p->pod, "spec.initContainers");
    json_t *ctrs = bsn_json_path(p->pod, "spec.containers");
    for (size_t i = 0; i < p->nctrs; i++)
        p->ctrs[i].spec =
            i < p->ninit ? json_array_get(init, i) : json_array_get(ctrs, i - p->ninit);
}

static void
restore_counts(struct agent_pod *p)
{
    /* an agent restart keeps the restart counts the API has */
    for (int init = 0; init < 2; init++) {
        size_t i;
        json_t *cs;
        json_array_foreach(bsn_json_path(p->pod, init ? "status.initContainerStatuses"
                                                      : "status.containerStatuses"),
                           i, cs)
        {
            const char *n = json_string_value(json_object_get(cs, "name")) ?: "";
            for (size_t j = 0; j < p->nctrs; j++)
                if (p->ctrs[j].init == (bool)init && !strcmp(p->ctrs[j].name, n))
                    p->ctrs[j].restart_count =
                        (int)json_integer_value(json_object_get(cs, "restartCount"));
        }
    }
}

struct agent_pod *
agent_pod_new(struct bsn_agent *a, json_t *pod)
{
    struct agent_pod *p = bsn_calloc(1, sizeof(*p));
    p->seen_ms = bsn_mono_ms();
    p->a = a;
    p->refs = 1;
    p->pod = json_incref(pod);
    snprintf(p->ns, sizeof(p->ns), "%s", bsn_json_str(pod, "metadata.namespace") ?: "");
    snprintf(p->name, sizeof(p->name), "%s", bsn_json_str(pod, "metadata.name") ?: "");
    snprintf(p->uid, sizeof(p->uid), "%s", bsn_json_str(pod, "metadata.uid") ?: "");
    snprintf(p->key, sizeof(p->key), "%s/%s", p->ns, p->name);
    snprintf(p->log_dir, sizeof(p->log_dir), "%s/pods/%s_%s_%s", a->data_dir, p->ns, p->name,
             p->uid);
    json_t *init = bsn_json_path(pod, "spec.initContainers");
    json_t *ctrs = bsn_json_path(pod, "spec.containers");
    p->ninit = json_array_size(init);
    p->nctrs = p->ninit + json_array_size(ctrs);
    p->ctrs = bsn_calloc(p->nctrs ? p->nctrs : 1, sizeof(*p->ctrs));
    for (size_t i = 0; i < p->nctrs; i++) {
        struct agent_ctr *c = &p->ctrs[i];
        c->pod = p;
        c->init = i < p->ninit;
        json_t *spec = c->init ? json_array_get(init, i) : json_array_get(ctrs, i - p->ninit);
        snprintf(c->name, sizeof(c->name), "%s",
                 json_string_value(json_object_get(spec, "name")) ?: "");
        bsn_timer_init(&c->hook_timer);
        c->sidecar =
            c->init &&
            !strcmp(json_string_value(json_object_get(spec, "restartPolicy")) ?: "", "Always");
        snprintf(c->waiting_reason, sizeof(c->waiting_reason), "%s",
                 c->init || p->ninit == 0 ? "ContainerCreating" : "PodInitializing");
    }
    bind_specs(p);
    restore_counts(p);
    const char *phase = bsn_json_str(pod, "status.phase") ?: "";
    if (!strcmp(phase, "Succeeded") || !strcmp(phase, "Failed"))
        p->finished = true; /* ran to completion before: never run again */
    const char *st = bsn_json_str(pod, "status.startTime");
    time_t t;
    p->start_time = st && bsn_time_parse(st, &t) == 0 ? (int64_t)t * 1000000 : bsn_time_now_us();
    bsn_timer_init(&p->sync_timer);
    bsn_map_put(&a->pods, p->key, p);
    agent_pod_sync_soon(p, 0);
    return p;
}

void
agent_pod_update(struct agent_pod *p, json_t *pod)
{
    json_t *old = p->pod;
    p->pod = json_incref(pod);
    bind_specs(p);
    json_decref(old);
    agent_pod_sync_soon(p, 0);
}

static int
rm_cb(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    BSN_UNUSED(sb);
    BSN_UNUSED(flag);
    BSN_UNUSED(ftw);
    remove(path);
    return 0;
}

static void
forget_containers(struct agent_pod *p)
{
    for (size_t i = 0; i < p->nctrs; i++) {
        struct agent_ctr *c = &p->ctrs[i];
        agent_probes_stop(c);
        if (c->id[0])
            bsn_map_del(&p->a->containers, c->id);
    }
}

static void
remove_sandbox(struct agent_pod *p)
{
    struct bsn_err err;
    bsn_err_clear(&err);
    forget_containers(p);
    if (p->sandbox[0] && bsn_runtime_sandbox_remove(p->a->rt, p->sandbox, &err) < 0)
        bsn_warn("agent", "pod %s: remove sandbox: %s", p->key, err.msg);
    p->sandbox[0] = '\0';
    agent_volumes_teardown(p);
}

void
agent_pod_gone(struct agent_pod *p)
{
    struct bsn_agent *a = p->a;
    bsn_map_del(&a->pods, p->key);
    bsn_timer_stop(a->loop, &p->sync_timer);
    p->gone = true;
    remove_sandbox(p);
    nftw(p->log_dir, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
    agent_pod_unref(p);
}

void
agent_log_path(const struct agent_pod *p, const char *ctr, int n, char *out, size_t len)
{
    snprintf(out, len, "%s/%s/%d.log", p->log_dir, ctr, n);
}

static void
set_waiting(struct agent_ctr *c, const char *reason, const char *msg)
{
    snprintf(c->waiting_reason, sizeof(c->waiting_reason), "%s", reason);
    snprintf(c->waiting_msg, sizeof(c->waiting_msg), "%s", msg ? msg : "");
}

static void
started_cb(void *data, int rc, const struct bsn_err *err)
{
    struct agent_ctr *c = data;
    struct agent_pod *p = c->pod;
    BSN_UNUSED(err);
    bsn_debug("agent", "pod %s container %s started: rc %d state %d", p->key, c->name, rc, c->st);
    if (!p->gone && !p->a->closing && rc == 0 && c->st == CT_STARTING) {
        struct bsn_container_status st;
        struct bsn_err e2;
        c->st = CT_RUNNING;
        c->started_us = bsn_time_now_us();
        if (bsn_runtime_container_status(p->a->rt, c->id, &st, &e2) == 0) {
            if (st.started_us)
                c->started_us = st.started_us;
            snprintf(c->image_id, sizeof(c->image_id), "%s", st.image_id);
        }
        /* probes begin once a postStart hook has succeeded */
        if (!run_hook(p, c, bsn_json_path(c->spec, "lifecycle.postStart.exec.command"),
                      bsn_json_int(p->pod, "spec.terminationGracePeriodSeconds", 30) * 1000, true))
            agent_probes_start(c);
        agent_pod_sync_soon(p, 0);
    }
    agent_pod_unref(p);
}

static bool
sec_uint(json_t *ctx, json_t *podctx, const char *field, uint32_t *out)
{
    json_t *v = json_object_get(ctx, field);
    if (!json_is_integer(v))
        v = json_object_get(podctx, field);
    if (!json_is_integer(v))
        return false;
    *out = (uint32_t)json_integer_value(v);
    return true;
}

/* resources.limits/requests as the runtime's cgroup settings: cpu limit -> CFS quota, cpu
 * request (else the limit, as API defaulting would) -> shares, memory limit. */
static struct bsn_resources
ctr_resources(json_t *spec)
{
    struct bsn_resources r = {0};
    json_t *res = json_object_get(spec, "resources");
    json_t *lim = json_object_get(res, "limits"), *req = json_object_get(res, "requests");
    struct bsn_quantity q;
    struct bsn_err err;
    json_t *v;
    if ((v = json_object_get(lim, "cpu")) && bsn_quantity_from_json(v, &q, &err) == 0)
        r.cpu_limit_millis = bsn_quantity_milli(&q);
    if ((v = json_object_get(req, "cpu")) && bsn_quantity_from_json(v, &q, &err) == 0)
        r.cpu_request_millis = bsn_quantity_milli(&q);
    else
        r.cpu_request_millis = r.cpu_limit_millis;
    if ((v = json_object_get(lim, "memory")) && bsn_quantity_from_json(v, &q, &err) == 0)
        r.memory_limit_bytes = bsn_quantity_value(&q);
    return r;
}

struct pull_req {
    struct agent_ctr *c;
    char image[512];
};

/* The ErrImagePull message: a missing or refused manifest reads like containerd's through
 * kubelet (`rpc error: code = NotFound desc = failed to pull and unpack image "<ref>": failed
 * to resolve reference "<ref>": <ref>: not found`); other errors are the runtime's. */
static void
pull_message(const char *image, const struct bsn_err *err, char *msg, size_t n)
{
    struct bsn_image_ref ref;
    struct bsn_err perr;
    char full[700];
    bool manifest = err && strstr(err->msg, "/manifests/");
    if (!err || !((err->code == 404 && manifest) || err->code == 401) ||
        bsn_image_ref_parse(image, &ref, &perr) < 0) {
        snprintf(msg, n, "%s", err ? err->msg : "pull failed");
        return;
    }
    bsn_image_ref_name(&ref, full, sizeof(full));
    if (err->code == 404)
        snprintf(msg, n,
                 "rpc error: code = NotFound desc = failed to pull and unpack image \"%s\": "
                 "failed to resolve reference \"%s\": %s: not found",
                 full, full, full);
    else
        snprintf(msg, n,
                 "rpc error: code = Unknown desc = failed to pull and unpack image \"%s\": "
                 "failed to resolve reference \"%s\": pull access denied, repository does not "
                 "exist or may require authorization: %.300s",
                 full, full, err->msg);
}

static void
pulled_cb(void *data, int rc, const struct bsn_err *err)
{
    struct pull_req *r = data;
    struct agent_ctr *c = r->c;
    struct agent_pod *p = c->pod;
    c->pulling = false;
    if (!p->gone && !p->a->closing) {
        if (rc == 0) {
            c->pulled = true;
            c->pull_backoff_ms = 0;
            c->waiting_reason[0] = c->waiting_msg[0] = '\0';
            agent_pod_sync_soon(p, 0);
        } else {
            char msg[1024];
            bool never = err && !strcmp(err->reason, "ErrImageNeverPull");
            pull_message(r->image, never ? NULL : err, msg, sizeof(msg));
            set_waiting(c, never ? "ErrImageNeverPull" : "ErrImagePull", msg);
            json_decref(p->refs_cache); /* pull secrets are read again for the retry */
            p->refs_cache = NULL;
            c->pull_backoff_ms = bsn_agent_backoff_next(c->pull_backoff_ms);
            c->pull_until = bsn_loop_now(p->a->loop) + (uint64_t)c->pull_backoff_ms;
            bsn_info("agent", "pod %s container %s: image %s: %s", p->key, c->name, r->image, msg);
            agent_pod_write_status(p);
            agent_pod_sync_soon(p, (uint64_t)c->pull_backoff_ms);
        }
    }
    agent_pod_unref(p);
    free(r);
}

/* Makes the image available per imagePullPolicy (a worker thread pulls), then syncs. */
static void
ensure_image(struct agent_pod *p, struct agent_ctr *c, const char *image)
{
    if (c->pulling)
        return;
    uint64_t now = bsn_loop_now(p->a->loop);
    if (now < c->pull_until) {
        /* as kubelet: the failed sync shows ErrImagePull, a later one ImagePullBackOff (our
         * own status write syncs at once, so ErrImagePull is kept for 2 s) */
        uint64_t failed = c->pull_until - (uint64_t)c->pull_backoff_ms;
        if (!strcmp(c->waiting_reason, "ErrImagePull") && now < failed + 2000) {
            agent_pod_sync_soon(p, failed + 2000 - now);
            return;
        }
        if (strcmp(c->waiting_reason, "ErrImageNeverPull")) {
            char msg[600];
            snprintf(msg, sizeof(msg), "Back-off pulling image \"%s\"", image);
            set_waiting(c, "ImagePullBackOff", msg);
        }
        agent_pod_sync_soon(p, c->pull_until - now);
        return;
    }
    enum bsn_pull_policy pol;
    if (bsn_image_parse_policy(json_string_value(json_object_get(c->spec, "imagePullPolicy")),
                               image, &pol) < 0)
        pol = bsn_image_default_policy(image);
    char *user, *pass; /* imagePullSecrets (env.c) */
    int crc = agent_pull_creds(p, image, &user, &pass);
    if (crc < 0)
        return; /* a pull secret is being read; its answer syncs again */
    struct bsn_registry_auth auth = {.username = user, .password = pass};
    struct pull_req *r = bsn_calloc(1, sizeof(*r));
    r->c = c;
    snprintf(r->image, sizeof(r->image), "%s", image);
    c->pulling = true;
    agent_pod_ref(p);
    if (bsn_image_ensure_async(p->a->images, p->a->loop, image, pol, crc > 0 ? &auth : NULL,
                               pulled_cb, r) < 0) {
        struct bsn_err err;
        bsn_err_set(&err, 500, "ErrImagePull", "cannot start the image pull");
        pulled_cb(r, -1, &err);
    }
    free(user);
    free(pass);
}

/* Creates and starts c's next container. */
static void
start_container(struct agent_pod *p, struct agent_ctr *c)
{
    struct bsn_agent *a = p->a;
    struct bsn_err err;
    bsn_err_clear(&err);
    char why[512] = "";
    struct agent_env env = {0};
    int erc = agent_build_env(p, c->spec, &env, why, sizeof(why));
    if (erc != 0) {
        if (erc < 0) {
            set_waiting(c, "CreateContainerConfigError", why);
            json_decref(p->refs_cache); /* read them again on the retry */
            p->refs_cache = NULL;
            agent_pod_sync_soon(p, 5000);
        }
        agent_env_free(&env);
        return;
    }
    const char *image = json_string_value(json_object_get(c->spec, "image")) ?: "";
    struct bsn_image_config img = {0};
    bool have_img = false;
    if (a->images) {
        if (!c->pulled) {
            ensure_image(p, c, image);
            agent_env_free(&env);
            return;
        }
        if (bsn_image_resolve(a->images, image, &img, &err) < 0) {
            c->pulled = false;
            set_waiting(c, "ErrImageNeverPull", err.msg);
            agent_env_free(&env);
            return;
        }
        have_img = true;
    }
    char **cmd = agent_expand_list(json_object_get(c->spec, "command"), &env);
    char **args = agent_expand_list(json_object_get(c->spec, "args"), &env);
    char **argv = bsn_image_container_argv(have_img ? &img : NULL, (const char *const *)cmd,
                                           (const char *const *)args);
    agent_free_list(cmd);
    agent_free_list(args);
    if (!argv) {
        set_waiting(c, "CreateContainerError",
                    "no command to run (the process runtime ignores images: set command)");
        agent_env_free(&env);
        if (have_img)
            bsn_image_config_fini(&img);
        return;
    }
    struct agent_mounts mounts = {0};
    if (agent_volumes_mounts(p, c, &env, &mounts, why, sizeof(why)) < 0) {
        set_waiting(c, "CreateContainerConfigError", why);
        agent_mounts_free(&mounts);
        agent_free_list(argv);
        agent_env_free(&env);
        if (have_img)
            bsn_image_config_fini(&img);
        agent_pod_sync_soon(p, 5000);
        return;
    }
    char logp[1200];
    agent_log_path(p, c->name, c->restart_count, logp, sizeof(logp));
    json_t *sc = json_object_get(c->spec, "securityContext");
    json_t *psc = bsn_json_path(p->pod, "spec.securityContext");
    struct bsn_container_config cfg = {
        .name = c->name,
        .image = image,
        .argv = (const char *const *)argv,
        .env = (const char *const *)env.kv,
        .working_dir = json_string_value(json_object_get(c->spec, "workingDir")),
        .log_path = logp,
        .mounts = mounts.m,
        .nmounts = mounts.n,
        .resources = ctr_resources(c->spec),
    };
    cfg.security.has_run_as_user = sec_uint(sc, psc, "runAsUser", &cfg.security.run_as_user);
    cfg.security.has_run_as_group = sec_uint(sc, psc, "runAsGroup", &cfg.security.run_as_group);
    cfg.security.privileged = json_is_true(json_object_get(sc, "privileged"));
    cfg.security.no_new_privs = json_is_false(json_object_get(sc, "allowPrivilegeEscalation"));
    cfg.security.readonly_rootfs = json_is_true(json_object_get(sc, "readOnlyRootFilesystem"));
    cfg.stdin_open = json_is_true(json_object_get(c->spec, "stdin")); /* kubectl attach -i */
    cfg.tty = json_is_true(json_object_get(c->spec, "tty"));
    char id[65];
    int rc = bsn_runtime_container_create(a->rt, p->sandbox, &cfg, id, &err);
    agent_mounts_free(&mounts);
    agent_free_list(argv);
    agent_env_free(&env);
    if (have_img)
        bsn_image_config_fini(&img);
    if (rc < 0) {
        set_waiting(c, "CreateContainerError", err.msg);
        bsn_warn("agent", "pod %s container %s: %s", p->key, c->name, err.msg);
        return;
    }
    snprintf(c->id, sizeof(c->id), "%s", id);
    bsn_map_put(&a->containers, c->id, c);
    c->st = CT_STARTING;
    c->ready = c->started = false;
    c->pulled = false;          /* a restart ensures the image again, as kubelet */
    json_decref(p->refs_cache); /* the next start reads ConfigMaps and Secrets again */
    p->refs_cache = NULL;
    c->waiting_reason[0] = c->waiting_msg[0] = '\0';
    agent_pod_ref(p);
    if (bsn_runtime_container_start(a->rt, c->id, started_cb, c, &err) < 0) {
        agent_pod_unref(p);
        set_waiting(c, "RunContainerError", err.msg);
        c->st = CT_NONE;
        bsn_map_del(&a->containers, c->id);
        bsn_runtime_container_remove(a->rt, c->id, &err);
        c->id[0] = '\0';
    }
}

/* c exited and its policy restarts it: now, or after the back-off. */
static void
restart_container(struct agent_pod *p, struct agent_ctr *c)
{
    uint64_t now = bsn_loop_now(p->a->loop);
    if (now < c->backoff_until) {
        char msg[512];
        snprintf(msg, sizeof(msg), "back-off %llds restarting failed container=%s pod=%s_%s(%s)",
                 (long long)(c->backoff_ms / 1000), c->name, p->name, p->ns, p->uid);
        set_waiting(c, "CrashLoopBackOff", msg);
        agent_pod_sync_soon(p, c->backoff_until - now);
        return;
    }
    struct bsn_err err;
    c->last = c->term;
    c->has_last = true;
    if (c->id[0]) {
        bsn_map_del(&p->a->containers, c->id);
        bsn_runtime_container_remove(p->a->rt, c->id, &err);
        c->id[0] = '\0';
    }
    /* keep the previous log for --previous, drop older ones */
    if (c->restart_count >= 1) {
        char old[1200];
        agent_log_path(p, c->name, c->restart_count - 1, old, sizeof(old));
        unlink(old);
    }
    c->restart_count++;
    c->backoff_ms = bsn_agent_backoff_next(c->backoff_ms);
    c->st = CT_NONE;
    start_container(p, c);
}

void
agent_container_exited(struct bsn_agent *a, const struct bsn_container_status *st)
{
    struct agent_ctr *c = bsn_map_get(&a->containers, st->id);
    if (!c)
        return;
    struct agent_pod *p = c->pod;
    if (c->hook_post)
        agent_hook_cancel(c); /* exited during its postStart hook */
    else if (c->hook_pid > 0 || bsn_timer_active(&c->hook_timer))
        hook_over(c, false); /* exited during its preStop hook: the stop completes at once */
    agent_probes_stop(c);
    c->st = CT_EXITED;
    c->ready = false;
    c->started = false;
    c->killing = false;
    memset(&c->term, 0, sizeof(c->term));
    c->term.exit_code = st->exit_code;
    c->term.signal = st->signal;
    snprintf(c->term.reason, sizeof(c->term.reason), "%s",
             st->reason[0]   ? st->reason
             : st->exit_code ? "Error"
                             : "Completed");
    snprintf(c->term.message, sizeof(c->term.message), "%s", st->message);
    agent_termination_message(c);
    /* a container that never ran (StartError) has no start time (upstream shows the epoch)
     * and must not reset the back-off */
    bool never_ran = !strcmp(c->term.reason, "StartError");
    c->term.started_us = st->started_us ? st->started_us : never_ran ? 0 : c->started_us;
    c->term.finished_us = st->finished_us ? st->finished_us : bsn_time_now_us();
    snprintf(c->term.id, sizeof(c->term.id), "%s", st->id);
    if (c->term.started_us > 0 &&
        c->term.finished_us - c->term.started_us > (int64_t)BSN_AGENT_BACKOFF_RESET_MS * 1000)
        c->backoff_ms = 0;
    c->backoff_until = bsn_loop_now(a->loop) + (uint64_t)c->backoff_ms;
    agent_pod_sync_soon(p, 0);
}

void
agent_probe_changed(struct agent_ctr *c, enum probe_kind kind, enum bsn_probe_result r)
{
    struct agent_pod *p = c->pod;
    if (kind == PROBE_READINESS) {
        c->ready = r == BSN_PROBE_SUCCESS && c->started;
    } else if (kind == PROBE_STARTUP) {
        if (r == BSN_PROBE_SUCCESS) {
            c->started = true;
            if (!c->probes[PROBE_READINESS])
                c->ready = true;
        }
    }
    if (r == BSN_PROBE_FAILURE && (kind == PROBE_LIVENESS || kind == PROBE_STARTUP) &&
        c->st == CT_RUNNING && !c->killing) {
        struct bsn_err err;
        int64_t grace =
            bsn_json_int(c->spec,
                         kind == PROBE_LIVENESS ? "livenessProbe.terminationGracePeriodSeconds"
                                                : "startupProbe.terminationGracePeriodSeconds",
                         -1);
        if (grace < 0)
            grace = bsn_json_int(p->pod, "spec.terminationGracePeriodSeconds", 30);
        bsn_info("agent", "pod %s container %s failed its %s probe; restarting", p->key, c->name,
                 kind == PROBE_LIVENESS ? "liveness" : "startup");
        c->killing = true;
        agent_probes_stop(c);
        bsn_runtime_container_stop(p->a->rt, c->id, grace * 1000, NULL, NULL, &err);
    }
    agent_pod_sync_soon(p, 0);
}

/* ---- termination ---- */

static void
delete_done(int status, const char *body, size_t len, void *data)
{
    struct agent_pod *p = data;
    if (status >= 400 && status != 404 && status != 409 && !p->gone)
        bsn_warn("agent", "pod %s: final delete: HTTP %d: %.*s", p->key, status,
                 (int)BSN_MIN(len, 300), body);
    agent_pod_unref(p);
}

static void
finish_termination(struct agent_pod *p)
{
    if (p->delete_sent || p->gone)
        return;
    remove_sandbox(p);
    p->delete_sent = true;
    char path[700];
    snprintf(path, sizeof(path), "/api/v1/namespaces/%s/pods/%s", p->ns, p->name);
    json_t *opts = json_pack("{s:s,s:s,s:i,s:{s:s}}", "kind", "DeleteOptions", "apiVersion", "v1",
                             "gracePeriodSeconds", 0, "preconditions", "uid", p->uid);
    agent_pod_ref(p);
    bsn_client_request_json(p->a->cl, "DELETE", path, NULL, opts, delete_done, p);
    json_decref(opts);
}

static void
stopped_cb(void *data, int rc, const struct bsn_err *err)
{
    struct agent_pod *p = data;
    BSN_UNUSED(rc);
    BSN_UNUSED(err);
    /* not from here: the runtime calls this before it has finished with the container */
    if (--p->stops_pending == 0)
        agent_pod_sync_soon(p, 0);
    agent_pod_unref(p);
}

static void
stop_container(struct agent_pod *p, struct agent_ctr *c, int64_t grace_ms)
{
    struct bsn_err err;
    if (bsn_runtime_container_stop(p->a->rt, c->id, grace_ms, stopped_cb, p, &err) < 0) {
        /* not running any more: nothing to wait for */
        if (--p->stops_pending == 0)
            agent_pod_sync_soon(p, 0);
        agent_pod_unref(p);
    }
}

void
agent_hook_cancel(struct agent_ctr *c)
{
    struct bsn_loop *loop = c->pod->a->loop;
    c->hook_post = false;
    if (c->hook_pid > 0) {
        bsn_loop_unwatch_child(loop, &c->hook_child);
        kill(c->hook_pid, SIGKILL);
        waitpid(c->hook_pid, NULL, 0);
        c->hook_pid = 0;
    }
    bsn_timer_stop(loop, &c->hook_timer);
}

/* The preStop hook ended (or ran out of time): stop the container with what is left of the
 * grace period (at least 2 s, upstream's one-time extension). */
static void
hook_over(struct agent_ctr *c, bool ok)
{
    struct agent_pod *p = c->pod;
    if (c->hook_post) {
        agent_hook_cancel(c);
        if (ok) {
            agent_probes_start(c);
        } else {
            /* as kubelet: a failed postStart kills the container; restartPolicy decides */
            struct bsn_err err;
            bsn_info("agent", "pod %s container %s: postStart hook failed; killing it", p->key,
                     c->name);
            c->killing = true;
            bsn_runtime_container_stop(
                p->a->rt, c->id,
                bsn_json_int(p->pod, "spec.terminationGracePeriodSeconds", 30) * 1000, NULL, NULL,
                &err);
        }
        agent_pod_sync_soon(p, 0);
        return;
    }
    int64_t left = c->hook_grace_ms - (int64_t)(bsn_loop_now(p->a->loop) - c->hook_t0);
    agent_hook_cancel(c);
    stop_container(p, c, BSN_MAX(left, 2000));
}

static void
hook_exited(struct bsn_loop *loop, pid_t pid, int wstatus, void *data)
{
    BSN_UNUSED(loop);
    BSN_UNUSED(pid);
    struct agent_ctr *c = data;
    c->hook_pid = 0; /* reaped */
    bool ok = WIFEXITED(wstatus) && WEXITSTATUS(wstatus) == 0;
    if (!ok && !c->hook_post)
        bsn_info("agent", "pod %s container %s: preStop hook failed", c->pod->key, c->name);
    hook_over(c, ok);
}

static void
hook_timeout(struct bsn_loop *loop, void *data)
{
    BSN_UNUSED(loop);
    hook_over(data, false);
}

/* Starts an exec hook (command cmd) in c; false when there is none (or it cannot run). */
static bool
run_hook(struct agent_pod *p, struct agent_ctr *c, json_t *cmd, int64_t grace_ms, bool post)
{
    size_t n = json_array_size(cmd);
    json_t *http = n ? NULL
                     : bsn_json_path(c->spec, post ? "lifecycle.postStart.httpGet"
                                                   : "lifecycle.preStop.httpGet");
    if ((!n && !http) || c->st != CT_RUNNING)
        return false;
    const char **argv = bsn_calloc(n + 1, sizeof(char *));
    for (size_t i = 0; i < n; i++)
        argv[i] = json_string_value(json_array_get(cmd, i)) ?: "";
    struct bsn_exec_config cfg = {.argv = argv, .fd_in = -1, .fd_out = -1, .fd_err = -1};
    struct bsn_err err;
    pid_t pid;
    int rc = http ? agent_http_hook(p, c, http, &pid, &err)
                  : bsn_runtime_exec(p->a->rt, c->id, &cfg, &pid, &err);
    free(argv);
    if (rc < 0) {
        bsn_info("agent", "pod %s container %s: %s hook: %s", p->key, c->name,
                 post ? "postStart" : "preStop", err.msg);
        return false;
    }
    c->hook_post = post;
    c->hook_pid = pid;
    c->hook_t0 = bsn_loop_now(p->a->loop);
    c->hook_grace_ms = grace_ms;
    bsn_loop_watch_child(p->a->loop, &c->hook_child, pid, hook_exited, c);
    bsn_timer_start(p->a->loop, &c->hook_timer, (uint64_t)BSN_MAX(grace_ms, 0), hook_timeout, c);
    return true;
}

static void
terminate(struct agent_pod *p)
{
    if (p->stopping) {
        if (p->stops_pending == 0)
            finish_termination(p);
        return;
    }
    p->stopping = true;
    int64_t grace = bsn_json_int(p->pod, "metadata.deletionGracePeriodSeconds", -1);
    if (grace < 0)
        grace = bsn_json_int(p->pod, "spec.terminationGracePeriodSeconds", 30);
    p->stops_pending = 1; /* held until every stop is issued */
    for (size_t i = 0; i < p->nctrs; i++) {
        struct agent_ctr *c = &p->ctrs[i];
        agent_probes_stop(c);
        if (c->id[0] && (c->st == CT_RUNNING || c->st == CT_STARTING)) {
            p->stops_pending++;
            agent_pod_ref(p);
            if (!run_hook(p, c, bsn_json_path(c->spec, "lifecycle.preStop.exec.command"),
                          grace * 1000, false))
                stop_container(p, c, grace * 1000);
        }
    }
    if (--p->stops_pending == 0)
        finish_termination(p);
}

/* ---- the sync ---- */

/* The sandbox's network inputs: hostPorts (portmap) and resolv.conf per dnsPolicy, by
 * kubelet's rules: ClusterFirst (ClusterFirstWithHostNet with hostNetwork) = the cluster DNS
 * IP, "<ns>.svc.<domain> svc.<domain> <domain>" + the host's searches, ndots:5; Default (and
 * ClusterFirst with hostNetwork) = the host's resolv.conf; None = nothing; then dnsConfig's
 * nameservers and searches are appended and its options merged by name. */
#define SB_MAX_PORTS 64
#define SB_MAX_DNS   40
struct sb_net {
    struct bsn_port_mapping ports[SB_MAX_PORTS];
    size_t nports;
    const char *ns[SB_MAX_DNS + 1], *search[SB_MAX_DNS + 1], *opt[SB_MAX_DNS + 1];
    size_t nns, nsearch, nopt;
    char *host;               /* the host's resolv.conf, tokenised in place */
    char *cluster[3];         /* cluster search domains */
    char *merged[SB_MAX_DNS]; /* options rewritten by dnsConfig */
    size_t nmerged;
};

static void
sb_add(const char **v, size_t *n, size_t max, const char *x)
{
    for (size_t i = 0; i < *n; i++)
        if (!strcmp(v[i], x))
            return;
    if (*n < max)
        v[(*n)++] = x;
}

static void
sb_add_opt(struct sb_net *n, const char *o)
{
    size_t kl = strcspn(o, ":");
    for (size_t i = 0; i < n->nopt; i++) {
        if (strncmp(n->opt[i], o, kl) || (n->opt[i][kl] != ':' && n->opt[i][kl] != '\0'))
            continue;
        if (n->nmerged < SB_MAX_DNS) { /* same option: the pod's value wins */
            n->merged[n->nmerged] = bsn_strdup(o);
            n->opt[i] = n->merged[n->nmerged++];
        }
        return;
    }
    if (n->nopt < SB_MAX_DNS)
        n->opt[n->nopt++] = o;
}

static void
sb_host_dns(struct sb_net *n, bool servers, bool searches, bool options)
{
    FILE *f = fopen("/etc/resolv.conf", "re");
    if (!f)
        return;
    n->host = bsn_calloc(1, 65537);
    size_t len = fread(n->host, 1, 65536, f);
    fclose(f);
    n->host[len] = '\0';
    size_t base = n->nsearch; /* the cluster's searches stay first */
    char *save = NULL;
    for (char *line = strtok_r(n->host, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        char *ls = NULL, *key = strtok_r(line, " \t\r", &ls);
        if (!key || key[0] == '#' || key[0] == ';')
            continue;
        bool is_search = !strcmp(key, "search") || !strcmp(key, "domain");
        if (is_search)
            n->nsearch = base; /* the last search/domain line wins (resolv.conf(5)) */
        for (char *v = strtok_r(NULL, " \t\r", &ls); v; v = strtok_r(NULL, " \t\r", &ls)) {
            if (servers && !strcmp(key, "nameserver"))
                sb_add(n->ns, &n->nns, SB_MAX_DNS, v);
            else if (searches && is_search)
                sb_add(n->search, &n->nsearch, SB_MAX_DNS, v);
            else if (options && !strcmp(key, "options"))
                sb_add_opt(n, v);
        }
    }
}

static void
sb_net_build(struct agent_pod *p, struct sb_net *n)
{
    memset(n, 0, sizeof(*n));
    size_t i, j;
    json_t *c, *pt;
    json_array_foreach(bsn_json_path(p->pod, "spec.containers"), i, c)
    {
        json_array_foreach(json_object_get(c, "ports"), j, pt)
        {
            int hp = (int)bsn_json_int(pt, "hostPort", 0);
            if (hp <= 0 || n->nports == SB_MAX_PORTS)
                continue;
            n->ports[n->nports++] = (struct bsn_port_mapping){
                .container_port = (int)bsn_json_int(pt, "containerPort", 0),
                .host_port = hp,
                .protocol = bsn_json_str(pt, "protocol"),
                .host_ip = bsn_json_str(pt, "hostIP"),
            };
        }
    }
    const char *policy = bsn_json_str(p->pod, "spec.dnsPolicy") ?: "ClusterFirst";
    bool host_net = json_is_true(bsn_json_path(p->pod, "spec.hostNetwork"));
    bool cluster = !strcmp(policy, "ClusterFirstWithHostNet") ||
                   (!strcmp(policy, "ClusterFirst") && !host_net);
    struct bsn_agent *a = p->a;
    if (cluster) {
        n->cluster[0] = bsn_sprintf("%s.svc.%s", p->ns, a->cluster_domain);
        n->cluster[1] = bsn_sprintf("svc.%s", a->cluster_domain);
        n->cluster[2] = bsn_strdup(a->cluster_domain);
        n->ns[n->nns++] = a->cluster_dns_ip;
        for (i = 0; i < 3; i++)
            n->search[n->nsearch++] = n->cluster[i];
        sb_host_dns(n, false, true, false);
        n->opt[n->nopt++] = "ndots:5";
    } else if (strcmp(policy, "None")) {
        sb_host_dns(n, true, true, true);
    }
    json_t *dc = bsn_json_path(p->pod, "spec.dnsConfig"), *v;
    json_array_foreach(json_object_get(dc, "nameservers"), i, v)
    {
        if (json_string_value(v))
            sb_add(n->ns, &n->nns, SB_MAX_DNS, json_string_value(v));
    }
    json_array_foreach(json_object_get(dc, "searches"), i, v)
    {
        if (json_string_value(v))
            sb_add(n->search, &n->nsearch, SB_MAX_DNS, json_string_value(v));
    }
    json_array_foreach(json_object_get(dc, "options"), i, v)
    {
        const char *name = bsn_json_str(v, "name"), *val = bsn_json_str(v, "value");
        if (!name || !*name || n->nmerged == SB_MAX_DNS)
            continue;
        n->merged[n->nmerged] = val ? bsn_sprintf("%s:%s", name, val) : bsn_strdup(name);
        sb_add_opt(n, n->merged[n->nmerged++]);
    }
    n->ns[BSN_MIN(n->nns, 3)] = NULL; /* resolvers use at most 3 (kubelet's limit) */
    n->search[n->nsearch] = NULL;
    n->opt[n->nopt] = NULL;
}

static void
sb_net_free(struct sb_net *n)
{
    free(n->host);
    for (size_t i = 0; i < 3; i++)
        free(n->cluster[i]);
    for (size_t i = 0; i < n->nmerged; i++)
        free(n->merged[i]);
}

/* The pod network's ADD finished (net_add, off the loop): the pod IP goes into status and the
 * pod's /etc/hosts before any container starts; a failure removes the sandbox and retries. */
static void
net_added(void *data, int rc, const char *ip, const struct bsn_err *err)
{
    struct agent_pod *p = data;
    p->net_pending = false;
    if (!p->gone && !p->a->closing && p->sandbox[0] && !strcmp(p->sandbox, p->net_sandbox)) {
        struct bsn_err e2;
        bsn_err_clear(&e2);
        struct bsn_sandbox_status st;
        if (rc < 0) {
            bsn_warn("agent", "pod %s: create sandbox: attach pod network: %s", p->key, err->msg);
            bsn_runtime_sandbox_remove(p->a->rt, p->sandbox, &e2);
            p->sandbox[0] = '\0';
            agent_pod_sync_soon(p, 2000);
        } else {
            snprintf(p->ip, sizeof(p->ip), "%s", ip);
            struct bsn_sandbox_config cfg = {.name = p->name,
                                             .hostname = bsn_json_str(p->pod, "spec.hostname")};
            BSN_AUTOFREE char *hosts = bsn_runtime_hosts_content(&cfg, ip);
            FILE *f = bsn_runtime_sandbox_status(p->a->rt, p->sandbox, &st, &e2) == 0
                          ? fopen(st.hosts_path, "we")
                          : NULL;
            if (!f || fputs(hosts, f) < 0)
                bsn_warn("agent", "pod %s: cannot write the pod IP into /etc/hosts", p->key);
            if (f)
                fclose(f);
            bsn_debug("agent", "pod %s: network ready; image of the first container %s", p->key,
                      p->nctrs && p->ctrs[0].pulled ? "checked" : "not checked yet");
            agent_pod_sync_soon(p, 0);
        }
    } else if (!p->gone && !p->a->closing) {
        agent_pod_sync_soon(p, 0); /* the sandbox went meanwhile: start over */
    }
    agent_pod_unref(p);
}

/* While the pod network's ADD runs (tens to hundreds of ms): what the first containers'
 * start waits for next, their images (a worker thread) and the Services of their
 * environment (API reads), is asked for now, side by side with it. */
static void
prefetch(struct agent_pod *p)
{
    agent_env_prefetch(p);
    if (!p->a->images)
        return;
    /* the first init container, else every regular one (what pod_sync starts first) */
    size_t n = p->ninit ? 1 : p->nctrs;
    for (size_t i = 0; i < n; i++) {
        struct agent_ctr *c = &p->ctrs[i];
        const char *image = json_string_value(json_object_get(c->spec, "image"));
        if (image && c->st == CT_NONE && !c->id[0] && !c->pulled && !c->pulling)
            ensure_image(p, c, image);
    }
}

/* 0 ready, 1 pending (the pod network's ADD runs; a sync follows), -1 failed */
static int
ensure_sandbox(struct agent_pod *p)
{
    if (p->net_pending)
        return 1;
    if (p->sandbox[0])
        return 0;
    struct bsn_err err;
    bsn_err_clear(&err);
    struct bsn_sandbox_config cfg = {
        .namespace_ = p->ns,
        .name = p->name,
        .uid = p->uid,
        .hostname = bsn_json_str(p->pod, "spec.hostname"),
        .log_dir = p->log_dir,
    };
    struct sb_net net;
    sb_net_build(p, &net);
    cfg.ports = net.ports;
    cfg.nports = net.nports;
    cfg.dns = (struct bsn_dns_config){net.ns, net.search, net.opt};
    char id[65];
    int rc = bsn_runtime_sandbox_create(p->a->rt, &cfg, id, &err);
    if (rc < 0) {
        sb_net_free(&net);
        bsn_warn("agent", "pod %s: create sandbox: %s", p->key, err.msg);
        return -1;
    }
    snprintf(p->sandbox, sizeof(p->sandbox), "%s", id);
    bsn_debug("agent", "pod %s: sandbox %.12s (%llu ms after the pod was seen)", p->key, id,
              (unsigned long long)(bsn_mono_ms() - p->seen_ms));
    struct bsn_sandbox_status st;
    bool have_st = bsn_runtime_sandbox_status(p->a->rt, id, &st, &err) == 0;
    if (p->a->net_add && have_st && st.netns_path[0]) {
        /* the pod network's ADD off the loop; containers wait for net_added */
        snprintf(p->net_sandbox, sizeof(p->net_sandbox), "%s", id);
        p->net_pending = true;
        agent_pod_ref(p);
        rc = p->a->net_add(p->a->net_data, id, st.netns_path, &cfg, net_added, p);
        sb_net_free(&net);
        if (rc == 0) {
            prefetch(p);
            return 1;
        }
        p->net_pending = false;
        agent_pod_unref(p);
        bsn_runtime_sandbox_remove(p->a->rt, id, &err);
        p->sandbox[0] = '\0';
        return -1;
    }
    sb_net_free(&net);
    if (have_st && st.ip[0])
        snprintf(p->ip, sizeof(p->ip), "%s", st.ip);
    else
        snprintf(p->ip, sizeof(p->ip), "%s", p->a->node_ip); /* no pod network */
    return 0;
}

static void
pod_sync(struct agent_pod *p)
{
    if (p->gone || p->a->closing)
        return;
    if (bsn_json_str(p->pod, "metadata.deletionTimestamp")) {
        p->terminating = true;
        terminate(p);
        return;
    }
    if (p->finished)
        return;
    char vwhy[1024];
    int vrc = agent_volumes_setup(p, vwhy, sizeof(vwhy));
    if (vrc != 0) { /* ContainerCreating until the volumes are ready (FailedMount event) */
        agent_pod_write_status(p);
        if (vrc < 0)
            agent_pod_sync_soon(p, 5000);
        return;
    }
    int sbrc = ensure_sandbox(p);
    if (sbrc != 0) { /* failed: retry; pending: the pod network's ADD ends with a sync */
        if (sbrc < 0)
            agent_pod_sync_soon(p, 2000);
        else
            agent_pod_write_status(p);
        return;
    }

    const char *policy = bsn_json_str(p->pod, "spec.restartPolicy") ?: "Always";
    bool init_done = true;
    for (size_t i = 0; i < p->ninit; i++) {
        struct agent_ctr *c = &p->ctrs[i];
        if (c->sidecar && c->sidecar_up) { /* keeps running next to the containers */
            if (c->st == CT_EXITED)
                restart_container(p, c);
            continue;
        }
        if (c->sidecar && c->st == CT_RUNNING && c->started) {
            c->sidecar_up = true;
            continue;
        }
        if (!c->sidecar && c->st == CT_EXITED && c->term.exit_code == 0)
            continue;
        init_done = false;
        if (c->st == CT_NONE && !c->id[0])
            start_container(p, c);
        else if (c->st == CT_EXITED && (c->sidecar || strcmp(policy, "Never")))
            restart_container(p, c); /* init containers restart unless Never; sidecars always */
        break;
    }
    if (init_done) {
        for (size_t i = p->ninit; i < p->nctrs; i++) {
            struct agent_ctr *c = &p->ctrs[i];
            if (c->st == CT_NONE && !c->id[0] && strcmp(c->waiting_reason, "CrashLoopBackOff"))
                start_container(p, c);
            else if (c->st == CT_EXITED && bsn_agent_should_restart(policy, c->term.exit_code))
                restart_container(p, c);
        }
    }
    agent_pod_write_status(p);
    if (p->finished && p->sandbox[0])
        remove_sandbox(p); /* terminal: free the pod IP and namespace; logs stay */
}
