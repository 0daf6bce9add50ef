/*
 * yaml.h - YAML to JSON object trees and back, with Kubernetes' (sigs.k8s.io/yaml, go-yaml v2)
 * typing rules.
 *
 * Parsing yields jansson values: the API server treats a YAML body exactly like the JSON
 * document kubectl would have sent. Scalars resolve as go-yaml v2 does (YAML 1.1 flavour):
 *   null, ~, empty           -> null
 *   y/yes/true/on (3 cases)  -> true, n/no/false/off -> false
 *   ints: decimal, 0x.., 0o.., leading-0 octal, 0b.., '_' separators
 *   floats: 1.5, 1e3, .5; integral floats become JSON integers (what JSON encoding of the
 *   decoded value yields); .inf/.nan are rejected (JSON cannot carry them)
 *   quoted or block scalars -> strings, always.
 * Anchors and aliases are expanded (copies, never shared), with a cap on the total expanded
 * size (billion-laughs protection); merge keys `<<` are applied (explicit keys win).
 * Non-string map keys are converted to their string form (true -> "true", 1 -> "1").
 */
#ifndef BSN_CODEC_YAML_H
#define BSN_CODEC_YAML_H

#include <jansson.h>
#include <stddef.h>

#include "base/buf.h"
#include "base/err.h"

#define BSN_YAML_MAX_BYTES (16u << 20) /* input size cap */
#define BSN_YAML_MAX_DEPTH 100         /* nesting cap */
#define BSN_YAML_MAX_NODES (1u << 20)  /* cap on nodes after alias expansion */

/*
 * Parses a YAML stream into a JSON array holding one element per non-empty document (documents
 * that are empty or null are dropped, as kubectl does). On error returns NULL and sets err to
 * 400 BadRequest with "yaml: line L, column C: problem".
 */
json_t *bsn_yaml_parse(const char *data, size_t len, struct bsn_err *err);

/*
 * As bsn_yaml_parse, but a key repeated in one mapping is an error (for strict field
 * validation): 400 BadRequest `yaml: line L: key "name" already set in map`.
 */
json_t *bsn_yaml_parse_strict(const char *data, size_t len, struct bsn_err *err);

/*
 * Parses a stream that must hold exactly one document; returns that document (a null document
 * gives JSON null). Errors as bsn_yaml_parse, plus 400 when there are several documents.
 */
json_t *bsn_yaml_parse_one(const char *data, size_t len, struct bsn_err *err);

/*
 * Appends v as block-style YAML the way `kubectl -o yaml` prints it: keys sorted, 2-space
 * indent, sequences not indented under their key, strings quoted only when a plain scalar would
 * not read back as the same string, multi-line strings as literal blocks. Returns 0, or -1 if
 * v cannot be emitted (out is then unspecified).
 */
int bsn_yaml_emit(const json_t *v, struct bsn_buf *out);

/*
 * Resolves a plain (unquoted) scalar as go-yaml v2 would and returns a new JSON value, or NULL
 * for values JSON cannot represent (.inf, .nan). Exposed for tests and the emitter.
 */
json_t *bsn_yaml_resolve_plain(const char *s, size_t len);

#endif
