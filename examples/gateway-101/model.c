/*
 * model.c - one "ML model" service of seed 003 (gateway-101) on the Bosun kit.
 *
 * The same binary runs as ml-service1 and ml-service2; MODEL_NAME says which. A model is a
 * toy linear scorer (domain, no I/O): score = bias + sum(weight_i * x_i), with weights taken
 * from MODEL_WEIGHTS ("0.5,1.5"). Routes:
 *   GET  /info     -> {"service","model","version","hostname"}
 *   POST /predict  {"inputs":[numbers]} -> {"service","score"}
 * Config: PORT (8002), HOST, MODEL_NAME (service_1), MODEL_WEIGHTS, MODEL_BIAS.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kit/kit.h"

#define MAX_WEIGHTS 16

/* ---- domain ---- */

struct model {
    const char *name;
    double bias;
    double w[MAX_WEIGHTS];
    size_t nw;
};

/* Parses "0.5,1.5,-2"; returns the number of weights or -1 on bad input. */
static int
model_parse_weights(struct model *m, const char *s)
{
    m->nw = 0;
    while (*s) {
        char *end;
        double v = strtod(s, &end);
        if (end == s || m->nw == MAX_WEIGHTS)
            return -1;
        m->w[m->nw++] = v;
        s = *end == ',' ? end + 1 : end;
        if (*end && *end != ',')
            return -1;
    }
    return (int)m->nw;
}

static int
model_score(const struct model *m, const json_t *inputs, double *out, struct bsn_err *err)
{
    if (json_array_size(inputs) != m->nw)
        return bsn_err_set(err, 400, "BadInput", "model %s expects %zu inputs, got %zu", m->name,
                           m->nw, json_array_size(inputs));
    double s = m->bias;
    for (size_t i = 0; i < m->nw; i++) {
        const json_t *x = json_array_get(inputs, i);
        if (!json_is_number(x))
            return bsn_err_set(err, 400, "BadInput", "inputs[%zu] is not a number", i);
        s += m->w[i] * json_number_value(x);
    }
    *out = s;
    return 0;
}

/* ---- resources ---- */

static void
get_info(struct bsn_kit_ctx *ctx, void *data)
{
    const struct model *m = data;
    char host[256] = "";
    gethostname(host, sizeof(host) - 1);
    bsn_kit_json(ctx, 200,
                 json_pack("{s:s,s:s,s:s,s:s,s:I}", "service", m->name, "model", "linear",
                           "version", bsn_kit_env("MODEL_VERSION", "1"), "hostname", host, "inputs",
                           (json_int_t)m->nw));
}

static const struct bsn_kit_field predict_fields[] = {
    {"inputs", BSN_KIT_ARRAY, true, "the feature vector"},
};
static const struct bsn_kit_schema predict_schema = {"PredictRequest", predict_fields, 1, 64};

static void
predict(struct bsn_kit_ctx *ctx, void *data)
{
    const struct model *m = data;
    struct bsn_err err;
    bsn_err_clear(&err);
    double score = 0;
    if (model_score(m, json_object_get(bsn_kit_body(ctx), "inputs"), &score, &err) < 0)
        return bsn_kit_error_err(ctx, &err);
    bsn_kit_json(ctx, 200, json_pack("{s:s,s:f}", "service", m->name, "score", score));
}

int
main(void)
{
    struct model m = {.name = bsn_kit_env("MODEL_NAME", "service_1")};
    m.bias = strtod(bsn_kit_env("MODEL_BIAS", "0"), NULL);
    if (model_parse_weights(&m, bsn_kit_env("MODEL_WEIGHTS", "1,1")) < 0) {
        fprintf(stderr, "model: MODEL_WEIGHTS must be up to %d comma-separated numbers\n",
                MAX_WEIGHTS);
        return 1;
    }
    if (!getenv("PORT"))
        setenv("PORT", "8002", 1);
    struct bsn_kit_app *app = bsn_kit_app_new(m.name);
    bsn_kit_route(app, "GET", "/info", get_info, &m, NULL, "Describe this model service");
    bsn_kit_route(app, "POST", "/predict", predict, &m, &predict_schema, "Score a feature vector");
    int rc = bsn_kit_app_run(app, NULL);
    bsn_kit_app_free(app);
    return rc < 0 ? 1 : 0;
}
