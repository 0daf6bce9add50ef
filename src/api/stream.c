/*
 * stream.c - the API server's side of the streaming pod subresources (pods/exec, pods/attach,
 * pods/portforward): the checks upstream's registry makes before a request reaches the node
 * (the pod is bound to a node; the container named in ?container= exists, or the pod has only
 * one), and the hand-over of the HTTP request to the agent's handler, which upgrades the
 * connection itself (WebSocket or SPDY; see agent/exec.h).
 */
#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "api/apiserver.h"
#include "api/cache.h"
#include "api/internal.h"
#include "base/buf.h"
#include "base/mem.h"

static bool
has_container(json_t *list, const char *name)
{
    size_t i;
    json_t *c;
    json_array_foreach(list, i, c)
    {
        const char *n = json_string_value(json_object_get(c, "name"));
        if (n && !strcmp(n, name))
            return true;
    }
    return false;
}

static void
names(json_t *list, struct bsn_buf *b)
{
    size_t i;
    json_t *c;
    bsn_buf_printf(b, "[");
    json_array_foreach(list, i, c)
    {
        const char *n = json_string_value(json_object_get(c, "name"));
        bsn_buf_printf(b, "%s%s", i ? " " : "", n ? n : "");
    }
    bsn_buf_printf(b, "]");
}

bool
api_stream_validate(struct req_ctx *c, const struct bsn_obj *o)
{
    if (!strcmp(c->sub, "log"))
        return true;
    json_t *pod = json_loadb(o->json, o->len, 0, NULL);
    if (!pod) {
        api_reply_status(c, 500, "InternalError", "pod %s: stored object unreadable", c->name);
        return false;
    }
    json_t *spec = json_object_get(pod, "spec");
    const char *node = json_string_value(json_object_get(spec, "nodeName"));
    if (!node || !node[0]) {
        api_reply_status(c, 400, "BadRequest", "pod %s does not have a host assigned", c->name);
        json_decref(pod);
        return false;
    }
    if (!strcmp(c->sub, "portforward")) {
        json_decref(pod);
        return true;
    }
    json_t *ctrs = json_object_get(spec, "containers");
    json_t *init = json_object_get(spec, "initContainers");
    json_t *eph = json_object_get(spec, "ephemeralContainers");
    char name[254] = "";
    api_query(c, "container", name, sizeof(name));
    bool ok = true;
    if (!name[0]) {
        if (json_array_size(ctrs) != 1) {
            struct bsn_buf b;
            bsn_buf_init(&b);
            names(ctrs, &b);
            if (json_array_size(init)) {
                bsn_buf_printf(&b, " or one of the init containers: ");
                names(init, &b);
            }
            api_reply_status(c, 400, "BadRequest",
                             "a container name must be specified for pod %s, choose one of: %s",
                             c->name, b.data);
            bsn_buf_fini(&b);
            ok = false;
        }
    } else if (!has_container(ctrs, name) && !has_container(init, name) &&
               !has_container(eph, name)) {
        api_reply_status(c, 400, "BadRequest", "container %s is not valid for pod %s", name,
                         c->name);
        ok = false;
    }
    json_decref(pod);
    return ok;
}

struct bsn_http_req *
bsn_api_reply_http_req(struct bsn_api_reply *r)
{
    struct req_ctx *c = (struct req_ctx *)r;
    return c->sink == &api_http_sink ? c->req : NULL;
}

struct bsn_http_req *
bsn_api_reply_take_http_req(struct bsn_api_reply *r)
{
    struct req_ctx *c = (struct req_ctx *)r;
    if (c->sink != &api_http_sink)
        return NULL;
    struct bsn_http_req *req = c->req;
    api_metrics_observe(c->srv, c->res, c->verb, 101, c->start_ns);
    api_ctx_free(c);
    return req;
}
