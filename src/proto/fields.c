/*
 * fields.c - unknown-field detection for JSON objects of built-in kinds, from the same schema
 * tables the protobuf codec uses (every Go struct field of a kind, with its JSON name).
 *
 * The API server uses it for fieldValidation=Strict|Warn: a field the kind does not have is
 * named with its full path as upstream's strict decoder names it
 * ("spec.template.spec.containers[0].imagePullPolicyy").
 */
#include <string.h>

#include "proto/proto.h"
#include "proto/schema.h"

static const struct bsn_pfield *
find_field(const struct bsn_pmsg *m, const char *name, int depth)
{
    if (depth > 4)
        return NULL;
    for (uint32_t i = 0; i < m->nfields; i++) {
        const struct bsn_pfield *f = &m->fields[i];
        if (f->flags & BSN_PF_INLINE) {
            if (f->msg) {
                const struct bsn_pfield *g = find_field(f->msg, name, depth + 1);
                if (g)
                    return g;
            }
            continue;
        }
        if (f->json && strcmp(f->json, name) == 0)
            return f;
    }
    return NULL;
}

struct walk {
    struct bsn_buf *out;
    int count, max;
};

static void
report(struct walk *w, const char *path, size_t plen, const char *key)
{
    if (w->count < w->max) {
        if (w->count)
            bsn_buf_puts(w->out, ", ");
        bsn_buf_puts(w->out, "unknown field \"");
        if (plen) {
            bsn_buf_append(w->out, path, plen);
            bsn_buf_putc(w->out, '.');
        }
        bsn_buf_puts(w->out, key);
        bsn_buf_putc(w->out, '"');
    }
    w->count++;
}

static void walk_msg(struct walk *w, const json_t *v, const struct bsn_pmsg *m,
                     struct bsn_buf *path, int depth, bool root);

static void
walk_value(struct walk *w, const json_t *v, const struct bsn_pfield *f, struct bsn_buf *path,
           int depth)
{
    if (f->type != BSN_PT_MSG || !f->msg || json_is_null(v))
        return;
    size_t base = path->len;
    if (f->flags & BSN_PF_MAP) {
        const char *k;
        json_t *e;
        json_object_foreach((json_t *)v, k, e)
        {
            path->len = base;
            bsn_buf_printf(path, ".%s", k);
            walk_msg(w, e, f->msg, path, depth + 1, false);
        }
    } else if (f->flags & BSN_PF_REPEATED) {
        size_t i;
        json_t *e;
        json_array_foreach(v, i, e)
        {
            path->len = base;
            bsn_buf_printf(path, "[%zu]", i);
            walk_msg(w, e, f->msg, path, depth + 1, false);
        }
    } else {
        walk_msg(w, v, f->msg, path, depth + 1, false);
    }
    path->len = base;
    if (path->data)
        path->data[base] = '\0';
}

static void
walk_msg(struct walk *w, const json_t *v, const struct bsn_pmsg *m, struct bsn_buf *path, int depth,
         bool root)
{
    if (!json_is_object(v) || depth > 64)
        return;
    const char *k;
    json_t *e;
    json_object_foreach((json_t *)v, k, e)
    {
        if (k[0] == '$')
            continue; /* strategic merge patch directives */
        if (root && (!strcmp(k, "apiVersion") || !strcmp(k, "kind")))
            continue;
        const struct bsn_pfield *f = find_field(m, k, 0);
        if (!f) {
            report(w, path->data ? path->data : "", path->len, k);
            continue;
        }
        size_t base = path->len;
        if (path->len)
            bsn_buf_putc(path, '.');
        bsn_buf_puts(path, k);
        walk_value(w, e, f, path, depth);
        path->len = base;
        if (path->data)
            path->data[base] = '\0';
    }
}

int
bsn_proto_unknown_fields(const json_t *obj, const char *api_version, const char *kind,
                         struct bsn_buf *out, int max)
{
    const struct bsn_pmsg *m = bsn_pschema_kind(api_version, kind);
    if (!m)
        return -1;
    struct walk w = {out, 0, max > 0 ? max : 16};
    struct bsn_buf path;
    bsn_buf_init(&path);
    walk_msg(&w, obj, m, &path, 0, true);
    bsn_buf_fini(&path);
    return w.count;
}
