/*
 * gateway.c - the API gateway service of seed 003 (gateway-101) on the Bosun kit.
 *
 * It fronts the two model services and reaches them by bare DNS name, as the seed does
 * (http://ml-service1, http://ml-service2: ClusterIP Services on port 80):
 *   GET  /api/v1/models/services                 -> the services it knows
 *   GET  /api/v1/models/services/{name}          -> that service's /info answer, as is
 *   POST /api/v1/models/services/{name}/predict  -> forwards the body to its /predict
 * An unknown name is a 404 ServiceNotFound; an unreachable service a 502/503/504 from the
 * kit's client (timeouts, retries and a circuit breaker per backend).
 * Config: PORT (8001), HOST, ML_SERVICE1_URL (http://ml-service1), ML_SERVICE2_URL
 * (http://ml-service2), CALL_TIMEOUT_MS (2000).
 */
#include <stdlib.h>
#include <string.h>

#include "base/mem.h"
#include "kit/kit.h"

struct backend {
    const char *name; /* the path segment: service_1 */
    const char *url;
    struct bsn_kit_client *client;
};

struct gateway {
    struct backend backends[2];
};

/* ---- service layer ---- */

static struct backend *
gateway_find(struct gateway *g, const char *name)
{
    for (size_t i = 0; i < 2; i++)
        if (name && strcmp(g->backends[i].name, name) == 0)
            return &g->backends[i];
    return NULL;
}

/* ---- resources ---- */

static void
relay_done(int status, json_t *body, const struct bsn_err *err, void *data)
{
    struct bsn_kit_ctx *ctx = data;
    if (!status)
        return bsn_kit_error_err(ctx, err);
    bsn_kit_json(ctx, status, body ? json_incref(body) : json_pack("{}"));
}

static void
relay(struct bsn_kit_ctx *ctx, struct gateway *g, const char *method, const char *path,
      const json_t *body)
{
    const char *name = bsn_kit_param(ctx, "name");
    struct backend *b = gateway_find(g, name);
    if (!b)
        return bsn_kit_error(ctx, 404, "ServiceNotFound", "no model service named %s", name);
    bsn_kit_defer(ctx);
    bsn_kit_client_call_async(b->client, ctx, method, path, body, relay_done, ctx);
}

static void
get_service(struct bsn_kit_ctx *ctx, void *data)
{
    relay(ctx, data, "GET", "/info", NULL);
}

static void
predict(struct bsn_kit_ctx *ctx, void *data)
{
    relay(ctx, data, "POST", "/predict", bsn_kit_body(ctx));
}

static void
list_services(struct bsn_kit_ctx *ctx, void *data)
{
    struct gateway *g = data;
    json_t *items = json_array();
    for (size_t i = 0; i < 2; i++)
        json_array_append_new(
            items,
            json_pack(
                "{s:s,s:s,s:s}", "name", g->backends[i].name, "url", g->backends[i].url, "circuit",
                bsn_kit_client_state(g->backends[i].client) == BSN_KIT_CLOSED ? "closed" : "open"));
    bsn_kit_json(ctx, 200, json_pack("{s:o}", "services", items));
}

static const struct bsn_kit_field predict_fields[] = {
    {"inputs", BSN_KIT_ARRAY, true, "the feature vector"},
};
static const struct bsn_kit_schema predict_schema = {"PredictRequest", predict_fields, 1, 64};

int
main(void)
{
    if (!getenv("PORT"))
        setenv("PORT", "8001", 1);
    struct bsn_loop *loop = bsn_loop_new();
    if (!loop)
        return 1;
    struct gateway g = {.backends = {
                            {"service_1", bsn_kit_env("ML_SERVICE1_URL", "http://ml-service1")},
                            {"service_2", bsn_kit_env("ML_SERVICE2_URL", "http://ml-service2")},
                        }};
    int timeout = (int)bsn_kit_env_int("CALL_TIMEOUT_MS", 2000);
    for (size_t i = 0; i < 2; i++)
        g.backends[i].client = bsn_kit_client_new(&(struct bsn_kit_client_opts){
            .base_url = g.backends[i].url, .timeout_ms = timeout, .loop = loop});
    struct bsn_kit_app *app = bsn_kit_app_new("ml-inference-service");
    bsn_kit_route(app, "GET", "/api/v1/models/services", list_services, &g, NULL,
                  "List the model services behind the gateway");
    bsn_kit_route(app, "GET", "/api/v1/models/services/{name}", get_service, &g, NULL,
                  "Ask one model service to describe itself");
    bsn_kit_route(app, "POST", "/api/v1/models/services/{name}/predict", predict, &g,
                  &predict_schema, "Score a feature vector with one model service");
    int rc = bsn_kit_app_run_on(app, loop, NULL);
    bsn_kit_app_free(app);
    for (size_t i = 0; i < 2; i++)
        bsn_kit_client_free(g.backends[i].client);
    bsn_loop_free(loop);
    return rc < 0 ? 1 : 0;
}
