/*
 * table.c - server-side printing: meta.k8s.io/v1 Table responses built from each kind's
 * printer columns (strategy->columns / strategy->row). Rows carry the object's metadata as a
 * PartialObjectMetadata, as upstream does by default (includeObject=Metadata).
 */
#include <stdio.h>
#include <string.h>

#include "api/internal.h"

static const struct bsn_column default_columns[] = {
    {"Name", "string", "name", "Name must be unique within a namespace.", 0},
    {"Age", "string", "",
     "CreationTimestamp is a timestamp representing the server time when this "
     "object was created.",
     0},
    {NULL, NULL, NULL, NULL, 0},
};

static void
default_row(const json_t *obj, json_t *cells)
{
    json_t *meta = json_object_get(obj, "metadata");
    json_array_append_new(cells,
                          json_string(json_string_value(json_object_get(meta, "name")) ?: ""));
    char age[32];
    bsn_print_age(json_string_value(json_object_get(meta, "creationTimestamp")), age, sizeof(age));
    json_array_append_new(cells, json_string(age));
}

static json_t *
columns_json(const struct bsn_column *cols)
{
    json_t *a = json_array();
    for (const struct bsn_column *c = cols; c->name; c++)
        json_array_append_new(a, json_pack("{s:s,s:s,s:s,s:s,s:i}", "name", c->name, "type",
                                           c->type, "format", c->format ? c->format : "",
                                           "description", c->description ? c->description : "",
                                           "priority", c->priority));
    return a;
}

static json_t *
row_of(const struct bsn_resource *res, json_t *tree)
{
    const struct bsn_strategy *st = res->strategy;
    json_t *cells = json_array();
    if (st && st->columns && st->row)
        st->row(tree, cells);
    else
        default_row(tree, cells);
    json_t *meta = json_object_get(tree, "metadata");
    json_t *pom = json_pack("{s:s,s:s,s:O}", "kind", "PartialObjectMetadata", "apiVersion",
                            "meta.k8s.io/v1", "metadata", meta ? meta : json_object());
    return json_pack("{s:o,s:o}", "cells", cells, "object", pom);
}

static json_t *
table_shell(const struct bsn_resource *res, const char *list_rv, const char *cont,
            bool with_columns)
{
    const struct bsn_strategy *st = res->strategy;
    const struct bsn_column *cols = st && st->columns && st->row ? st->columns : default_columns;
    json_t *meta = json_object();
    if (list_rv)
        json_object_set_new(meta, "resourceVersion", json_string(list_rv));
    if (cont && *cont)
        json_object_set_new(meta, "continue", json_string(cont));
    json_t *t = json_pack("{s:s,s:s,s:o}", "kind", "Table", "apiVersion", "meta.k8s.io/v1",
                          "metadata", meta);
    json_object_set_new(t, "columnDefinitions", with_columns ? columns_json(cols) : json_array());
    return t;
}

json_t *
api_table_from_trees(const struct bsn_resource *res, json_t **trees, size_t n, const char *list_rv,
                     bool with_columns)
{
    json_t *t = table_shell(res, list_rv, NULL, with_columns);
    json_t *rows = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(rows, row_of(res, trees[i]));
    json_object_set_new(t, "rows", rows);
    return t;
}

json_t *
api_table(const struct bsn_resource *res, struct bsn_obj **objs, size_t n, const char *list_rv,
          const char *cont, bool with_columns)
{
    json_t *t = table_shell(res, list_rv, cont, with_columns);
    json_t *rows = json_array();
    for (size_t i = 0; i < n; i++) {
        json_t *tree = bsn_obj_tree(objs[i]);
        api_convert_out(tree, res);
        json_array_append_new(rows, row_of(res, tree));
        json_decref(tree);
    }
    json_object_set_new(t, "rows", rows);
    return t;
}
