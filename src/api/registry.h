/*
 * registry.h - the resource registry: one row per served resource (group/version/kind/plural,
 * scope, subresources) and the per-kind strategy that defaults, validates and prints it.
 *
 * Adding a kind is one row in the table in registry.c plus its strategy in src/api/kinds/.
 * Objects are jansson trees in their wire (JSON) form; strategies mutate them in place.
 */
#ifndef BSN_API_REGISTRY_H
#define BSN_API_REGISTRY_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "base/err.h"

enum {
    BSN_SUB_STATUS = 1 << 0,
    BSN_SUB_SCALE = 1 << 1,
    BSN_SUB_BINDING = 1 << 2,  /* pods/binding */
    BSN_SUB_EVICTION = 1 << 3, /* pods/eviction */
    BSN_SUB_LOG = 1 << 4,      /* pods/log */
    BSN_SUB_EXEC = 1 << 5,     /* pods/exec, pods/attach, pods/portforward */
    BSN_SUB_PROXY = 1 << 6,
};

/* A server-side printer column (meta.k8s.io/v1 TableColumnDefinition). */
struct bsn_column {
    const char *name;   /* "NAME", "READY", ... as upstream prints them (Table uses e.g. "Name") */
    const char *type;   /* "string", "integer", "date", "number", "boolean" */
    const char *format; /* "name" for the name column, "" otherwise */
    const char *description;
    int priority; /* 0 = always, 1 = only with -o wide */
};

/*
 * Per-kind behaviour. Every hook is optional (NULL = nothing to do).
 *
 * defaults:  fills the fields upstream defaults (on create and update, and on dry-run).
 * validate:  checks obj (old is NULL on create); on failure adds causes to err with
 *            bsn_err_add_cause(err, "FieldValueInvalid"|"FieldValueRequired"|
 *            "FieldValueNotSupported"|"FieldValueForbidden"|"FieldValueDuplicate"|
 *            "FieldValueTooLong", "spec.replicas", "...") and returns -1. The caller turns the
 *            causes into a 422 Invalid Status whose message lists them as upstream does.
 *            Metadata (name, labels, annotations, ...) is validated generically before this.
 * prepare_create: strips what a client may not set on create (e.g. status), sets initial state.
 * prepare_update: copies what the main resource may not change from old (e.g. status).
 * prepare_status_update: for PUT/PATCH .../status: copies spec (and metadata except labels,
 *            annotations) from old so only status changes.
 * columns / row: server-side Table printing (`kubectl get`). row() appends one cell per column
 *            (json string/integer/...) to cells, in the order of columns; wide columns included.
 * field_value: value of a field for field selectors beyond metadata.name/namespace
 *            (e.g. "spec.nodeName", "status.phase"); returns NULL if the field is not
 *            supported (the API answers 400 "field label not supported").
 */
enum bsn_name_rule {
    BSN_NAME_SUBDOMAIN = 0, /* DNS-1123 subdomain (most kinds) */
    BSN_NAME_LABEL,         /* DNS-1123 label (Namespace, ...) */
    BSN_NAME_DNS1035,       /* DNS-1035 label (Service) */
    BSN_NAME_PATH_SEGMENT,  /* any name usable as a path segment (no '/', '%', '.' or '..') */
};

struct bsn_resource;

struct bsn_strategy {
    enum bsn_name_rule name_rule;
    void (*defaults)(json_t *obj);
    int (*validate)(const json_t *obj, const json_t *old, struct bsn_err *err);
    void (*prepare_create)(json_t *obj);
    void (*prepare_update)(json_t *obj, const json_t *old);
    void (*prepare_status_update)(json_t *obj, const json_t *old);
    const struct bsn_column *columns; /* terminated by a NULL name */
    void (*row)(const json_t *obj, json_t *cells);
    const char *(*field_value)(const json_t *obj, const char *field, char *buf, size_t bufsz);
    /* For kinds served in several versions that share storage (HPA autoscaling/v1<->v2,
     * Event core/v1<->events.k8s.io/v1): rewrites obj in place from `from`'s representation to
     * `to`'s (including apiVersion). */
    void (*convert)(json_t *obj, const struct bsn_resource *from, const struct bsn_resource *to);
};

struct bsn_resource {
    const char *group;   /* "" for the core group */
    const char *version; /* "v1" */
    const char *kind;    /* "Deployment" */
    const char *plural;  /* "deployments" */
    const char *singular;
    const char *short_names; /* comma separated: "deploy" */
    const char *categories;  /* comma separated: "all" */
    bool namespaced;
    unsigned subresources;
    /* Resources that share storage with another version (autoscaling/v1 and v2, core and
     * events.k8s.io Event) name the group whose storage they use; NULL = own group. */
    const char *storage_group;
    const struct bsn_strategy *strategy;
    /* Verbs beyond the standard set, e.g. no "create" for componentstatuses. 0 = all. */
    unsigned flags;
};

enum { BSN_RES_NO_WATCH = 1 << 0, BSN_RES_READONLY = 1 << 1, BSN_RES_NO_STORAGE = 1 << 2 };

/* The table, terminated by a row with kind == NULL. */
extern const struct bsn_resource bsn_resources[];

/* Looks a resource up by group, version and plural (or kind when by_kind). NULL if unknown. */
const struct bsn_resource *bsn_registry_find(const char *group, const char *version,
                                             const char *plural);
const struct bsn_resource *bsn_registry_find_kind(const char *group, const char *version,
                                                  const char *kind);
/* Any version of group/plural (for storage sharing and "did you mean" errors). */
const struct bsn_resource *bsn_registry_find_any_version(const char *group, const char *plural);

/* Strategies, one per kind family, defined in src/api/kinds/<kind>.c. */
extern const struct bsn_strategy bsn_strategy_namespace, bsn_strategy_pod, bsn_strategy_service,
    bsn_strategy_endpoints, bsn_strategy_configmap, bsn_strategy_secret, bsn_strategy_node,
    bsn_strategy_event, bsn_strategy_serviceaccount, bsn_strategy_pv, bsn_strategy_pvc,
    bsn_strategy_replicationcontroller, bsn_strategy_deployment, bsn_strategy_replicaset,
    bsn_strategy_statefulset, bsn_strategy_daemonset, bsn_strategy_controllerrevision,
    bsn_strategy_job, bsn_strategy_cronjob, bsn_strategy_ingress, bsn_strategy_ingressclass,
    bsn_strategy_networkpolicy, bsn_strategy_endpointslice, bsn_strategy_hpa, bsn_strategy_lease,
    bsn_strategy_pdb, bsn_strategy_events_event, bsn_strategy_storageclass,
    bsn_strategy_priorityclass, bsn_strategy_limitrange, bsn_strategy_resourcequota,
    bsn_strategy_gatewayclass, bsn_strategy_gateway, bsn_strategy_httproute,
    bsn_strategy_gatewaypolicy;

/* Helpers for strategies (kinds/common.c). */
/* Age column text as kubectl prints it: "5s", "3m", "2d4h"... from a creationTimestamp. */
void bsn_print_age(const char *rfc3339, char *out, size_t n);
/* Adds a cause and returns -1 (shorthand for validators). */
int bsn_invalid(struct bsn_err *err, const char *reason, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

#endif
