/*
 * volume.c - the PersistentVolume controller: binds claims to volumes, keeps both phases
 * (Pending/Bound/Lost for claims, Available/Bound/Released for volumes), reclaims released
 * volumes (Delete removes the volume, Retain keeps it Released) and drives the local-path
 * provisioner (localpath.c) for claims of its classes once the scheduler picked a node.
 *
 * Binding writes, in upstream's order: the volume's spec.claimRef, its status Bound, the
 * claim's spec.volumeName (+ bind-completed annotations), its status Bound with capacity and
 * access modes. A volume chosen for a claim is remembered until the informer shows its
 * claimRef, so a stale cache never binds it twice.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/log.h"
#include "base/mem.h"
#include "codec/json.h"
#include "codec/quantity.h"
#include "codec/selector.h"
#include "controllers/ctrl_int.h"
#include "controllers/volume.h"

#define PV_PATH  "/api/v1/persistentvolumes"
#define PVC_PATH "/api/v1/persistentvolumeclaims"
#define SC_PATH  "/apis/storage.k8s.io/v1/storageclasses"

/* ------------------------------------------------------------------ pure */

const char *
bsn_pvc_class(const json_t *claim)
{
    const char *c = bsn_json_str(claim, "spec.storageClassName");
    if (!c) {
        json_t *ann = bsn_json_path(claim, "metadata.annotations");
        c = json_string_value(json_object_get(ann, "volume.beta.kubernetes.io/storage-class"));
    }
    return c ? c : "";
}

int64_t
bsn_pvc_request(const json_t *claim)
{
    return bsn_quantity_json_value(bsn_json_path(claim, "spec.resources.requests.storage"), false);
}

int64_t
bsn_pv_capacity(const json_t *pv)
{
    return bsn_quantity_json_value(bsn_json_path(pv, "spec.capacity.storage"), false);
}

static bool
has_mode(const json_t *modes, const char *m)
{
    size_t i;
    json_t *v;
    json_array_foreach(modes, i, v)
    {
        if (!strcmp(json_string_value(v) ?: "", m))
            return true;
    }
    return false;
}

/* The PV's nodeAffinity admits node (matched by name through kubernetes.io/hostname or
 * matchFields metadata.name; other keys are left to the scheduler). */
static bool
affinity_admits(const json_t *pv, const char *node)
{
    json_t *terms = bsn_json_path(pv, "spec.nodeAffinity.required.nodeSelectorTerms");
    if (!json_is_array(terms) || json_array_size(terms) == 0)
        return true;
    size_t i, j;
    json_t *t, *r;
    json_array_foreach(terms, i, t)
    {
        bool ok = true;
        json_t *lists[2] = {json_object_get(t, "matchExpressions"),
                            json_object_get(t, "matchFields")};
        for (int l = 0; l < 2; l++)
            json_array_foreach(lists[l], j, r)
            {
                const char *key = json_string_value(json_object_get(r, "key")) ?: "";
                const char *op = json_string_value(json_object_get(r, "operator")) ?: "";
                if (strcmp(key, "kubernetes.io/hostname") && strcmp(key, "metadata.name"))
                    continue;
                bool in = has_mode(json_object_get(r, "values"), node);
                if ((!strcmp(op, "In") && !in) || (!strcmp(op, "NotIn") && in))
                    ok = false;
            }
        if (ok)
            return true;
    }
    return false;
}

static bool
claimref_is(const json_t *pv, const json_t *claim, bool *uid_match)
{
    json_t *ref = bsn_json_path(pv, "spec.claimRef");
    *uid_match = false;
    if (!ref)
        return false;
    if (strcmp(json_string_value(json_object_get(ref, "namespace")) ?: "",
               bsn_json_str(claim, "metadata.namespace") ?: "") ||
        strcmp(json_string_value(json_object_get(ref, "name")) ?: "",
               bsn_json_str(claim, "metadata.name") ?: ""))
        return false;
    const char *uid = json_string_value(json_object_get(ref, "uid"));
    if (uid && *uid && strcmp(uid, bsn_json_str(claim, "metadata.uid") ?: ""))
        return false;
    *uid_match = uid && *uid;
    return true;
}

bool
bsn_pv_matches(const json_t *claim, const json_t *pv, const char *node)
{
    if (bsn_json_str(pv, "metadata.deletionTimestamp"))
        return false;
    bool uidm;
    if (bsn_json_path(pv, "spec.claimRef") && !claimref_is(pv, claim, &uidm))
        return false;
    const char *phase = bsn_json_str(pv, "status.phase") ?: "";
    if (!strcmp(phase, "Released") || !strcmp(phase, "Failed"))
        return false;
    if (strcmp(bsn_json_str(pv, "spec.storageClassName") ?: "", bsn_pvc_class(claim)))
        return false;
    size_t i;
    json_t *m;
    json_array_foreach(bsn_json_path(claim, "spec.accessModes"), i, m)
    {
        if (!has_mode(bsn_json_path(pv, "spec.accessModes"), json_string_value(m) ?: ""))
            return false;
    }
    if (strcmp(bsn_json_str(pv, "spec.volumeMode") ?: "Filesystem",
               bsn_json_str(claim, "spec.volumeMode") ?: "Filesystem"))
        return false;
    if (bsn_pv_capacity(pv) < bsn_pvc_request(claim))
        return false;
    json_t *sel = bsn_json_path(claim, "spec.selector");
    if (sel) {
        struct bsn_selector s;
        struct bsn_err err;
        if (bsn_selector_from_json(sel, &s, &err) < 0)
            return false;
        bool ok = bsn_selector_match(&s, bsn_json_path(pv, "metadata.labels"));
        bsn_selector_fini(&s);
        if (!ok)
            return false;
    }
    return !node || affinity_admits(pv, node);
}

json_t *
bsn_pv_find_best(const json_t *claim, json_t *const *pvs, size_t n, const char *node)
{
    const char *want = bsn_json_str(claim, "spec.volumeName");
    json_t *best = NULL;
    for (size_t i = 0; i < n; i++) {
        bool uidm;
        if (!bsn_pv_matches(claim, pvs[i], node))
            continue;
        if (claimref_is(pvs[i], claim, &uidm) ||
            (want && !strcmp(want, bsn_json_str(pvs[i], "metadata.name") ?: "")))
            return pvs[i];
        if (want && *want)
            continue; /* the claim names its volume: only that one */
        if (bsn_json_path(pvs[i], "spec.claimRef"))
            continue;
        if (!best || bsn_pv_capacity(pvs[i]) < bsn_pv_capacity(best))
            best = pvs[i];
    }
    return best;
}

const char *
bsn_pv_want_phase(const json_t *pv, const json_t *claim)
{
    json_t *ref = bsn_json_path(pv, "spec.claimRef");
    if (!ref)
        return "Available";
    const char *uid = json_string_value(json_object_get(ref, "uid"));
    if (!claim)
        return uid && *uid ? "Released" : "Available";
    if (uid && *uid && strcmp(uid, bsn_json_str(claim, "metadata.uid") ?: ""))
        return "Released";
    const char *vn = bsn_json_str(claim, "spec.volumeName") ?: "";
    if (!strcmp(vn, bsn_json_str(pv, "metadata.name") ?: ""))
        return "Bound";
    return uid && *uid ? "Bound" : "Available";
}

/* ------------------------------------------------------------------ controller */

struct volctrl {
    struct bsn_ctrl *ctx;
    struct bsn_informer *pvs, *pvcs, *classes;
    struct bsn_workqueue *claims, *volumes;
    struct bsn_map assumed;      /* pv name -> strdup(claim uid) until the cache shows it */
    struct bsn_map provisioning; /* claim uid -> (void*)1 while the PV create is in flight */
    char base[1024];             /* <data dir>/storage */
};

static void
claim_changed(json_t *obj, void *data)
{
    struct volctrl *v = data;
    char key[512];
    bsn_obj_key(obj, key, sizeof(key));
    bsn_workqueue_add(v->claims, key);
    const char *vn = bsn_json_str(obj, "spec.volumeName");
    if (vn && *vn)
        bsn_workqueue_add(v->volumes, vn);
}

static void
claim_updated(json_t *old, json_t *obj, void *data)
{
    claim_changed(obj, data);
}

static void
claim_deleted(json_t *obj, void *data)
{
    struct volctrl *v = data;
    /* every volume whose claimRef names it becomes Released */
    const struct bsn_map *all = bsn_informer_ns(v->pvs, NULL);
    const char *k;
    void *pv;
    size_t it = 0;
    bool m;
    while (all && bsn_map_next(all, &it, &k, &pv))
        if (claimref_is(pv, obj, &m))
            bsn_workqueue_add(v->volumes, k);
}

static void
pv_changed(json_t *obj, void *data)
{
    struct volctrl *v = data;
    char key[300];
    bsn_obj_key(obj, key, sizeof(key));
    if (bsn_json_path(obj, "spec.claimRef"))
        free(bsn_map_del(&v->assumed, key));
    bsn_workqueue_add(v->volumes, key);
    json_t *ref = bsn_json_path(obj, "spec.claimRef");
    if (ref) {
        char ck[512];
        snprintf(ck, sizeof(ck), "%s/%s",
                 json_string_value(json_object_get(ref, "namespace")) ?: "",
                 json_string_value(json_object_get(ref, "name")) ?: "");
        bsn_workqueue_add(v->claims, ck);
    } else {
        /* a new Available volume may satisfy a Pending claim */
        const struct bsn_map *all = bsn_informer_ns(v->pvcs, NULL);
        const char *k;
        void *c;
        size_t it = 0;
        while (all && bsn_map_next(all, &it, &k, &c))
            if (!strcmp(bsn_json_str(c, "status.phase") ?: "Pending", "Pending"))
                bsn_workqueue_add(v->claims, k);
    }
}

static void
pv_updated(json_t *old, json_t *obj, void *data)
{
    pv_changed(obj, data);
}

static void
pv_deleted(json_t *obj, void *data)
{
    struct volctrl *v = data;
    char key[300];
    bsn_obj_key(obj, key, sizeof(key));
    free(bsn_map_del(&v->assumed, key));
    json_t *ref = bsn_json_path(obj, "spec.claimRef");
    if (ref) {
        char ck[512];
        snprintf(ck, sizeof(ck), "%s/%s",
                 json_string_value(json_object_get(ref, "namespace")) ?: "",
                 json_string_value(json_object_get(ref, "name")) ?: "");
        bsn_workqueue_add(v->claims, ck);
    }
}

static void
send_patch(struct volctrl *v, const char *path, json_t *body, struct bsn_workqueue *q,
           const char *key)
{
    bsn_ctrl_send(v->ctx, "PATCH", path, "application/merge-patch+json", body, q, key, NULL, NULL);
    json_decref(body);
}

static void
pv_status(struct volctrl *v, const json_t *pv, const char *phase)
{
    if (!strcmp(bsn_json_str(pv, "status.phase") ?: "", phase))
        return;
    char path[400];
    snprintf(path, sizeof(path), PV_PATH "/%s/status", bsn_json_str(pv, "metadata.name"));
    send_patch(v, path, json_pack("{s:{s:s}}", "status", "phase", phase), v->volumes,
               bsn_json_str(pv, "metadata.name"));
}

static void
claim_path(const json_t *claim, const char *sub, char *out, size_t n)
{
    snprintf(out, n, "/api/v1/namespaces/%s/persistentvolumeclaims/%s%s",
             bsn_json_str(claim, "metadata.namespace"), bsn_json_str(claim, "metadata.name"), sub);
}

/* Completes the binding of claim to pv (both sides, whatever is missing). */
static void
bind(struct volctrl *v, const char *key, const json_t *claim, const json_t *pv)
{
    const char *pvname = bsn_json_str(pv, "metadata.name");
    const char *uid = bsn_json_str(claim, "metadata.uid") ?: "";
    char path[600];
    bool m;
    if (!claimref_is(pv, claim, &m) || !m) {
        free(bsn_map_put(&v->assumed, pvname, bsn_strdup(uid)));
        snprintf(path, sizeof(path), PV_PATH "/%s", pvname);
        send_patch(v, path,
                   json_pack("{s:{s:s},s:{s:{s:s,s:s,s:s,s:s,s:s,s:s}}}", "metadata",
                             "resourceVersion", bsn_json_str(pv, "metadata.resourceVersion") ?: "",
                             "spec", "claimRef", "kind", "PersistentVolumeClaim", "apiVersion",
                             "v1", "namespace", bsn_json_str(claim, "metadata.namespace"), "name",
                             bsn_json_str(claim, "metadata.name"), "uid", uid, "resourceVersion",
                             bsn_json_str(claim, "metadata.resourceVersion") ?: ""),
                   v->claims, key);
    }
    pv_status(v, pv, "Bound");
    if (strcmp(bsn_json_str(claim, "spec.volumeName") ?: "", pvname)) {
        claim_path(claim, "", path, sizeof(path));
        send_patch(v, path,
                   json_pack("{s:{s:s,s:{s:s,s:s}},s:{s:s}}", "metadata", "resourceVersion",
                             bsn_json_str(claim, "metadata.resourceVersion") ?: "", "annotations",
                             "pv.kubernetes.io/bind-completed", "yes",
                             "pv.kubernetes.io/bound-by-controller", "yes", "spec", "volumeName",
                             pvname),
                   v->claims, key);
    }
    json_t *st = json_pack("{s:s,s:O,s:O}", "phase", "Bound", "accessModes",
                           bsn_json_path(pv, "spec.accessModes") ?: json_null(), "capacity",
                           bsn_json_path(pv, "spec.capacity") ?: json_null());
    if (!bsn_json_equal(bsn_json_path(claim, "status"), st)) {
        claim_path(claim, "/status", path, sizeof(path));
        send_patch(v, path, json_pack("{s:o}", "status", st), v->claims, key);
    } else {
        json_decref(st);
    }
}

static void
claim_phase(struct volctrl *v, const char *key, const json_t *claim, const char *phase)
{
    if (!strcmp(bsn_json_str(claim, "status.phase") ?: "", phase))
        return;
    char path[600];
    claim_path(claim, "/status", path, sizeof(path));
    send_patch(v, path, json_pack("{s:{s:s}}", "status", "phase", phase), v->claims, key);
}

struct prov_ctx {
    struct volctrl *v;
    char uid[64];
    char key[512];
};

static void
provision_done(int status, const char *body, size_t len, void *data)
{
    struct prov_ctx *p = data;
    if (status >= 300 && status != 409)
        bsn_warn("volume", "provision %s: HTTP %d %.*s", p->key, status, (int)BSN_MIN(len, 200),
                 body);
    free(bsn_map_del(&p->v->provisioning, p->uid));
    free(p);
}

static void
provision(struct volctrl *v, const char *key, const json_t *claim, const json_t *sc,
          const char *node)
{
    const char *uid = bsn_json_str(claim, "metadata.uid") ?: "";
    if (bsn_map_get(&v->provisioning, uid))
        return;
    json_t *pv = bsn_localpath_pv(claim, sc, node, v->base);
    bsn_map_put(&v->provisioning, uid, bsn_strdup("1"));
    struct prov_ctx *p = bsn_calloc(1, sizeof(*p));
    p->v = v;
    snprintf(p->uid, sizeof(p->uid), "%s", uid);
    snprintf(p->key, sizeof(p->key), "%s", key);
    bsn_ctrl_send(v->ctx, "POST", PV_PATH, NULL, pv, v->claims, key, provision_done, p);
    bsn_ctrl_event(v->ctx, claim, "Normal", "ProvisioningSucceeded",
                   "Successfully provisioned volume %s", bsn_json_str(pv, "metadata.name"));
    json_decref(pv);
}

static int
reconcile_claim(const char *key, void *data)
{
    struct volctrl *v = data;
    json_t *claim = bsn_informer_get(v->pvcs, key);
    if (!claim)
        return 0;
    if (!bsn_informer_synced(v->pvs) || !bsn_informer_synced(v->classes))
        return 200;
    if (bsn_ctrl_deleting(claim))
        return 0;
    const char *vn = bsn_json_str(claim, "spec.volumeName");
    const char *uid = bsn_json_str(claim, "metadata.uid") ?: "";
    if (vn && *vn) {
        json_t *pv = bsn_informer_get(v->pvs, vn);
        if (!pv) {
            if (!bsn_map_get(&v->assumed, vn) &&
                !strcmp(bsn_json_str(claim, "status.phase") ?: "", "Bound")) {
                claim_phase(v, key, claim, "Lost");
                bsn_ctrl_event(v->ctx, claim, "Warning", "ClaimLost",
                               "Bound claim has lost reference to PersistentVolume. Data on the "
                               "volume is lost!");
            }
            return 0;
        }
        bool m;
        if (bsn_json_path(pv, "spec.claimRef") && !claimref_is(pv, claim, &m)) {
            claim_phase(v, key, claim, "Pending"); /* the volume belongs to another claim */
            return 0;
        }
        bind(v, key, claim, pv);
        return 0;
    }
    const char *cls = bsn_pvc_class(claim);
    json_t *sc = *cls ? bsn_informer_get(v->classes, cls) : NULL;
    json_t *ann = bsn_json_path(claim, "metadata.annotations");
    const char *node = json_string_value(json_object_get(ann, BSN_SELECTED_NODE_ANN));
    bool wffc = !strcmp(json_string_value(json_object_get(sc, "volumeBindingMode")) ?: "",
                        "WaitForFirstConsumer");
    if (wffc && !node) {
        claim_phase(v, key, claim, "Pending");
        bsn_ctrl_event(v->ctx, claim, "Normal", "WaitForFirstConsumer",
                       "waiting for first consumer to be created before binding");
        return 0;
    }
    /* candidates: every volume not assumed by another claim */
    size_t n = bsn_informer_len(v->pvs), np = 0;
    json_t **pvs = bsn_calloc(n + 1, sizeof(*pvs));
    const struct bsn_map *all = bsn_informer_ns(v->pvs, NULL);
    const char *k;
    void *o;
    size_t it = 0;
    while (all && bsn_map_next(all, &it, &k, &o)) {
        const char *a = bsn_map_get(&v->assumed, k);
        if (a && strcmp(a, uid))
            continue;
        pvs[np++] = o;
    }
    json_t *best = bsn_pv_find_best(claim, pvs, np, wffc ? node : NULL);
    free(pvs);
    if (best) {
        bind(v, key, claim, best);
        return 0;
    }
    claim_phase(v, key, claim, "Pending");
    const char *prov = json_string_value(json_object_get(sc, "provisioner"));
    if (prov && !strcmp(prov, BSN_LOCALPATH_PROVISIONER)) {
        if (node)
            provision(v, key, claim, sc, node);
        else
            bsn_ctrl_event(v->ctx, claim, "Warning", "ProvisioningFailed",
                           "%s volumes need a node: use volumeBindingMode WaitForFirstConsumer",
                           BSN_LOCALPATH_PROVISIONER);
    } else if (prov) {
        bsn_ctrl_event(v->ctx, claim, "Normal", "ExternalProvisioning",
                       "Waiting for a volume to be created either by the external provisioner "
                       "'%s' or manually by the system administrator.",
                       prov);
    } else if (!sc) {
        bsn_ctrl_event(v->ctx, claim, "Normal", "FailedBinding",
                       *cls ? "storageclass.storage.k8s.io \"%s\" not found"
                            : "no persistent volumes available for this claim and no storage "
                              "class is set%s",
                       cls);
    }
    return 0;
}

static void
delete_volume(struct volctrl *v, const json_t *pv)
{
    const char *name = bsn_json_str(pv, "metadata.name");
    json_t *ann = bsn_json_path(pv, "metadata.annotations");
    const char *by = json_string_value(json_object_get(ann, BSN_PROVISIONED_BY_ANN));
    const char *path = bsn_json_str(pv, "spec.hostPath.path");
    if (by && !strcmp(by, BSN_LOCALPATH_PROVISIONER) && path &&
        bsn_localpath_remove(v->base, path) < 0)
        bsn_warn("volume", "could not remove %s", path);
    char p[400];
    snprintf(p, sizeof(p), PV_PATH "/%s", name);
    bsn_ctrl_send(v->ctx, "DELETE", p, NULL, NULL, v->volumes, name, NULL, NULL);
}

static int
reconcile_volume(const char *key, void *data)
{
    struct volctrl *v = data;
    json_t *pv = bsn_informer_get(v->pvs, key);
    if (!pv || bsn_ctrl_deleting(pv))
        return 0;
    if (!bsn_informer_synced(v->pvcs))
        return 200;
    json_t *ref = bsn_json_path(pv, "spec.claimRef");
    json_t *claim = NULL;
    char ck[512] = "";
    if (ref) {
        snprintf(ck, sizeof(ck), "%s/%s",
                 json_string_value(json_object_get(ref, "namespace")) ?: "",
                 json_string_value(json_object_get(ref, "name")) ?: "");
        claim = bsn_informer_get(v->pvcs, ck);
    }
    const char *phase = bsn_pv_want_phase(pv, claim);
    if (!strcmp(phase, "Released")) {
        const char *policy = bsn_json_str(pv, "spec.persistentVolumeReclaimPolicy") ?: "Retain";
        if (!strcmp(policy, "Delete")) {
            delete_volume(v, pv);
            return 0;
        }
    }
    if (!strcmp(phase, "Bound") && claim &&
        strcmp(bsn_json_str(claim, "spec.volumeName") ?: "", key))
        bsn_workqueue_add(v->claims, ck); /* binding in progress: finish the claim's side */
    pv_status(v, pv, phase);
    return 0;
}

static void
default_base(const struct bsn_controllers_opts *o, char *out, size_t n)
{
    const char *d = o->data_dir;
    const char *home = getenv("HOME");
    if (d && *d)
        snprintf(out, n, "%s/storage", d);
    else if (geteuid() == 0 || !home)
        snprintf(out, n, "/var/lib/bosun/storage");
    else
        snprintf(out, n, "%s/.local/share/bosun/storage", home);
}

void *
bsn_volume_ctrl_new(struct bsn_ctrl *ctx, const struct bsn_controllers_opts *o)
{
    struct volctrl *v = bsn_calloc(1, sizeof(*v));
    v->ctx = ctx;
    default_base(o, v->base, sizeof(v->base));
    bsn_map_init(&v->assumed);
    bsn_map_init(&v->provisioning);
    v->claims = bsn_workqueue_new(ctx->loop, "pvc-binder", reconcile_claim, v);
    v->volumes = bsn_workqueue_new(ctx->loop, "pv-binder", reconcile_volume, v);
    v->pvs = bsn_ctrl_informer(ctx, PV_PATH);
    v->pvcs = bsn_ctrl_informer(ctx, PVC_PATH);
    v->classes = bsn_ctrl_informer(ctx, SC_PATH);
    struct bsn_informer_handler hc = {claim_changed, claim_updated, claim_deleted, v};
    bsn_informer_add_handler(v->pvcs, &hc);
    struct bsn_informer_handler hv = {pv_changed, pv_updated, pv_deleted, v};
    bsn_informer_add_handler(v->pvs, &hv);
    return v;
}

static void
free_values(struct bsn_map *m)
{
    size_t it = 0;
    void *val;
    while (bsn_map_next(m, &it, NULL, &val))
        free(val);
    bsn_map_fini(m);
}

void
bsn_volume_ctrl_free(void *self)
{
    struct volctrl *v = self;
    if (!v)
        return;
    bsn_workqueue_free(v->claims);
    bsn_workqueue_free(v->volumes);
    free_values(&v->assumed);
    free_values(&v->provisioning);
    free(v);
}
