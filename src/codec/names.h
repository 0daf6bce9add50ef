/*
 * names.h - Kubernetes name/label validation with upstream's exact messages.
 *
 * Each validator returns the number of problems found (0 = valid) and appends to `out` (zero it
 * first; NULL is allowed) the
 * messages upstream's apimachinery validation produces, so the API server can turn each into a
 * `FieldValueInvalid` cause: `metadata.name: Invalid value: "Foo": <message>`.
 */
#ifndef BSN_CODEC_NAMES_H
#define BSN_CODEC_NAMES_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#define BSN_DNS1123_SUBDOMAIN_MAX 253
#define BSN_DNS1123_LABEL_MAX     63
#define BSN_LABEL_VALUE_MAX       63
#define BSN_QUALIFIED_NAME_MAX    63
#define BSN_ANNOTATIONS_TOTAL_MAX (256 * 1024)

struct bsn_name_msgs {
    int n;
    char msg[3][512];
};

/* Object names of most kinds (Pods, Deployments, ConfigMaps...). */
int bsn_validate_dns1123_subdomain(const char *v, struct bsn_name_msgs *out);
/* Namespaces, container names, port names' bodies. */
int bsn_validate_dns1123_label(const char *v, struct bsn_name_msgs *out);
/* Service names. */
int bsn_validate_dns1035_label(const char *v, struct bsn_name_msgs *out);
/* Label and annotation keys: [prefix/]name. */
int bsn_validate_qualified_name(const char *v, struct bsn_name_msgs *out);
/* Label values (may be empty). */
int bsn_validate_label_value(const char *v, struct bsn_name_msgs *out);
/*
 * Annotations object: keys are qualified names (checked lowercased, as upstream) and the sum
 * of key and value lengths must not exceed 256 KiB ("must have at most 262144 bytes").
 */
int bsn_validate_annotations(const json_t *annotations, struct bsn_name_msgs *out);

/* Container/service port names (IANA_SVC_NAME: <= 15 chars, a-z0-9 and '-', a letter). */
int bsn_validate_port_name(const char *v, struct bsn_name_msgs *out);
/* Port numbers 1..65535. */
int bsn_validate_port_num(long long port, struct bsn_name_msgs *out);
/* Environment variable names ([-._a-zA-Z][-._a-zA-Z0-9]*). */
int bsn_validate_env_var_name(const char *v, struct bsn_name_msgs *out);
/* ConfigMap/Secret data keys ([-._a-zA-Z0-9]+, <= 253, not "." or "..", not starting ".."). */
int bsn_validate_config_map_key(const char *v, struct bsn_name_msgs *out);

/* Boolean shorthands. */
bool bsn_is_dns1123_subdomain(const char *v);
bool bsn_is_dns1123_label(const char *v);
bool bsn_is_qualified_name(const char *v);
bool bsn_is_label_value(const char *v);

#endif
