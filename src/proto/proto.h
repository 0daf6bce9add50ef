/*
 * proto.h - Kubernetes protobuf request bodies <-> the JSON objects the API server works on.
 *
 * kubectl's typed clients send bodies as `application/vnd.kubernetes.protobuf`: the 4-byte
 * magic "k8s\0" followed by a runtime.Unknown message {typeMeta{apiVersion, kind}, raw,
 * contentEncoding, contentType} whose raw bytes are the object's own message (no TypeMeta).
 * bsn_proto_decode() turns that into the JSON object upstream's JSON encoding of the same
 * object would produce (apiVersion and kind first, omitempty fields dropped, Quantity,
 * IntOrString, Time, MicroTime, Duration, RawExtension, FieldsV1 and bytes in their JSON
 * forms). A schema table (gen/schema.txt) describes the supported kinds; unknown fields are
 * skipped, as upstream's decoder does.
 *
 * Usage in a handler:
 *   if (content type is BSN_PROTO_CONTENT_TYPE) {
 *       json_t *obj = bsn_proto_decode(body, len, &err);   // NULL: reply with err
 *       ... continue as for a JSON body ...
 *   }
 */
#ifndef BSN_PROTO_PROTO_H
#define BSN_PROTO_PROTO_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "base/buf.h"
#include "base/err.h"

#define BSN_PROTO_CONTENT_TYPE "application/vnd.kubernetes.protobuf"
#define BSN_PROTO_MAGIC        "k8s\0"
#define BSN_PROTO_MAGIC_LEN    4
/* Caps on untrusted input: body size, message nesting, JSON values produced. */
#define BSN_PROTO_MAX_BYTES (16u << 20)
#define BSN_PROTO_MAX_DEPTH 64
#define BSN_PROTO_MAX_NODES (1u << 20)

/*
 * Decodes a Kubernetes protobuf message (the "k8s\0" magic + runtime.Unknown envelope with
 * typeMeta{apiVersion,kind} and raw) into the JSON object upstream would serialize, including
 * apiVersion and kind. Returns a new reference, or NULL with err set:
 *   400 BadRequest        malformed wire data (message names the message and field);
 *   413 RequestEntityTooLarge  over BSN_PROTO_MAX_BYTES or BSN_PROTO_MAX_NODES;
 *   415 UnsupportedMediaType   a kind we have no schema for, or a contentEncoding (gzip).
 * Never crashes on bad input.
 */
json_t *bsn_proto_decode(const void *data, size_t len, struct bsn_err *err);

/* Per-call caps for bsn_proto_decode_ex(); a zero member means the default above. */
struct bsn_proto_limits {
    size_t max_bytes;
    int max_depth;
    size_t max_nodes;
};

/* As bsn_proto_decode() with caller-chosen caps (e.g. a smaller node budget per request). */
json_t *bsn_proto_decode_ex(const void *data, size_t len, const struct bsn_proto_limits *lim,
                            struct bsn_err *err);

/*
 * Encodes a JSON object of a known kind (by its apiVersion and kind) as Kubernetes protobuf,
 * envelope included, appending to out. Non-pointer fields missing from the JSON are written
 * with their zero values, as Go's generated marshallers do, so the bytes match what a Go
 * client sends for the same object. Returns 0, or -1 with err (415 for an unknown kind,
 * 400 when a value has the wrong JSON type).
 */
int bsn_proto_encode(const json_t *obj, struct bsn_buf *out, struct bsn_err *err);

/*
 * True when a Content-Type header value names Kubernetes protobuf: the media type
 * (parameters after ';' ignored, case-insensitive, surrounding blanks allowed) is
 * BSN_PROTO_CONTENT_TYPE. "application/vnd.kubernetes.protobuf;stream=watch" is false: that
 * is a watch stream, not an object body.
 */
bool bsn_proto_content_type(struct bsn_str ct);

/* True when we have a schema for apiVersion/kind (e.g. to pick protobuf for a response). */
bool bsn_proto_has_kind(const char *api_version, const char *kind);

/*
 * Unknown-field detection (fieldValidation=Strict|Warn): appends to out, comma-separated,
 * `unknown field "<path>"` for each field of obj (an object of api_version/kind, or a merge or
 * strategic-merge patch of one) that the kind's schema does not have, at most max of them.
 * Returns how many there are (0 = none), or -1 when the kind has no schema here (unchecked).
 */
int bsn_proto_unknown_fields(const json_t *obj, const char *api_version, const char *kind,
                             struct bsn_buf *out, int max);

/*
 * OpenAPI v3: the object schema of a kind (properties with their types; nested types are
 * added to `schemas` as "io.k8s.bosun.<Type>" and referenced with allOf/$ref). NULL if the
 * kind has no schema here.
 */
json_t *bsn_proto_openapi_schema(const char *api_version, const char *kind, json_t *schemas);

#endif
