/*
 * select.c - list/watch filters: namespace, label selector and field selector (parsed by
 * codec/selector.h). Field values come from metadata.name/namespace or the kind's strategy
 * (field_value); a field no strategy knows is rejected up front with upstream's
 * "field label not supported" 400.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/internal.h"
#include "base/mem.h"
#include "codec/selector.h"

struct api_filter {
    const struct bsn_resource *res;
    char *ns;
    bool has_labels;
    struct bsn_selector labels;
    struct bsn_field_selector fields;
    bool needs_tree; /* a field beyond name/namespace needs the parsed object */
};

struct getter_ctx {
    const struct api_filter *f;
    const struct bsn_obj *o;
    json_t *tree;
    char buf[512];
};

static bool
generic_field(const char *field)
{
    return !strcmp(field, "metadata.name") || !strcmp(field, "metadata.namespace");
}

static const char *
get_field(const char *field, void *data, bool *known)
{
    struct getter_ctx *g = data;
    *known = true;
    if (!strcmp(field, "metadata.name"))
        return g->o->name;
    if (!strcmp(field, "metadata.namespace"))
        return g->o->ns;
    const struct bsn_strategy *st = g->f->res->strategy;
    if (!st || !st->field_value) {
        *known = false;
        return NULL;
    }
    if (st == &bsn_strategy_pod) {
        /* every pod field lives under the top-level member its name starts with: parse only
         * that member (kubelets select on spec.nodeName over every pod) */
        char top[64];
        size_t n = strcspn(field, ".");
        if (n < sizeof(top)) {
            memcpy(top, field, n);
            top[n] = '\0';
            if (!g->tree)
                g->tree = json_object();
            if (!json_object_get(g->tree, top)) {
                json_t *m = bsn_obj_member(g->o, top);
                if (m)
                    json_object_set_new(g->tree, top, m);
            }
            return st->field_value(g->tree, field, g->buf, sizeof(g->buf));
        }
    }
    if (!g->tree || st == &bsn_strategy_pod) {
        json_decref(g->tree);
        g->tree = bsn_obj_tree(g->o);
    }
    return st->field_value(g->tree, field, g->buf, sizeof(g->buf));
}

struct api_filter *
api_filter_new(const struct bsn_resource *res, const char *ns, const char *label_sel,
               const char *field_sel, struct bsn_err *err)
{
    struct api_filter *f = bsn_calloc(1, sizeof(*f));
    f->res = res;
    f->ns = ns && *ns ? bsn_strdup(ns) : NULL;
    if (label_sel && *label_sel) {
        if (bsn_selector_parse(label_sel, &f->labels, err) < 0) {
            free(f->ns);
            free(f);
            return NULL;
        }
        f->has_labels = true;
    }
    if (field_sel && *field_sel) {
        if (bsn_field_selector_parse(field_sel, &f->fields, err) < 0) {
            api_filter_free(f);
            return NULL;
        }
        for (size_t i = 0; i < f->fields.n; i++) {
            const char *field = f->fields.reqs[i].field;
            if (generic_field(field))
                continue;
            const struct bsn_strategy *st = res->strategy;
            char buf[16];
            json_t *probe = json_object();
            bool ok = st && st->field_value && st->field_value(probe, field, buf, sizeof(buf));
            json_decref(probe);
            if (!ok) {
                bsn_err_set(err, 400, "BadRequest", "field label not supported: %s", field);
                api_filter_free(f);
                return NULL;
            }
            f->needs_tree = true;
        }
    }
    return f;
}

bool
api_filter_match(const struct api_filter *f, const struct bsn_obj *o)
{
    if (f->ns && strcmp(f->ns, o->ns) != 0)
        return false;
    if (f->has_labels && !bsn_selector_match(&f->labels, o->labels))
        return false;
    if (f->fields.n == 0)
        return true;
    struct getter_ctx g = {.f = f, .o = o};
    struct bsn_err err;
    int m = bsn_field_selector_match(&f->fields, get_field, &g, &err);
    json_decref(g.tree);
    return m == 1;
}

void
api_filter_free(struct api_filter *f)
{
    if (!f)
        return;
    if (f->has_labels)
        bsn_selector_fini(&f->labels);
    bsn_field_selector_fini(&f->fields);
    free(f->ns);
    free(f);
}
