/*
 * kinds.h - private helpers shared by the per-kind strategies in src/api/kinds/.
 *
 * JSON access by dotted path, defaulting, validation causes worded as upstream's field errors
 * ("Required value", "Invalid value: ...", "Unsupported value: ..."), name and quantity checks,
 * label selector formatting and Table cell helpers. Not part of the API component's public
 * interface: only the files in src/api/kinds include this.
 */
#ifndef BSN_API_KINDS_H
#define BSN_API_KINDS_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "api/registry.h"
#include "base/err.h"

/* ---- JSON access ---- */

/* Value at a dotted path ("spec.template.spec"), NULL if any step is missing. Keys that
 * contain dots (annotation and label keys) must be looked up with json_object_get. */
json_t *kj_get(const json_t *o, const char *path);
/* String at path or NULL if missing / not a string. */
const char *kj_str(const json_t *o, const char *path);
/* String at path or dflt. */
const char *kj_str_or(const json_t *o, const char *path, const char *dflt);
/* Integer at path or dflt (non-integers give dflt). */
json_int_t kj_int(const json_t *o, const char *path, json_int_t dflt);
/* true if the value at path is JSON true. */
bool kj_true(const json_t *o, const char *path);
/* Object member key of o, created as {} when missing or not an object; NULL if o itself is
 * not an object (every kj_def_* accepts NULL). */
json_t *kj_obj(json_t *o, const char *key);
/* Sets key when it is missing or null. */
void kj_def_str(json_t *o, const char *key, const char *v);
void kj_def_int(json_t *o, const char *key, json_int_t v);
void kj_def_bool(json_t *o, const char *key, bool v);
/* Array size at path (0 if missing). */
size_t kj_len(const json_t *o, const char *path);

/* ---- validation causes (all add one cause to err and return -1) ---- */

int kv_required(struct bsn_err *err, const char *field, const char *detail);
int kv_forbidden(struct bsn_err *err, const char *field, const char *detail);
/* Invalid value with a pre-formatted value text (as Go's %v/%q would print it). */
int kv_invalid_raw(struct bsn_err *err, const char *field, const char *value, const char *detail);
int kv_invalid_s(struct bsn_err *err, const char *field, const char *value, const char *detail);
int kv_invalid_i(struct bsn_err *err, const char *field, json_int_t value, const char *detail);
/* Invalid value for an arbitrary JSON value (strings quoted, numbers plain). */
int kv_invalid_j(struct bsn_err *err, const char *field, const json_t *value, const char *detail);
/* supported is a NULL-terminated list. */
int kv_unsupported(struct bsn_err *err, const char *field, const char *value,
                   const char *const *supported);
int kv_duplicate(struct bsn_err *err, const char *field, const char *value);
int kv_toolong(struct bsn_err *err, const char *field, size_t max);

/* Checks that the value at path (if present) is one of supported; empty allowed if not req. */
int kv_enum(struct bsn_err *err, const json_t *o, const char *key, const char *field,
            const char *const *supported, bool required);
/* Non-negative integer at o.key (if present). */
int kv_nonneg(struct bsn_err *err, const json_t *o, const char *key, const char *field);
/* Integer >= min at o.key (if present). */
int kv_min(struct bsn_err *err, const json_t *o, const char *key, const char *field,
           json_int_t min);
/* field immutable: compares o.path with old.path (absent == absent). */
int kv_immutable(struct bsn_err *err, const json_t *obj, const json_t *old, const char *path);

/* ---- names (backed by codec/names.h) ---- */

/* Each returns NULL when valid, else upstream's explanation text. */
const char *kn_dns1123_label(const char *s);
const char *kn_dns1123_subdomain(const char *s);
const char *kn_dns1035_label(const char *s);
/* IANA_SVC_NAME (port names): <= 15 chars, [a-z0-9-], a letter, no '--', no leading '-'. */
const char *kn_port_name(const char *s);
/* Label/annotation-style qualified name ("prefix/name"). */
const char *kn_qualified_name(const char *s);
/* C identifier-ish env var name check is lenient upstream; config keys: [-._a-zA-Z0-9]+. */
const char *kn_config_key(const char *s);
/* Label value: <= 63, empty or alnum start/end with [-_.] inside. */
const char *kn_label_value(const char *s);
/* An IPv4 or IPv6 address / a CIDR ("10.0.0.0/8", "fd00::/64"). */
bool kn_ip(const char *s);
bool kn_cidr(const char *s);
/* Validates a name with the given rule and adds cause at field. */
int kn_check(struct bsn_err *err, const char *field, const char *name,
             const char *(*fn)(const char *));

/* ---- quantities (backed by codec/quantity.h) ---- */

/* Parses a Kubernetes quantity (string or JSON number) into its value in base units. */
int kq_parse(const json_t *v, double *out);
int kq_parse_str(const char *s, double *out);
/* Compares two quantities exactly (*out <0, 0, >0); -1 if either does not parse. */
int kq_cmp(const json_t *a, const json_t *b, int *out);
/* Rewrites every parseable quantity in a resource map to its canonical string, rounded up to
 * milli precision ("0.5" -> "500m", 1 -> "1", "1024Mi" -> "1Gi", "0.0001" -> "1m"), as
 * upstream stores ResourceLists. */
void kq_canonicalize(json_t *map);
/* Text of a quantity value as given (strings as-is, numbers printed). */
void kq_text(const json_t *v, char *out, size_t n);

/* ---- label selectors (match/print via codec/selector.h; validation with field paths) ---- */

/* metav1.LabelSelector as selector text ("app=web,tier in (a,b)"), "" if empty. */
void ks_selector_string(const json_t *sel, char *out, size_t n);
/* map[string]string as labels.FormatLabels ("a=b,c=d", "<none>" if empty). */
void ks_labels_string(const json_t *map, char *out, size_t n);
/* Go's %#v of a map[string]string: map[string]string{"a":"b", "c":"d"}. */
void ks_go_map(const json_t *map, char *out, size_t n);
/* Does the label map satisfy the LabelSelector (matchLabels + matchExpressions)? */
bool ks_selector_matches(const json_t *sel, const json_t *labels);
/* Does a plain map selector (RC/Service style) match labels? */
bool ks_map_matches(const json_t *sel, const json_t *labels);
/* Validates a metav1.LabelSelector at field; returns -1 on problems. */
int ks_validate_selector(struct bsn_err *err, const json_t *sel, const char *field);
/* Validates a label map (keys qualified names, values label values). */
int ks_validate_labels(struct bsn_err *err, const json_t *labels, const char *field);

/* ---- Table cells ---- */

/* snprintf at buf+*off, advancing *off; never writes past n, *off stays < n (truncates). */
void kc_appendf(char *buf, size_t n, size_t *off, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
void kc_str(json_t *cells, const char *s);
void kc_int(json_t *cells, json_int_t v);
void kc_bool(json_t *cells, bool v);
/* Age cell from metadata.creationTimestamp ("<unknown>" if missing). */
void kc_age(json_t *cells, const json_t *obj);
/* Name cell (metadata.name). */
void kc_name(json_t *cells, const json_t *obj);
/* Time-since text for an RFC 3339 timestamp ("<unknown>" when empty). */
void kc_since(const char *ts, char *out, size_t n);
/* Human duration as upstream's duration.HumanDuration for a number of seconds. */
void kc_human_duration(int64_t seconds, char *out, size_t n);
/* Pod template's container names / images joined by ",". */
void kc_containers(const json_t *podspec, bool images, char *out, size_t n);

/* Ingress points of a load balancer status ("1.2.3.4,host.example"); the server prints wide,
 * so nothing is truncated. */
void kc_lb_ingress(const json_t *ingress, char *out, size_t n);

/* ---- shared hooks ---- */

/* Strips .status on create. */
void kh_strip_status(json_t *obj);
/* Keeps old .status on update of the main resource. */
void kh_keep_status(json_t *obj, const json_t *old);
/* On status update keeps old .spec (everything but metadata and status). */
void kh_keep_spec(json_t *obj, const json_t *old);

/* ---- pod spec (podspec.c) ---- */

/* Defaults a PodSpec (for pods and templates); is_pod adds admission-time pod defaults. */
void kp_default_podspec(json_t *spec, bool is_pod);
/* Defaults a PodTemplateSpec ({metadata, spec}). */
void kp_default_template(json_t *tmpl);
/* Validates a PodSpec at prefix (e.g. "spec" or "spec.template.spec"). */
int kp_validate_podspec(struct bsn_err *err, const json_t *spec, const char *prefix);
/* Validates a template: labels, spec, and that restartPolicy is in allowed (NULL = any). */
int kp_validate_template(struct bsn_err *err, const json_t *tmpl, const char *prefix,
                         const char *const *restart_allowed);
/* Validates a container resources block. */
int kp_validate_resources(struct bsn_err *err, const json_t *res, const char *prefix);
/* Affinity, topology spread, security contexts, host aliases, DNS config, host ports
 * (pod.c). */
int kp_validate_scheduling(struct bsn_err *err, const json_t *spec, const char *prefix);
/* QoS class of a pod spec: "Guaranteed", "Burstable" or "BestEffort". */
const char *kp_qos_class(const json_t *spec);

/* Common column-set fragments. */
#define KC_NAME                                                                                   \
    {                                                                                             \
        "Name", "string", "name",                                                                 \
            "Name must be unique within a namespace. Is required when creating resources, "       \
            "although "                                                                           \
            "some resources may allow a client to request the generation of an appropriate name " \
            "automatically. Name is primarily intended for creation idempotence and "             \
            "configuration "                                                                      \
            "definition. Cannot be updated.",                                                     \
            0                                                                                     \
    }
#define KC_AGE                                                                                    \
    {                                                                                             \
        "Age", "string", "",                                                                      \
            "CreationTimestamp is a timestamp representing the server time when this object was " \
            "created. It is not guaranteed to be set in happens-before order across separate "    \
            "operations. Clients may not set this value. It is represented in RFC3339 form and "  \
            "is in "                                                                              \
            "UTC.",                                                                               \
            0                                                                                     \
    }
#define KC_END                    \
    {                             \
        NULL, NULL, NULL, NULL, 0 \
    }

#endif
