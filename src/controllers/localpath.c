/*
 * localpath.c - the `bosun.dev/local-path` provisioner's pure parts: the PersistentVolume it
 * creates for a claim (a hostPath directory per claim, pinned to the node the claim's first
 * pod was scheduled to) and the removal of that directory when the volume is deleted.
 *
 * volume.c drives it: a Pending claim of a local-path class that carries the scheduler's
 * volume.kubernetes.io/selected-node annotation gets the volume (created pre-bound through
 * spec.claimRef, so the binder picks it at once); a Released one with reclaim policy Delete is
 * deleted and its directory removed when it is on this machine (the server's data directory).
 */
#define _XOPEN_SOURCE 700
#include <ftw.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "codec/json.h"
#include "controllers/volume.h"

json_t *
bsn_localpath_pv(const json_t *claim, const json_t *sc, const char *node, const char *base)
{
    const char *ns = bsn_json_str(claim, "metadata.namespace") ?: "";
    const char *name = bsn_json_str(claim, "metadata.name") ?: "";
    const char *uid = bsn_json_str(claim, "metadata.uid") ?: "";
    char pvname[300], path[1200];
    snprintf(pvname, sizeof(pvname), "pvc-%s", uid);
    snprintf(path, sizeof(path), "%s/pvc-%s_%s_%s", base, uid, ns, name);
    const char *policy = json_string_value(json_object_get(sc, "reclaimPolicy")) ?: "Delete";
    json_t *modes = bsn_json_path(claim, "spec.accessModes");
    json_t *storage = bsn_json_path(claim, "spec.resources.requests.storage");
    const char *vm = bsn_json_str(claim, "spec.volumeMode") ?: "Filesystem";
    json_t *term = json_pack("{s:[{s:s,s:s,s:[s]}]}", "matchExpressions", "key",
                             "kubernetes.io/hostname", "operator", "In", "values", node);
    json_t *spec =
        json_pack("{s:{s:O},s:O,s:s,s:s,s:s,s:{s:s,s:s},s:{s:{s:[o]}},s:{s:s,s:s,s:s,s:s,s:s}}",
                  "capacity", "storage", storage ? storage : json_string("0"), "accessModes",
                  modes ? modes : json_array(), "persistentVolumeReclaimPolicy", policy,
                  "storageClassName", bsn_pvc_class(claim), "volumeMode", vm, "hostPath", "path",
                  path, "type", "DirectoryOrCreate", "nodeAffinity", "required",
                  "nodeSelectorTerms", term, "claimRef", "kind", "PersistentVolumeClaim",
                  "apiVersion", "v1", "namespace", ns, "name", name, "uid", uid);
    if (!storage)
        json_decref(json_object_get(json_object_get(spec, "capacity"), "storage"));
    if (!modes)
        json_decref(json_object_get(spec, "accessModes"));
    return json_pack("{s:s,s:s,s:{s:s,s:{s:s,s:s}},s:o}", "apiVersion", "v1", "kind",
                     "PersistentVolume", "metadata", "name", pvname, "annotations",
                     BSN_PROVISIONED_BY_ANN, BSN_LOCALPATH_PROVISIONER,
                     "local.path.provisioner/selected-node", node, "spec", spec);
}

static int
rm_one(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)ftw;
    return flag == FTW_DP ? rmdir(p) : unlink(p);
}

int
bsn_localpath_remove(const char *base, const char *path)
{
    size_t n = strlen(base);
    if (!n || strncmp(path, base, n) || path[n] != '/' || strncmp(path + n + 1, "pvc-", 4) ||
        strchr(path + n + 1, '/') || strstr(path, ".."))
        return -1;
    struct stat st;
    if (lstat(path, &st) < 0)
        return 0;
    return nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS) < 0 ? -1 : 0;
}
