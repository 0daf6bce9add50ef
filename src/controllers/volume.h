/*
 * volume.h - PersistentVolume / PersistentVolumeClaim binding (volume.c) and the local-path
 * provisioner (localpath.c): the pure decisions, unit-tested on tables, and the constants the
 * scheduler shares.
 *
 * Binding follows upstream's PV controller: a Pending claim is bound to the Available volume
 * pre-bound to it (spec.claimRef, or the claim's spec.volumeName), otherwise to the smallest
 * Available volume of the same storageClassName whose capacity, accessModes, volumeMode and
 * the claim's selector fit. A claim of a WaitForFirstConsumer class waits for the scheduler's
 * volume.kubernetes.io/selected-node annotation; a claim of the `bosun.dev/local-path` class
 * then gets a provisioned hostPath volume `pvc-<uid>` pinned to that node.
 */
#ifndef BSN_CONTROLLERS_VOLUME_H
#define BSN_CONTROLLERS_VOLUME_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#define BSN_LOCALPATH_PROVISIONER "bosun.dev/local-path"
#define BSN_LOCALPATH_CLASS       "local-path"
#define BSN_SELECTED_NODE_ANN     "volume.kubernetes.io/selected-node"
#define BSN_PROVISIONED_BY_ANN    "pv.kubernetes.io/provisioned-by"

/* The claim's storage class name ("" when none). */
const char *bsn_pvc_class(const json_t *claim);
/* Requested storage of a claim / capacity of a volume in bytes (0 when absent). */
int64_t bsn_pvc_request(const json_t *claim);
int64_t bsn_pv_capacity(const json_t *pv);

/*
 * True when pv may be bound to claim: not being deleted, its claimRef empty or naming this
 * claim (uid too when set), phase not Released/Failed, same class, every access mode of the
 * claim offered, same volumeMode, enough capacity, labels matching the claim's selector and,
 * when node is not NULL, a nodeAffinity (if any) admitting that node (by name or
 * kubernetes.io/hostname).
 */
bool bsn_pv_matches(const json_t *claim, const json_t *pv, const char *node);

/*
 * The volume for claim among pvs (borrowed): one pre-bound to it (pv.spec.claimRef, or named by
 * the claim's spec.volumeName) first, then the smallest matching one; NULL when none.
 */
json_t *bsn_pv_find_best(const json_t *claim, json_t *const *pvs, size_t n, const char *node);

/*
 * The phase a volume should have: "Available" without claimRef (or pre-bound to a claim that
 * does not exist yet), "Bound" when claim (NULL = not found) is the one in its claimRef,
 * "Released" when that claim is gone (or has another uid).
 */
const char *bsn_pv_want_phase(const json_t *pv, const json_t *claim);

/*
 * The local-path PersistentVolume for a claim on node: name pvc-<uid>, hostPath
 * <base>/pvc-<uid>_<ns>_<name> (DirectoryOrCreate), node affinity kubernetes.io/hostname In
 * [node], capacity = the claim's request, reclaim policy from the class (default Delete),
 * claimRef to the claim. Caller owns the result.
 */
json_t *bsn_localpath_pv(const json_t *claim, const json_t *sc, const char *node, const char *base);
/*
 * Removes a provisioned directory (recursively) when it lies directly under base and its name
 * starts with "pvc-"; 0 when removed or absent, -1 otherwise.
 */
int bsn_localpath_remove(const char *base, const char *path);

#endif
