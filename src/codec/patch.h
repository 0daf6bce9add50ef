/*
 * patch.h - the three Kubernetes patch types over jansson trees.
 *
 *   application/json-patch+json            RFC 6902 JSON Patch      bsn_json_patch_apply
 *   application/merge-patch+json           RFC 7386 Merge Patch     bsn_merge_patch_apply
 *   application/strategic-merge-patch+json strategic merge patch    bsn_smp_apply
 *
 * Errors: a malformed patch document is 400 BadRequest; a well-formed patch that cannot be
 * applied to this object (missing path, failed test, missing merge key) is 422 Invalid.
 * Every apply function is atomic: on error the target is left unchanged.
 */
#ifndef BSN_CODEC_PATCH_H
#define BSN_CODEC_PATCH_H

#include <jansson.h>
#include <stdbool.h>

#include "base/err.h"

#define BSN_JSON_PATCH_MAX_OPS 10000

/*
 * Applies a JSON Patch (an array of operations: add, remove, replace, move, copy, test; JSON
 * pointers with ~0/~1 escapes and "-" for the end of an array) to *doc. On success *doc may be
 * replaced by a new value (the old reference is released). Returns 0 or -1 with err set.
 */
int bsn_json_patch_apply(json_t **doc, const json_t *patch, struct bsn_err *err);

/*
 * Resolves a JSON pointer ("/spec/containers/0/image") inside root. Returns a borrowed
 * reference or NULL. Exposed for callers that validate paths.
 */
json_t *bsn_json_pointer_get(const json_t *root, const char *pointer);

/* RFC 7386: returns a new value (target is not modified; target may be NULL). */
json_t *bsn_merge_patch_apply(const json_t *target, const json_t *patch);

/*
 * Strategic merge patch for built-in kinds. api_group is "" for core ("v1"), "apps", "batch",
 * ...; kind is the object's kind. Lists are merged by their upstream patchMergeKey (containers
 * by name, ports by containerPort, ...) or replaced when atomic; supports the directives
 * $patch (replace|delete|merge), $retainKeys, $deleteFromPrimitiveList/<f>,
 * $setElementOrder/<f>; null deletes a field. Kinds without a schema get merge-patch
 * semantics for maps and replacement for lists. Returns 0 or -1 with err set (*doc unchanged).
 */
int bsn_smp_apply(json_t **doc, const json_t *patch, const char *api_group, const char *kind,
                  struct bsn_err *err);

/*
 * True when the API server should accept strategic merge patches for this kind (built-in
 * types). Custom resources must be rejected with 415 UnsupportedMediaType, as upstream does.
 */
bool bsn_smp_supported(const char *api_group, const char *kind);

#endif
