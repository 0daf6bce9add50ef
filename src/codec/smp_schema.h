/*
 * smp_schema.h - internal: the strategic-merge-patch schema table (see smp_schema.c).
 */
#ifndef BSN_CODEC_SMP_SCHEMA_H
#define BSN_CODEC_SMP_SCHEMA_H

#include <stdbool.h>

#include "codec/patch.h"

enum bsn_smp_strategy {
    BSN_SMP_STRUCT,         /* nested typed object (merged; child type below) */
    BSN_SMP_LIST_KEYED,     /* list of objects merged by merge key */
    BSN_SMP_LIST_PRIMITIVE, /* list of scalars merged as a set */
};

struct bsn_smp_field {
    const char *type;  /* owning type */
    const char *field; /* JSON name */
    enum bsn_smp_strategy strategy;
    const char *merge_key; /* LIST_KEYED */
    const char *child;     /* element/child type or NULL */
};

/* Field row for type.name, or NULL (untyped: maps merge, lists replace). */
const struct bsn_smp_field *bsn_smp_field(const char *type, const char *name);
/* Root type name for a kind, or NULL when SMP is not supported for it. */
const char *bsn_smp_root_type(const char *group, const char *kind);
bool bsn_smp_is_root(const char *kind);

#endif
