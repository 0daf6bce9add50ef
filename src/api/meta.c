/*
 * meta.c - generic object metadata: uid, creationTimestamp, generation on create, and the
 * validation every kind shares (name per the kind's rule, generateName, labels,
 * annotations, ownerReferences, finalizers) with upstream's field paths and messages.
 */
#include <ctype.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "api/internal.h"
#include "base/time.h"
#include "codec/names.h"

void
api_new_uid(char *out)
{
    unsigned char b[16];
    if (getrandom(b, sizeof(b), 0) != (ssize_t)sizeof(b)) {
        for (size_t i = 0; i < sizeof(b); i++)
            b[i] = (unsigned char)rand();
    }
    b[6] = (unsigned char)((b[6] & 0x0f) | 0x40);
    b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);
    snprintf(out, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0],
             b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13],
             b[14], b[15]);
}

void
api_random_suffix(char *out, size_t n)
{
    /* upstream's alphabet: no vowels (no words), no confusable characters */
    static const char alnum[] = "bcdfghjklmnpqrstvwxz2456789";
    unsigned char b[16];
    size_t k = n > 6 ? 5 : n - 1;
    if (getrandom(b, sizeof(b), 0) != (ssize_t)sizeof(b))
        for (size_t i = 0; i < sizeof(b); i++)
            b[i] = (unsigned char)rand();
    for (size_t i = 0; i < k; i++)
        out[i] = alnum[b[i] % (sizeof(alnum) - 1)];
    out[k] = '\0';
}

void
api_now_rfc3339(char *out, size_t n)
{
    bsn_time_format(bsn_time_now(), out, n);
}

void
api_prepare_create_meta(struct bsn_apiserver *s, const struct bsn_resource *res, json_t *obj)
{
    (void)s;
    json_t *meta = json_object_get(obj, "metadata");
    char uid[40], now[40];
    api_new_uid(uid);
    api_now_rfc3339(now, sizeof(now));
    json_object_set_new(meta, "uid", json_string(uid));
    json_object_set_new(meta, "creationTimestamp", json_string(now));
    json_object_del(meta, "resourceVersion");
    json_object_del(meta, "deletionTimestamp");
    json_object_del(meta, "deletionGracePeriodSeconds");
    json_object_del(meta, "selfLink");
    if (json_object_get(obj, "spec") || !strcmp(res->kind, "Pod"))
        json_object_set_new(meta, "generation", json_integer(1));
    else
        json_object_del(meta, "generation");
    (void)res;
}

static int
path_segment(const char *v, struct bsn_name_msgs *m)
{
    m->n = 0;
    if (!strcmp(v, ".") || !strcmp(v, ".."))
        snprintf(m->msg[m->n++], sizeof(m->msg[0]), "may not be '%s'", v);
    else if (strchr(v, '/'))
        snprintf(m->msg[m->n++], sizeof(m->msg[0]), "may not contain '/'");
    else if (strchr(v, '%'))
        snprintf(m->msg[m->n++], sizeof(m->msg[0]), "may not contain '%%'");
    return m->n;
}

static int
check_name(const struct bsn_resource *res, const char *field, const char *name, struct bsn_err *err,
           bool prefix)
{
    struct bsn_name_msgs m = {0};
    char buf[320];
    snprintf(buf, sizeof(buf), "%s", name);
    size_t len = strlen(buf);
    if (prefix && len > 0 && buf[len - 1] == '-')
        buf[len - 1] = 'a'; /* a generateName may end in '-' (upstream masks it) */
    switch (res->strategy ? res->strategy->name_rule : BSN_NAME_SUBDOMAIN) {
    case BSN_NAME_LABEL:
        bsn_validate_dns1123_label(buf, &m);
        break;
    case BSN_NAME_DNS1035:
        bsn_validate_dns1035_label(buf, &m);
        break;
    case BSN_NAME_PATH_SEGMENT:
        path_segment(buf, &m);
        break;
    default:
        bsn_validate_dns1123_subdomain(buf, &m);
        break;
    }
    for (int i = 0; i < m.n; i++)
        bsn_err_add_cause(err, "FieldValueInvalid", field, "Invalid value: \"%s\": %s", name,
                          m.msg[i]);
    return m.n ? -1 : 0;
}

int
api_validate_meta(const struct bsn_resource *res, json_t *obj, const json_t *old,
                  struct bsn_err *err)
{
    json_t *meta = json_object_get(obj, "metadata");
    int rc = 0;
    const char *name = json_string_value(json_object_get(meta, "name"));
    const char *gen = json_string_value(json_object_get(meta, "generateName"));
    if (!name || !*name) {
        bsn_err_add_cause(err, "FieldValueRequired", "metadata.name",
                          "Required value: name or generateName is required");
        rc = -1;
    } else if (check_name(res, "metadata.name", name, err, false) < 0) {
        rc = -1;
    }
    if (gen && *gen && !old && check_name(res, "metadata.generateName", gen, err, true) < 0)
        rc = -1;
    if (res->namespaced) {
        const char *ns = json_string_value(json_object_get(meta, "namespace"));
        struct bsn_name_msgs m = {0};
        if (ns && bsn_validate_dns1123_label(ns, &m) > 0) {
            bsn_err_add_cause(err, "FieldValueInvalid", "metadata.namespace",
                              "Invalid value: \"%s\": %s", ns, m.msg[0]);
            rc = -1;
        }
    }
    json_t *labels = json_object_get(meta, "labels");
    if (labels && !json_is_object(labels)) {
        bsn_err_add_cause(err, "FieldValueInvalid", "metadata.labels", "must be a map");
        rc = -1;
    }
    const char *k;
    json_t *v;
    json_object_foreach(labels, k, v)
    {
        struct bsn_name_msgs m = {0};
        if (bsn_validate_qualified_name(k, &m) > 0) {
            bsn_err_add_cause(err, "FieldValueInvalid", "metadata.labels",
                              "Invalid value: \"%s\": %s", k, m.msg[0]);
            rc = -1;
        }
        m.n = 0;
        if (!json_is_string(v)) {
            bsn_err_add_cause(err, "FieldValueInvalid", "metadata.labels",
                              "Invalid value: label values must be strings");
            rc = -1;
        } else if (bsn_validate_label_value(json_string_value(v), &m) > 0) {
            bsn_err_add_cause(err, "FieldValueInvalid", "metadata.labels",
                              "Invalid value: \"%s\": %s", json_string_value(v), m.msg[0]);
            rc = -1;
        }
    }
    json_t *ann = json_object_get(meta, "annotations");
    if (ann) {
        struct bsn_name_msgs m = {0};
        if (!json_is_object(ann)) {
            bsn_err_add_cause(err, "FieldValueInvalid", "metadata.annotations", "must be a map");
            rc = -1;
        } else if (bsn_validate_annotations(ann, &m) > 0) {
            for (int i = 0; i < m.n; i++)
                bsn_err_add_cause(err, "FieldValueInvalid", "metadata.annotations", "%s", m.msg[i]);
            rc = -1;
        }
    }
    size_t i;
    json_t *ref;
    json_array_foreach(json_object_get(meta, "ownerReferences"), i, ref)
    {
        static const char *const req[] = {"apiVersion", "kind", "name", "uid", NULL};
        for (int j = 0; req[j]; j++) {
            const char *s = json_string_value(json_object_get(ref, req[j]));
            if (!s || !*s) {
                char f[96];
                snprintf(f, sizeof(f), "metadata.ownerReferences[%zu].%s", i, req[j]);
                bsn_err_add_cause(err, "FieldValueRequired", f, "Required value");
                rc = -1;
            }
        }
    }
    if (old) {
        const char *ouid =
            json_string_value(json_object_get(json_object_get(old, "metadata"), "uid"));
        const char *nuid = json_string_value(json_object_get(meta, "uid"));
        if (ouid && nuid && strcmp(ouid, nuid) != 0) {
            bsn_err_add_cause(err, "FieldValueInvalid", "metadata.uid",
                              "Invalid value: \"%s\": field is immutable", nuid);
            rc = -1;
        }
    }
    return rc;
}
