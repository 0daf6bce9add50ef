/*
 * volumes.c - a pod's volumes on this node (see volumes.h for the layout), the mounts handed
 * to the runtime for each container, and the container's termination message.
 *
 * Lifecycle (driven by worker.c):
 *   agent_volumes_setup     before the sandbox: reads the ConfigMaps, Secrets, PVCs and PVs
 *                           the volumes name (through the API, asynchronously: "pending"
 *                           until they arrived, then a sync), prepares every volume; a failure
 *                           keeps the pod ContainerCreating with a FailedMount event as
 *                           upstream. Afterwards it re-renders configMap/secret/downwardAPI/
 *                           projected volumes every BSN_VOL_REFRESH_MS.
 *   agent_volumes_mounts    per container start: volumeMounts (readOnly, subPath,
 *                           subPathExpr) and terminationMessagePath as bsn_mounts.
 *   agent_volumes_teardown  with the sandbox: unmounts the Memory emptyDirs (and anything
 *                           else mounted below the pod's volume dir) and removes the dirs.
 *
 * The process runtime gets the same mounts (it binds them in a private mount namespace when
 * the agent is root, see runtime.md) and, always, BOSUN_VOLUME_<NAME>=<host path> per
 * volumeMount so a program can find its volume without root.
 */
#include <errno.h>
#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "agent/agent_int.h"
#include "agent/volumes.h"
#include "api/client.h"
#include "base/base64.h"
#include "base/buf.h"
#include "base/log.h"
#include "base/mem.h"
#include "base/time.h"
#include "codec/json.h"
#include "codec/quantity.h"

#define TERM_MSG_MAX 4096 /* bytes of a termination message (upstream's cap) */

struct agent_vols {
    struct agent_pod *p;
    unsigned gen;      /* API answers for an older generation are dropped */
    char dir[1100];    /* <pod dir>/.volumes */
    json_t *objs;      /* "configmaps/x", "secrets/x", "pvc/x", "pv/x", "sa-token" ->
                             object | null (missing) | true (asked) */
    json_t *paths;     /* volume name -> host path */
    json_t *tmpfs;     /* mounted tmpfs paths */
    bool ready;        /* every volume prepared once */
    bool refreshable;  /* has configMap/secret/downwardAPI/projected volumes */
    bool size_limited; /* has an emptyDir with sizeLimit on disk: checked with the refresh */
    bool evicted;
    bool refreshing; /* re-reading for a refresh */
    struct bsn_timer timer;
    char last_event[600];
};

static unsigned vols_gen;

void
agent_node_alloc(struct bsn_agent *a, struct bsn_vol_node *n)
{
    n->cpu_millis = sysconf(_SC_NPROCESSORS_ONLN) * 1000;
    n->memory_bytes = 0;
    FILE *f = fopen("/proc/meminfo", "r");
    char line[256];
    long long kb = 0;
    while (f && fgets(line, sizeof(line), f))
        if (sscanf(line, "MemTotal: %lld kB", &kb) == 1)
            break;
    if (f)
        fclose(f);
    n->memory_bytes = kb * 1024;
    struct statvfs vfs;
    n->ephemeral_bytes =
        statvfs(a->data_dir, &vfs) == 0 ? (int64_t)vfs.f_blocks * (int64_t)vfs.f_frsize : 0;
}

/* ---- API reads ---- */

struct vol_req {
    struct agent_pod *p;
    unsigned gen;
    char key[320];
};

static void
get_done(int status, const char *body, size_t len, void *data)
{
    struct vol_req *r = data;
    struct agent_pod *p = r->p;
    struct agent_vols *v = p->vols;
    if (!p->gone && v && v->gen == r->gen && v->objs) {
        struct bsn_err err;
        json_t *obj = status == 200 ? bsn_json_parse(body, len, &err) : NULL;
        json_object_set_new(v->objs, r->key, obj ? obj : json_null());
        agent_pod_sync_soon(p, 0);
    }
    agent_pod_unref(p);
    free(r);
}

/* The object under key (GET path): the object, NULL with *pending while asked, NULL when
 * missing. */
static json_t *
vol_get(struct agent_vols *v, const char *key, const char *path, bool *pending)
{
    if (!v->objs)
        v->objs = json_object();
    json_t *o = json_object_get(v->objs, key);
    if (o) {
        if (json_is_true(o))
            *pending = true;
        return json_is_object(o) ? o : NULL;
    }
    json_object_set_new(v->objs, key, json_true());
    struct vol_req *r = bsn_calloc(1, sizeof(*r));
    r->p = v->p;
    r->gen = v->gen;
    snprintf(r->key, sizeof(r->key), "%s", key);
    agent_pod_ref(v->p);
    bsn_client_request(v->p->a->cl, "GET", path, NULL, NULL, 0, get_done, r);
    *pending = true;
    return NULL;
}

static json_t *
vol_ns_get(struct agent_vols *v, const char *kind, const char *name, bool *pending)
{
    char key[320], path[700];
    snprintf(key, sizeof(key), "%s/%s", kind, name);
    snprintf(path, sizeof(path), "/api/v1/namespaces/%s/%s/%s", v->p->ns, kind, name);
    return vol_get(v, key, path, pending);
}

/* ---- events ---- */

static void
vol_event(struct agent_pod *p, const char *reason, const char *msg)
{
    struct agent_vols *v = p->vols;
    if (!strcmp(v->last_event, msg))
        return; /* once per distinct failure */
    snprintf(v->last_event, sizeof(v->last_event), "%s", msg);
    char now[40], name[400], path[400];
    bsn_time_format(bsn_time_now(), now, sizeof(now));
    snprintf(name, sizeof(name), "%.250s.%016llx", p->name,
             (unsigned long long)bsn_time_now_us() * 1000);
    json_t *e = json_pack(
        "{s:s,s:s,s:{s:s,s:s},s:{s:s,s:s,s:s,s:s,s:s},s:s,s:s,s:{s:s,s:s},s:s,s:s,s:i,s:s,s:s,"
        "s:s}",
        "apiVersion", "v1", "kind", "Event", "metadata", "name", name, "namespace", p->ns,
        "involvedObject", "apiVersion", "v1", "kind", "Pod", "namespace", p->ns, "name", p->name,
        "uid", p->uid, "reason", reason, "message", msg, "source", "component", "kubelet", "host",
        p->a->node, "firstTimestamp", now, "lastTimestamp", now, "count", 1, "type", "Warning",
        "reportingComponent", "kubelet", "reportingInstance", p->a->node);
    if (!e)
        return;
    snprintf(path, sizeof(path), "/api/v1/namespaces/%s/events", p->ns);
    bsn_client_request_json(p->a->cl, "POST", path, NULL, e, NULL, NULL);
    json_decref(e);
}

/* ---- preparing volumes ---- */

static int
mkdir_p(const char *path, mode_t mode)
{
    char p[PATH_MAX];
    snprintf(p, sizeof(p), "%s", path);
    for (char *s = p + 1; (s = strchr(s, '/')); s++) {
        *s = '\0';
        if (mkdir(p, 0755) < 0 && errno != EEXIST)
            return -errno;
        *s = '/';
    }
    if (mkdir(p, mode) < 0 && errno != EEXIST)
        return -errno;
    return 0;
}

/* Unmounts every mount at or below dir (deepest first), from /proc/self/mounts. */
static int
umount_below(const char *dir)
{
    size_t dl = strlen(dir);
    int n = 0;
    for (int round = 0; round < 8; round++) {
        FILE *f = fopen("/proc/self/mounts", "r");
        if (!f)
            return n;
        char line[4096], found[PATH_MAX] = "";
        while (fgets(line, sizeof(line), f)) {
            char dev[1024], mnt[PATH_MAX];
            if (sscanf(line, "%1023s %4095s", dev, mnt) != 2)
                continue;
            if (!strncmp(mnt, dir, dl) && (mnt[dl] == '/' || !mnt[dl]) &&
                strlen(mnt) >= strlen(found))
                snprintf(found, sizeof(found), "%s", mnt);
        }
        fclose(f);
        if (!found[0] || umount2(found, MNT_DETACH) < 0)
            return n;
        n++;
    }
    return n;
}

static int
emptydir(struct agent_vols *v, const char *name, json_t *src, const char *path, struct bsn_err *err)
{
    int rc = mkdir_p(path, 0777);
    if (rc < 0)
        return bsn_err_set(err, 500, "InternalError", "mkdir %s: %s", path, strerror(-rc));
    chmod(path, 0777); /* any user of the containers may write, as upstream */
    const char *medium = json_string_value(json_object_get(src, "medium")) ?: "";
    if (strcmp(medium, "Memory") || geteuid() != 0) {
        /* on disk (without root a Memory emptyDir is a plain directory too) */
        v->size_limited |= json_object_get(src, "sizeLimit") != NULL;
        return 0;
    }
    size_t i;
    json_t *t;
    json_array_foreach(v->tmpfs, i, t)
    {
        if (!strcmp(json_string_value(t), path))
            return 0;
    }
    int64_t size = 0;
    json_t *lim = json_object_get(src, "sizeLimit");
    struct bsn_quantity q;
    if (lim && bsn_quantity_from_json(lim, &q, err) == 0)
        size = bsn_quantity_value(&q);
    if (size <= 0) {
        struct bsn_vol_node node;
        agent_node_alloc(v->p->a, &node);
        size = node.memory_bytes;
    }
    char opts[128];
    snprintf(opts, sizeof(opts), "size=%lld,mode=0777", (long long)size);
    if (mount("tmpfs", path, "tmpfs", MS_NOSUID | MS_NODEV, opts) < 0)
        return bsn_err_set(err, 500, "InternalError", "emptyDir %s: mount tmpfs: %s", name,
                           strerror(errno));
    json_array_append_new(v->tmpfs, json_string(path));
    return 0;
}

static unsigned
default_mode(json_t *src)
{
    json_t *m = json_object_get(src, "defaultMode");
    return json_is_integer(m) ? (unsigned)json_integer_value(m) & 07777 : 0644;
}

/* The token of a kubernetes.io/service-account-token Secret of the pod's service account,
 * or "" (then *pending while the Secret list is on its way). */
static void
sa_token(struct agent_vols *v, struct bsn_buf *out, bool *pending)
{
    char path[400];
    snprintf(path, sizeof(path), "/api/v1/namespaces/%s/secrets", v->p->ns);
    json_t *list = vol_get(v, "sa-token", path, pending);
    const char *sa = bsn_json_str(v->p->pod, "spec.serviceAccountName") ?: "default";
    size_t i;
    json_t *s;
    json_array_foreach(json_object_get(list, "items"), i, s)
    {
        const char *who = json_string_value(json_object_get(
            bsn_json_path(s, "metadata.annotations"), "kubernetes.io/service-account.name"));
        const char *tok = bsn_json_str(s, "data.token");
        if (!strcmp(bsn_json_str(s, "type") ?: "", "kubernetes.io/service-account-token") && who &&
            !strcmp(who, sa) && tok) {
            bsn_buf_reset(out);
            bsn_base64_decode(tok, strlen(tok), out);
            return;
        }
    }
}

/* Builds the payload of a configMap/secret/downwardAPI/projected volume. 1 = pending. */
static int
projected_payload(struct agent_vols *v, json_t *vol, struct bsn_vol_payload *pl,
                  struct bsn_err *err)
{
    struct agent_pod *p = v->p;
    struct bsn_vol_node node;
    agent_node_alloc(p->a, &node);
    bool pending = false;
    json_t *src;
    if ((src = json_object_get(vol, "configMap")) || (src = json_object_get(vol, "secret"))) {
        bool secret = json_object_get(vol, "secret") != NULL;
        const char *name =
            json_string_value(json_object_get(src, secret ? "secretName" : "name")) ?: "";
        json_t *obj = vol_ns_get(v, secret ? "secrets" : "configmaps", name, &pending);
        if (pending)
            return 1;
        return bsn_vol_project_keys(src, obj, secret, default_mode(src), pl, err);
    }
    if ((src = json_object_get(vol, "downwardAPI")))
        return bsn_vol_downward_items(json_object_get(src, "items"), p->pod, &node,
                                      default_mode(src), pl, err);
    src = json_object_get(vol, "projected");
    unsigned mode = default_mode(src);
    size_t i;
    json_t *s, *x;
    json_array_foreach(json_object_get(src, "sources"), i, s)
    {
        if ((x = json_object_get(s, "configMap")) || (x = json_object_get(s, "secret"))) {
            bool secret = json_object_get(s, "secret") != NULL;
            const char *name = json_string_value(json_object_get(x, "name")) ?: "";
            json_t *obj = vol_ns_get(v, secret ? "secrets" : "configmaps", name, &pending);
            if (!pending && bsn_vol_project_keys(x, obj, secret, mode, pl, err) < 0)
                return -1;
        } else if ((x = json_object_get(s, "downwardAPI"))) {
            if (bsn_vol_downward_items(json_object_get(x, "items"), p->pod, &node, mode, pl, err) <
                0)
                return -1;
        } else if ((x = json_object_get(s, "serviceAccountToken"))) {
            const char *path = json_string_value(json_object_get(x, "path")) ?: "token";
            if (bsn_vol_check_path(path, "serviceAccountToken path", err) < 0)
                return -1;
            struct bsn_buf tok;
            bsn_buf_init(&tok);
            sa_token(v, &tok, &pending);
            bsn_vol_payload_add(pl, path, tok.data ? tok.data : "", tok.len,
                                mode & 0600 ? mode : 0600);
            bsn_buf_fini(&tok);
        }
    }
    return pending ? 1 : 0;
}

/* The host path of a persistentVolumeClaim volume: 1 pending, 0 ok, -1 with err. */
static int
pvc_path(struct agent_vols *v, json_t *src, char *out, size_t n, struct bsn_err *err)
{
    const char *claim = json_string_value(json_object_get(src, "claimName")) ?: "";
    bool pending = false;
    json_t *pvc = vol_ns_get(v, "persistentvolumeclaims", claim, &pending);
    if (pending)
        return 1;
    if (!pvc)
        return bsn_err_set(err, 404, "NotFound", "persistentvolumeclaim \"%s\" not found", claim);
    const char *phase = bsn_json_str(pvc, "status.phase") ?: "";
    const char *pvname = bsn_json_str(pvc, "spec.volumeName") ?: "";
    if (strcmp(phase, "Bound") || !*pvname)
        return bsn_err_set(err, 409, "Conflict",
                           "PVC %s/%s has non-bound phase (\"%s\") or empty pvc.Spec.VolumeName "
                           "(\"%s\")",
                           v->p->ns, claim, phase, pvname);
    char key[320], path[400];
    snprintf(key, sizeof(key), "pv/%s", pvname);
    snprintf(path, sizeof(path), "/api/v1/persistentvolumes/%s", pvname);
    json_t *pv = vol_get(v, key, path, &pending);
    if (pending)
        return 1;
    if (!pv)
        return bsn_err_set(err, 404, "NotFound", "persistentvolume \"%s\" not found", pvname);
    const char *hp = bsn_json_str(pv, "spec.hostPath.path");
    const char *type = bsn_json_str(pv, "spec.hostPath.type");
    if (!hp)
        hp = bsn_json_str(pv, "spec.local.path");
    if (!hp)
        return bsn_err_set(err, 400, "Invalid",
                           "persistentvolume \"%s\": only hostPath and local volumes are "
                           "supported by this node",
                           pvname);
    /* the directory is created when missing (local-path provisioner, static PVs) */
    if (!type || !*type || !strcmp(type, "Directory"))
        type = "DirectoryOrCreate";
    if (bsn_vol_hostpath_check(hp, type, err) < 0)
        return -1;
    snprintf(out, n, "%s", hp);
    return 0;
}

/* Prepares one volume (refresh: only the projected kinds). 1 pending, 0 ok, -1 with err. */
static int
prepare(struct agent_vols *v, json_t *vol, bool refresh, struct bsn_err *err)
{
    const char *name = json_string_value(json_object_get(vol, "name")) ?: "";
    char path[PATH_MAX];
    snprintf(path, sizeof(path), "%s/%s", v->dir, name);
    json_t *src;
    if ((src = json_object_get(vol, "emptyDir"))) {
        if (refresh)
            return 0;
        if (emptydir(v, name, src, path, err) < 0)
            return -1;
    } else if ((src = json_object_get(vol, "hostPath"))) {
        if (refresh)
            return 0;
        const char *hp = json_string_value(json_object_get(src, "path"));
        const char *type = json_string_value(json_object_get(src, "type"));
        struct stat st;
        /* no type: no checks, but a missing path becomes a directory, as containerd does */
        if ((!type || !*type) && hp && hp[0] == '/' && lstat(hp, &st) < 0)
            type = "DirectoryOrCreate";
        if (bsn_vol_hostpath_check(hp, type, err) < 0)
            return -1;
        snprintf(path, sizeof(path), "%s", hp);
    } else if ((src = json_object_get(vol, "persistentVolumeClaim"))) {
        if (refresh)
            return 0;
        int rc = pvc_path(v, src, path, sizeof(path), err);
        if (rc != 0)
            return rc;
    } else if (json_object_get(vol, "configMap") || json_object_get(vol, "secret") ||
               json_object_get(vol, "downwardAPI") || json_object_get(vol, "projected")) {
        v->refreshable = true;
        struct bsn_vol_payload pl = {0};
        int rc = projected_payload(v, vol, &pl, err);
        if (rc == 0) {
            int mk = mkdir_p(path, 0755);
            if (mk < 0)
                rc = bsn_err_set(err, 500, "InternalError", "mkdir %s: %s", path, strerror(-mk));
        }
        bool changed = false;
        if (rc == 0)
            rc = bsn_vol_atomic_write(path, &pl, &changed, err);
        if (rc == 0 && changed && refresh)
            bsn_info("agent", "pod %s: volume %s updated", v->p->key, name);
        bsn_vol_payload_fini(&pl);
        if (rc != 0)
            return rc;
    } else {
        return bsn_err_set(err, 400, "Invalid", "volume %s: unsupported volume type on this node",
                           name);
    }
    json_object_set_new(v->paths, name, json_string(path));
    return 0;
}

/* Every volume; 1 while something is pending, -1 (why) at the first failure. */
static int
prepare_all(struct agent_vols *v, bool refresh, char *why, size_t whylen)
{
    size_t i;
    json_t *vol;
    bool pending = false;
    json_array_foreach(bsn_json_path(v->p->pod, "spec.volumes"), i, vol)
    {
        struct bsn_err err;
        bsn_err_clear(&err);
        int rc = prepare(v, vol, refresh, &err);
        if (rc < 0) {
            snprintf(why, whylen, "MountVolume.SetUp failed for volume \"%s\" : %s",
                     json_string_value(json_object_get(vol, "name")) ?: "", err.msg);
            return -1;
        }
        pending |= rc > 0;
    }
    return pending ? 1 : 0;
}

static void refresh_tick(struct bsn_loop *loop, void *data);

static void
arm_refresh(struct agent_vols *v)
{
    if ((v->refreshable || v->size_limited) && !v->evicted && !bsn_timer_active(&v->timer))
        bsn_timer_start(v->p->a->loop, &v->timer, BSN_VOL_REFRESH_MS, refresh_tick, v);
}

/* Re-reads the ConfigMaps/Secrets (keeps PVCs/PVs) and re-renders. */
static void
refresh_step(struct agent_vols *v)
{
    char why[1024];
    int rc = prepare_all(v, true, why, sizeof(why));
    if (rc == 1)
        return; /* the answers trigger a sync, which comes back here */
    if (rc < 0)
        bsn_info("agent", "pod %s: volume refresh: %s", v->p->key, why);
    v->refreshing = false;
    arm_refresh(v);
}

static uint64_t du_bytes; /* nftw has no user pointer; the agent runs on one loop thread */

static int
du_cb(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    BSN_UNUSED(path);
    BSN_UNUSED(flag);
    BSN_UNUSED(ftw);
    du_bytes += (uint64_t)sb->st_blocks * 512;
    return 0;
}

/*
 * The eviction-like check of disk emptyDirs with a sizeLimit (kubelet's local storage
 * eviction): usage (allocated blocks, like du) above the limit gets the Warning event
 * `Evicted` with upstream's message and the pod deleted (graceful), so its controller
 * replaces it. Returns true when the pod was evicted.
 */
static bool
check_limits(struct agent_vols *v)
{
    struct agent_pod *p = v->p;
    size_t i;
    json_t *vol;
    json_array_foreach(bsn_json_path(p->pod, "spec.volumes"), i, vol)
    {
        json_t *lim = bsn_json_path(vol, "emptyDir.sizeLimit");
        const char *medium = bsn_json_str(vol, "emptyDir.medium") ?: "";
        struct bsn_quantity q;
        struct bsn_err err;
        if (!lim || (!strcmp(medium, "Memory") && geteuid() == 0) ||
            bsn_quantity_from_json(lim, &q, &err) < 0)
            continue;
        const char *name = json_string_value(json_object_get(vol, "name")) ?: "";
        char path[PATH_MAX];
        snprintf(path, sizeof(path), "%s/%s", v->dir, name);
        du_bytes = 0;
        nftw(path, du_cb, 16, FTW_PHYS | FTW_MOUNT);
        if (du_bytes <= (uint64_t)bsn_quantity_value(&q))
            continue;
        char limit[BSN_QUANTITY_STR_MAX], msg[600], url[700];
        bsn_quantity_format(&q, limit, sizeof(limit));
        snprintf(msg, sizeof(msg), "Usage of EmptyDir volume \"%s\" exceeds the limit \"%s\". ",
                 name, limit);
        bsn_info("agent", "pod %s: %s(%llu bytes): evicting", p->key, msg,
                 (unsigned long long)du_bytes);
        vol_event(p, "Evicted", msg);
        snprintf(url, sizeof(url), "/api/v1/namespaces/%s/pods/%s", p->ns, p->name);
        json_t *opts = json_pack("{s:s,s:s,s:{s:s}}", "kind", "DeleteOptions", "apiVersion", "v1",
                                 "preconditions", "uid", p->uid);
        bsn_client_request_json(p->a->cl, "DELETE", url, NULL, opts, NULL, NULL);
        json_decref(opts);
        v->evicted = true;
        return true;
    }
    return false;
}

static void
refresh_tick(struct bsn_loop *loop, void *data)
{
    BSN_UNUSED(loop);
    struct agent_vols *v = data;
    if (v->size_limited && check_limits(v))
        return;
    if (!v->refreshable) {
        arm_refresh(v);
        return;
    }
    const char *k;
    json_t *o;
    void *tmp;
    json_object_foreach_safe(v->objs, tmp, k, o)
    {
        if (strncmp(k, "persistentvolumeclaims/", 23) && strncmp(k, "pv/", 3))
            json_object_del(v->objs, k);
    }
    v->refreshing = true;
    refresh_step(v);
}

/* An earlier agent's tmpfs mounts under <data>/pods/ (stale after a crash). */
static void
cleanup_stale(struct bsn_agent *a)
{
    char dir[PATH_MAX];
    snprintf(dir, sizeof(dir), "%s/pods", a->data_dir);
    int n = umount_below(dir);
    if (n)
        bsn_info("agent", "unmounted %d stale volume mounts under %s", n, dir);
}

int
agent_volumes_setup(struct agent_pod *p, char *why, size_t whylen)
{
    static bool stale_done; /* once per process: the first pod, before any mount of ours */
    if (!stale_done) {
        stale_done = true;
        cleanup_stale(p->a);
    }
    struct agent_vols *v = p->vols;
    if (!v) {
        v = p->vols = bsn_calloc(1, sizeof(*v));
        v->p = p;
        v->gen = ++vols_gen;
        snprintf(v->dir, sizeof(v->dir), "%s/.volumes", p->log_dir);
        v->paths = json_object();
        v->tmpfs = json_array();
        bsn_timer_init(&v->timer);
    }
    if (v->ready) {
        if (v->refreshing)
            refresh_step(v);
        return 0;
    }
    if (!json_array_size(bsn_json_path(p->pod, "spec.volumes"))) {
        v->ready = true; /* nothing to prepare: no directory either */
        return 0;
    }
    int mk = mkdir_p(v->dir, 0750);
    if (mk < 0) {
        snprintf(why, whylen, "mkdir %s: %s", v->dir, strerror(-mk));
        return -1;
    }
    int rc = prepare_all(v, false, why, whylen);
    if (rc < 0) {
        bsn_info("agent", "pod %s: %s", p->key, why);
        vol_event(p, "FailedMount", why);
        json_decref(v->objs); /* read them again on the retry */
        v->objs = NULL;
        v->gen = ++vols_gen;
        return -1;
    }
    if (rc == 0) {
        v->ready = true;
        arm_refresh(v);
    }
    return rc;
}

void
agent_volumes_teardown(struct agent_pod *p)
{
    struct agent_vols *v = p->vols;
    if (!v)
        return;
    bsn_timer_stop(p->a->loop, &v->timer);
    size_t i;
    json_t *t;
    json_array_foreach(v->tmpfs, i, t)
    {
        if (umount2(json_string_value(t), MNT_DETACH) < 0 && errno != EINVAL && errno != ENOENT)
            bsn_warn("agent", "pod %s: umount %s: %s", p->key, json_string_value(t),
                     strerror(errno));
    }
    umount_below(v->dir); /* anything else (a crash between mount and record) */
    char cmd[PATH_MAX];
    snprintf(cmd, sizeof(cmd), "%s", v->dir);
    bsn_vol_rm_rf(cmd);
    snprintf(cmd, sizeof(cmd), "%s/.termination", p->log_dir);
    bsn_vol_rm_rf(cmd);
    json_decref(v->objs);
    json_decref(v->paths);
    json_decref(v->tmpfs);
    free(v);
    p->vols = NULL;
}

/* ---- mounts of one container ---- */

static const char *
env_lookup(const char *name, size_t len, void *data)
{
    struct agent_env *e = data;
    for (size_t i = e->n; i-- > 0;)
        if (!strncmp(e->kv[i], name, len) && e->kv[i][len] == '=')
            return e->kv[i] + len + 1;
    return NULL;
}

static char *
keep(struct agent_mounts *m, char *s)
{
    m->owned = bsn_realloc(m->owned, (m->nowned + 1) * sizeof(char *));
    m->owned[m->nowned++] = s;
    return s;
}

static struct bsn_mount *
add_mount(struct agent_mounts *m)
{
    m->m = bsn_realloc(m->m, (m->n + 1) * sizeof(*m->m));
    memset(&m->m[m->n], 0, sizeof(*m->m));
    return &m->m[m->n++];
}

void
agent_mounts_free(struct agent_mounts *m)
{
    for (size_t i = 0; i < m->nowned; i++)
        free(m->owned[i]);
    free(m->owned);
    free(m->m);
    memset(m, 0, sizeof(*m));
}

static json_t *
find_volume(json_t *pod, const char *name)
{
    size_t i;
    json_t *vol;
    json_array_foreach(bsn_json_path(pod, "spec.volumes"), i, vol)
    {
        if (!strcmp(json_string_value(json_object_get(vol, "name")) ?: "", name))
            return vol;
    }
    return NULL;
}

int
agent_volumes_mounts(struct agent_pod *p, struct agent_ctr *c, struct agent_env *e,
                     struct agent_mounts *m, char *why, size_t whylen)
{
    struct agent_vols *v = p->vols;
    bool process = !strcmp(bsn_runtime_name(p->a->rt), "process");
    size_t i;
    json_t *vm;
    json_array_foreach(json_object_get(c->spec, "volumeMounts"), i, vm)
    {
        const char *name = json_string_value(json_object_get(vm, "name")) ?: "";
        const char *mpath = json_string_value(json_object_get(vm, "mountPath")) ?: "";
        json_t *vol = find_volume(p->pod, name);
        const char *host = v ? json_string_value(json_object_get(v->paths, name)) : NULL;
        if (!vol || !host) {
            snprintf(why, whylen, "volumeMount %s: no volume named %s", mpath, name);
            return -1;
        }
        bool projected = json_object_get(vol, "configMap") || json_object_get(vol, "secret") ||
                         json_object_get(vol, "downwardAPI") || json_object_get(vol, "projected");
        const char *sub = json_string_value(json_object_get(vm, "subPath"));
        const char *subexpr = json_string_value(json_object_get(vm, "subPathExpr"));
        char *expanded = NULL;
        if (subexpr && *subexpr)
            sub = expanded = bsn_agent_expand(subexpr, env_lookup, e);
        char *src = NULL;
        if (sub && *sub) {
            struct bsn_err err;
            src = bsn_vol_subpath_resolve(host, sub, !projected, &err);
            if (!src) {
                snprintf(why, whylen,
                         "failed to prepare subPath for volumeMount \"%s\" of "
                         "container \"%s\": %s",
                         name, c->name, err.msg);
                free(expanded);
                return -1;
            }
        } else {
            src = bsn_strdup(host);
        }
        free(expanded);
        struct bsn_mount *mt = add_mount(m);
        mt->host_path = keep(m, src);
        mt->container_path = keep(m, bsn_strdup(mpath));
        /* projected kinds are always read-only, as upstream */
        mt->readonly = json_is_true(json_object_get(vm, "readOnly")) || projected ||
                       json_is_true(bsn_json_path(vol, "persistentVolumeClaim.readOnly"));
        const char *prop = json_string_value(json_object_get(vm, "mountPropagation")) ?: "";
        mt->propagation = !strcmp(prop, "Bidirectional")     ? BSN_PROP_BIDIRECTIONAL
                          : !strcmp(prop, "HostToContainer") ? BSN_PROP_HOST_TO_CONTAINER
                                                             : BSN_PROP_PRIVATE;
        if (process) {
            /* BOSUN_VOLUME_<NAME>: the first mount of a volume wins */
            char key[300];
            size_t k = 0;
            k += (size_t)snprintf(key, sizeof(key), "BOSUN_VOLUME_");
            for (const char *s = name; *s && k + 1 < sizeof(key); s++)
                key[k++] = *s >= 'a' && *s <= 'z'     ? (char)(*s - 32)
                           : (*s == '-' || *s == '.') ? '_'
                                                      : *s;
            key[k] = '\0';
            bool have = false;
            for (size_t j = 0; j < e->n && !have; j++)
                have = !strncmp(e->kv[j], key, k) && e->kv[j][k] == '=';
            if (!have)
                agent_env_set(e, key, src);
        }
    }
    /* terminationMessagePath: a file in the pod dir, bind-mounted (oci) */
    if (!process) {
        const char *tp = json_string_value(json_object_get(c->spec, "terminationMessagePath"))
                             ?: "/dev/termination-log";
        if (*tp == '/') {
            char dir[PATH_MAX], file[PATH_MAX + 200];
            snprintf(dir, sizeof(dir), "%s/.termination", p->log_dir);
            mkdir_p(dir, 0755);
            snprintf(file, sizeof(file), "%s/%s", dir, c->name);
            FILE *f = fopen(file, "w"); /* empty for this run */
            if (f) {
                fclose(f);
                chmod(file, 0666);
                struct bsn_mount *mt = add_mount(m);
                mt->host_path = keep(m, bsn_strdup(file));
                mt->container_path = keep(m, bsn_strdup(tp));
            }
        }
    }
    return 0;
}

/* ---- termination message ---- */

/* The last 80 lines / 2048 bytes of the container's log messages (CRI format). */
static void
log_tail(struct agent_ctr *c, char *out, size_t n)
{
    char path[1200];
    agent_log_path(c->pod, c->name, c->restart_count, path, sizeof(path));
    FILE *f = fopen(path, "r");
    if (!f)
        return;
    /* a ring of the last 80 messages */
    enum { LINES = 80 };
    char *ring[LINES] = {0};
    size_t head = 0, cnt = 0;
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    struct bsn_buf cur;
    bsn_buf_init(&cur);
    while ((len = getline(&line, &cap, f)) > 0) {
        const char *ts, *msg;
        size_t tsl, ml;
        bool partial;
        if (line[len - 1] == '\n')
            line[--len] = '\0';
        if (bsn_agent_cri_parse(line, (size_t)len, &ts, &tsl, &msg, &ml, &partial) < 0)
            continue;
        if (cur.len < 4096)
            bsn_buf_append(&cur, msg, BSN_MIN(ml, 4096));
        if (partial)
            continue;
        bsn_buf_putc(&cur, '\0');
        free(ring[head]);
        ring[head] = bsn_buf_take(&cur);
        bsn_buf_init(&cur);
        head = (head + 1) % LINES;
        if (cnt < LINES)
            cnt++;
    }
    free(line);
    bsn_buf_fini(&cur);
    fclose(f);
    struct bsn_buf b;
    bsn_buf_init(&b);
    for (size_t i = 0; i < cnt; i++) {
        char *s = ring[(head + LINES - cnt + i) % LINES];
        bsn_buf_puts(&b, s);
        bsn_buf_putc(&b, '\n');
    }
    for (size_t i = 0; i < LINES; i++)
        free(ring[i]);
    size_t keep_n = BSN_MIN(b.len, (size_t)2048);
    snprintf(out, n, "%.*s", (int)keep_n, b.data ? b.data + b.len - keep_n : "");
    bsn_buf_fini(&b);
}

void
agent_termination_message(struct agent_ctr *c)
{
    struct agent_pod *p = c->pod;
    char file[PATH_MAX];
    snprintf(file, sizeof(file), "%s/.termination/%s", p->log_dir, c->name);
    size_t cap = BSN_MIN(sizeof(c->term.message) - 1, (size_t)TERM_MSG_MAX);
    FILE *f = fopen(file, "r");
    size_t got = 0;
    char buf[TERM_MSG_MAX + 1];
    if (f) {
        got = fread(buf, 1, cap, f);
        fclose(f);
    }
    if (got) {
        memcpy(c->term.message, buf, got);
        c->term.message[got] = '\0';
        return;
    }
    const char *pol = json_string_value(json_object_get(c->spec, "terminationMessagePolicy"));
    if (pol && !strcmp(pol, "FallbackToLogsOnError") && c->term.exit_code != 0)
        log_tail(c, c->term.message, sizeof(c->term.message));
}
