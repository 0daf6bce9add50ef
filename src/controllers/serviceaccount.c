/*
 * serviceaccount.c - the ServiceAccount controller: every active namespace has a "default"
 * ServiceAccount (recreated if deleted). Namespace deletion itself (contents, then the
 * namespace) is done by the API server at delete time, so there is no namespace controller.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/mem.h"
#include "codec/json.h"
#include "controllers/ctrl_int.h"

struct sactrl {
    struct bsn_ctrl *ctx;
    struct bsn_informer *nss, *sas;
    struct bsn_workqueue *q;
};

static void
ns_changed(json_t *ns, void *data)
{
    struct sactrl *s = data;
    bsn_workqueue_add(s->q, bsn_json_str(ns, "metadata.name") ?: "");
}

static void
ns_updated(json_t *old, json_t *ns, void *data)
{
    ns_changed(ns, data);
}

static void
sa_deleted(json_t *sa, void *data)
{
    struct sactrl *s = data;
    if (!strcmp(bsn_json_str(sa, "metadata.name") ?: "", "default"))
        bsn_workqueue_add(s->q, bsn_json_str(sa, "metadata.namespace") ?: "");
}

static int
reconcile(const char *ns, void *data)
{
    struct sactrl *s = data;
    if (!bsn_informer_synced(s->sas))
        return 100;
    json_t *nso = bsn_informer_get(s->nss, ns);
    if (!nso || bsn_ctrl_deleting(nso) ||
        !strcmp(bsn_json_str(nso, "status.phase") ?: "", "Terminating"))
        return 0;
    char key[400];
    snprintf(key, sizeof(key), "%s/default", ns);
    if (bsn_informer_get(s->sas, key))
        return 0;
    json_t *sa = json_pack("{s:s,s:s,s:{s:s,s:s}}", "apiVersion", "v1", "kind", "ServiceAccount",
                           "metadata", "name", "default", "namespace", ns);
    char path[400];
    snprintf(path, sizeof(path), "/api/v1/namespaces/%s/serviceaccounts", ns);
    bsn_ctrl_send(s->ctx, "POST", path, NULL, sa, NULL, NULL, NULL, NULL);
    json_decref(sa);
    return 0;
}

void *
bsn_ns_ctrl_new(struct bsn_ctrl *ctx, const struct bsn_controllers_opts *o)
{
    struct sactrl *s = bsn_calloc(1, sizeof(*s));
    s->ctx = ctx;
    s->q = bsn_workqueue_new(ctx->loop, "serviceaccount", reconcile, s);
    s->nss = bsn_ctrl_informer(ctx, "/api/v1/namespaces");
    s->sas = bsn_ctrl_informer(ctx, "/api/v1/serviceaccounts");
    struct bsn_informer_handler hn = {ns_changed, ns_updated, NULL, s};
    bsn_informer_add_handler(s->nss, &hn);
    struct bsn_informer_handler hs = {NULL, NULL, sa_deleted, s};
    bsn_informer_add_handler(s->sas, &hs);
    return s;
}

void
bsn_ns_ctrl_free(void *self)
{
    struct sactrl *s = self;
    if (!s)
        return;
    bsn_workqueue_free(s->q);
    free(s);
}
