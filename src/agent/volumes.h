/*
 * volumes.h - pod volumes on the node (kubelet's volume manager, small).
 *
 * Every volume of a pod lives under <pod dir>/.volumes/<volume name> in the agent's data dir
 * (the pod dir also holds the container logs; the dot keeps it apart from container names):
 *
 *   emptyDir            a directory; `medium: Memory` is a tmpfs mounted there (root only;
 *                       size = sizeLimit, else the node's allocatable memory); a sizeLimit
 *                       on disk is checked every BSN_VOL_REFRESH_MS (the pod is evicted)
 *   configMap, secret,  files written by the atomic writer below: a timestamped directory
 *   downwardAPI,        `..<time>.<rand>`, a `..data` symlink to it swapped with rename(2),
 *   projected           and one `<name> -> ..data/<name>` symlink per top-level entry, so a
 *                       reader never sees a half-written update. Re-rendered every
 *                       BSN_VOL_REFRESH_MS while the pod runs (updates propagate).
 *   hostPath            the host path itself (type checks as upstream); no directory here
 *   persistentVolumeClaim  the bound PV's spec.hostPath.path or spec.local.path (created
 *                       when missing)
 *
 * The pure parts (payload building, the atomic writer, downward API values, resourceFieldRef,
 * subPath and hostPath checks) are public bsn_vol_* functions, unit-tested without an agent.
 * The agent side is agent_volumes_* (agent_int.h), implemented in volumes.c.
 */
#ifndef BSN_AGENT_VOLUMES_H
#define BSN_AGENT_VOLUMES_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/err.h"

/* How often configMap/secret/downwardAPI/projected volumes are re-read and re-rendered. */
#define BSN_VOL_REFRESH_MS 10000
/* Largest file a projected volume writes (a ConfigMap is capped at 1 MiB by the API). */
#define BSN_VOL_FILE_MAX (1u << 20)

/* One file of a projected volume: path relative to the volume, content, permission bits. */
struct bsn_vol_file {
    char *path;
    char *data;
    size_t len;
    unsigned mode;
};

struct bsn_vol_payload {
    struct bsn_vol_file *files;
    size_t n, cap;
};

/* Adds (or replaces, same path) a file; data is copied. */
void bsn_vol_payload_add(struct bsn_vol_payload *pl, const char *path, const char *data, size_t len,
                         unsigned mode);
void bsn_vol_payload_fini(struct bsn_vol_payload *pl);

/*
 * A payload path as upstream validates item paths: relative, not empty, no `..` component,
 * not starting with `..`. Also used for subPath (which may not be absolute or contain `..`).
 */
int bsn_vol_check_path(const char *path, const char *what, struct bsn_err *err);

/*
 * Writes pl into dir atomically (kubelet's AtomicWriter): when the content or a mode differs
 * from what dir/..data holds, the files go into a new `..<timestamp>` directory, `..data` is
 * re-pointed to it with one rename(2), top-level symlinks are added/removed and the old
 * directory is deleted. *changed (may be NULL) tells whether anything was written. dir must
 * exist. Returns 0 or -1 with err.
 */
int bsn_vol_atomic_write(const char *dir, const struct bsn_vol_payload *pl, bool *changed,
                         struct bsn_err *err);

/*
 * A configMap or secret volume source (or a projected configMap/secret source) against the
 * object (NULL = not found): all keys (data, then binaryData/stringData) or just `items`
 * (key, path, mode), with default_mode. Secret data is base64-decoded. Errors as upstream:
 * `configmap "x" not found` (unless optional), `configmap references non-existent config key:
 * k` (items naming a missing key, unless optional). Returns 0 or -1 with err.
 */
int bsn_vol_project_keys(json_t *src, json_t *obj, bool secret, unsigned default_mode,
                         struct bsn_vol_payload *pl, struct bsn_err *err);

/* The node's allocatable resources, the default for resourceFieldRef of unlimited resources. */
struct bsn_vol_node {
    int64_t cpu_millis;
    int64_t memory_bytes;
    int64_t ephemeral_bytes;
};

/*
 * resourceFieldRef (env and downwardAPI): ref is {containerName, resource, divisor};
 * container is the default container name (env: the container itself). limits.cpu,
 * requests.cpu, limits.memory, requests.memory, limits.ephemeral-storage,
 * requests.ephemeral-storage; an unset limit is the node's allocatable; the value is
 * ceil(quantity / divisor) (cpu in millicores, divisor default "1"), as upstream.
 */
int bsn_vol_resource_value(json_t *pod, const char *container, json_t *ref,
                           const struct bsn_vol_node *node, char *out, size_t n,
                           struct bsn_err *err);

/*
 * A downwardAPI fieldRef as a volume file renders it: metadata.name/namespace/uid,
 * metadata.labels and metadata.annotations (all, `k="v"` lines sorted by key, values quoted
 * like Go's %q), metadata.labels['k'] / metadata.annotations['k']. Heap string, or NULL with
 * err for an unsupported path.
 */
char *bsn_vol_field_value(json_t *pod, const char *path, struct bsn_err *err);

/* downwardAPI items (fieldRef, resourceFieldRef, path, mode) into pl. */
int bsn_vol_downward_items(json_t *items, json_t *pod, const struct bsn_vol_node *node,
                           unsigned default_mode, struct bsn_vol_payload *pl, struct bsn_err *err);

/*
 * hostPath type check (and creation) as upstream: "" none; DirectoryOrCreate (mkdir -p, 0755);
 * Directory; FileOrCreate (an empty 0644 file; the parent must exist); File; Socket;
 * CharDevice; BlockDevice. Error: `hostPath type check failed: <path> is not a directory`.
 */
int bsn_vol_hostpath_check(const char *path, const char *type, struct bsn_err *err);

/*
 * The host path a subPath of a volume at base names: base/sub after bsn_vol_check_path, with
 * every symlink resolved and required to stay inside base (a symlink in the volume cannot
 * point the mount outside it). A missing subPath is created as a directory (0755) when
 * create is set, as kubelet does. Heap string or NULL with err.
 */
char *bsn_vol_subpath_resolve(const char *base, const char *sub, bool create, struct bsn_err *err);

/* rm -rf that never follows symlinks nor crosses into other filesystems (mounts). */
void bsn_vol_rm_rf(const char *path);

#endif
