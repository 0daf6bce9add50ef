/*
 * kit.h - the microservice kit: a small app object on the project's HTTP server that makes a C
 * microservice about as short as a Flask or FastAPI one.
 *
 *     static void get_pet(struct bsn_kit_ctx *ctx, void *data) {
 *         json_t *pet = store_get(data, bsn_kit_param(ctx, "id"));
 *         if (!pet)
 *             return bsn_kit_error(ctx, 404, "PetNotFound", "pet %s not found",
 *                                  bsn_kit_param(ctx, "id"));
 *         bsn_kit_json(ctx, 200, pet);            // takes the reference
 *     }
 *     int main(void) {
 *         struct bsn_kit_app *app = bsn_kit_app_new("pets");
 *         bsn_kit_route(app, "GET", "/pets/{id}", get_pet, store, NULL, "Get one pet");
 *         int rc = bsn_kit_app_run(app, NULL);  // PORT from the environment, SIGTERM drains
 *         bsn_kit_app_free(app);
 *         return rc ? 1 : 0;
 *     }
 *
 * Config from the environment (read by bsn_kit_app_new): PORT (default 8080), HOST (listen
 * address, default 0.0.0.0), LOG_LEVEL (debug|info|warn|error, default info), ACCESS_LOG
 * (0 disables the access log). bsn_kit_env() reads further settings.
 *
 * Built-in routes: GET /healthz (always 200 while serving), GET /readyz (200 or 503 from the
 * readiness callback; 503 while draining), GET /metrics (Prometheus text: requests per route,
 * method and status, and a latency histogram per route), GET /openapi.json (OpenAPI 3.0
 * generated from the registered routes and their body schemas), GET /docs (a self-contained
 * HTML page rendering that document; no external assets).
 *
 * Every request gets a request id: the incoming X-Request-Id when it is sane (1..64 chars of
 * [A-Za-z0-9._-]), else a generated one; it is echoed in the response and in the access log, a
 * JSON line on stderr per request. A valid W3C `traceparent` is kept on the context (the
 * client helper forwards it) and echoed.
 *
 * Handlers run on the loop thread and answer with exactly one of bsn_kit_json / bsn_kit_error /
 * bsn_kit_text, before returning or - after bsn_kit_defer() - later from the loop thread (e.g.
 * when an asynchronous call to another service ends); a handler that neither answers nor
 * defers gets a 500.
 * Errors map to JSON: {"error":"PetNotFound","message":"...","status":404,"requestId":"..."}.
 */
#ifndef BSN_KIT_KIT_H
#define BSN_KIT_KIT_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "base/err.h"
#include "loop/loop.h"

struct bsn_kit_app;
struct bsn_kit_ctx;

typedef void (*bsn_kit_handler)(struct bsn_kit_ctx *ctx, void *data);
typedef bool (*bsn_kit_ready_cb)(void *data);

/* ---- body schemas ---- */

enum bsn_kit_type {
    BSN_KIT_STRING,
    BSN_KIT_INTEGER,
    BSN_KIT_NUMBER,
    BSN_KIT_BOOLEAN,
    BSN_KIT_OBJECT,
    BSN_KIT_ARRAY,
};

struct bsn_kit_field {
    const char *name;
    enum bsn_kit_type type;
    bool required;
    const char *description; /* optional, goes to OpenAPI */
};

/* A tiny declared schema: a JSON object with typed fields. Unknown fields are allowed. */
struct bsn_kit_schema {
    const char *name; /* component name in OpenAPI, e.g. "NewPet" */
    const struct bsn_kit_field *fields;
    size_t nfields;
    size_t max_string; /* cap on string field length; 0 = 4096 */
};

/*
 * Validates v against s. Returns 0, or -1 with err = 400 "ValidationError" and one cause per
 * problem (reason FieldValueRequired / FieldValueInvalid, field name, message).
 */
int bsn_kit_validate(const struct bsn_kit_schema *s, const json_t *v, struct bsn_err *err);

/* ---- path patterns ---- */

#define BSN_KIT_MAX_PARAMS    8
#define BSN_KIT_MAX_PARAM_LEN 256

struct bsn_kit_params {
    size_t n;
    char name[BSN_KIT_MAX_PARAMS][32];
    char value[BSN_KIT_MAX_PARAMS][BSN_KIT_MAX_PARAM_LEN];
};

/*
 * Matches a raw request path against a pattern ("/pets/{id}"): literal segments compare
 * exactly, "{name}" captures one non-empty segment (percent-decoded). A trailing '/' on the
 * path is ignored. Returns true and fills *out (may be NULL) on a match.
 */
bool bsn_kit_match(const char *pattern, const char *path, struct bsn_kit_params *out);

/* ---- the app ---- */

struct bsn_kit_app *bsn_kit_app_new(const char *name);
void bsn_kit_app_free(struct bsn_kit_app *app);
/* Service version shown in OpenAPI (default "1.0.0"). */
void bsn_kit_app_set_version(struct bsn_kit_app *app, const char *version);
void bsn_kit_app_set_ready(struct bsn_kit_app *app, bsn_kit_ready_cb cb, void *data);

/*
 * Registers a route. method is "GET", "POST", ...; pattern may hold {params}. If body is set,
 * the request body must be a JSON object matching it (else 400 before the handler runs).
 * summary goes to OpenAPI. Strings and the schema must outlive the app. Returns 0, or -1 when
 * the app already has 64 routes or the pattern is malformed.
 */
int bsn_kit_route(struct bsn_kit_app *app, const char *method, const char *pattern,
                  bsn_kit_handler handler, void *data, const struct bsn_kit_schema *body,
                  const char *summary);

/*
 * Starts serving on loop at listen ("127.0.0.1:0"; NULL = HOST:PORT from the environment).
 * Returns 0 or -1 with err.
 */
int bsn_kit_app_listen(struct bsn_kit_app *app, struct bsn_loop *loop, const char *listen,
                       struct bsn_err *err);
/* The bound TCP port (after listen). */
int bsn_kit_app_port(const struct bsn_kit_app *app);
/*
 * Graceful shutdown: /readyz turns 503, the listener closes, in-flight requests finish. When
 * all connections are gone, done(loop, data) runs (may be NULL).
 */
void bsn_kit_app_shutdown(struct bsn_kit_app *app, bsn_cb done, void *data);
/*
 * The usual main: a fresh loop, listen from the environment, SIGTERM/SIGINT -> graceful
 * shutdown, returns 0 once drained (or -1 with err if it could not listen; err may be NULL,
 * the error is logged either way).
 */
int bsn_kit_app_run(struct bsn_kit_app *app, struct bsn_err *err);
/*
 * The same on a loop the caller owns (for apps whose async clients share the loop): returns
 * once drained; the loop is left to the caller to free.
 */
int bsn_kit_app_run_on(struct bsn_kit_app *app, struct bsn_loop *loop, struct bsn_err *err);

/* Environment helpers: value or def; integer value or def when absent/invalid. */
const char *bsn_kit_env(const char *name, const char *def);
long bsn_kit_env_int(const char *name, long def);

/* ---- the request context (valid only during the handler) ---- */

const char *bsn_kit_method(const struct bsn_kit_ctx *ctx);
const char *bsn_kit_path(const struct bsn_kit_ctx *ctx);
/* Path parameter by name, or NULL. */
const char *bsn_kit_param(const struct bsn_kit_ctx *ctx, const char *name);
/* Query parameter, percent-decoded into buf; NULL if absent or too long. */
const char *bsn_kit_query(const struct bsn_kit_ctx *ctx, const char *key, char *buf, size_t n);
/* Request header or NULL. */
const char *bsn_kit_header(const struct bsn_kit_ctx *ctx, const char *name);
/* Parsed JSON body (borrowed; NULL when the request had none). */
json_t *bsn_kit_body(const struct bsn_kit_ctx *ctx);
const char *bsn_kit_request_id(const struct bsn_kit_ctx *ctx);
/* The incoming traceparent, or NULL. */
const char *bsn_kit_traceparent(const struct bsn_kit_ctx *ctx);
struct bsn_kit_app *bsn_kit_ctx_app(const struct bsn_kit_ctx *ctx);

/*
 * Keeps the context alive after the handler returns: answer it later (exactly once) from the
 * loop thread. If the client disconnects meanwhile, bsn_kit_client_gone() turns true and the
 * answer is only logged and counted. Every deferred context must be answered before
 * bsn_kit_app_free(). Returns ctx.
 */
struct bsn_kit_ctx *bsn_kit_defer(struct bsn_kit_ctx *ctx);
bool bsn_kit_client_gone(const struct bsn_kit_ctx *ctx);

/* Adds a response header (before answering). */
void bsn_kit_set_header(struct bsn_kit_ctx *ctx, const char *name, const char *value);
/* Answers with a JSON value; steals the reference (json may be NULL for an empty 204). */
void bsn_kit_json(struct bsn_kit_ctx *ctx, int status, json_t *json);
/* Answers with a domain error as JSON (see above). */
void bsn_kit_error(struct bsn_kit_ctx *ctx, int status, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* Answers with a bsn_err (code, reason, message, causes as "details"). */
void bsn_kit_error_err(struct bsn_kit_ctx *ctx, const struct bsn_err *err);
/* Answers with raw bytes. */
void bsn_kit_text(struct bsn_kit_ctx *ctx, int status, const char *content_type, const char *body,
                  size_t len);

/* ---- client for calling other services ---- */

/*
 * A blocking client (bsn_http_fetch underneath) with a per-attempt timeout, retries with
 * backoff for idempotent methods (GET, HEAD, PUT, DELETE) on connection failures, timeouts and
 * 502/503/504, and a circuit breaker: after breaker_failures consecutive failed calls the
 * circuit opens and calls fail at once (503 "CircuitOpen") for breaker_open_ms, then one trial
 * call decides (half-open). X-Request-Id and traceparent of ctx are forwarded. Blocks the
 * calling thread: keep timeouts short in handlers.
 */
struct bsn_kit_client_opts {
    const char *base_url;  /* "http://pets:8080" */
    int timeout_ms;        /* per attempt; default 2000 */
    int retries;           /* extra attempts; default 2 (negative = none) */
    int backoff_ms;        /* first backoff, doubled each retry; default 50 */
    int breaker_failures;  /* default 5 */
    int breaker_open_ms;   /* default 5000 */
    struct bsn_loop *loop; /* needed for bsn_kit_client_call_async (keep-alive connections) */
};

struct bsn_kit_client;
enum bsn_kit_breaker_state { BSN_KIT_CLOSED, BSN_KIT_OPEN, BSN_KIT_HALF_OPEN };

struct bsn_kit_client *bsn_kit_client_new(const struct bsn_kit_client_opts *o);
void bsn_kit_client_free(struct bsn_kit_client *c);
enum bsn_kit_breaker_state bsn_kit_client_state(const struct bsn_kit_client *c);
/*
 * Calls method path (body may be NULL). On any HTTP answer returns 0 with *status and, when the
 * answer is JSON, *out (new reference, else NULL; out may be NULL). Returns -1 with err (502,
 * 504, or 503 CircuitOpen) when no answer came after all attempts. ctx may be NULL.
 */
int bsn_kit_client_call(struct bsn_kit_client *c, const struct bsn_kit_ctx *ctx, const char *method,
                        const char *path, const json_t *body, int *status, json_t **out,
                        struct bsn_err *err);

/*
 * The asynchronous variant (needs opts.loop): same retries, breaker and propagation, but the
 * loop keeps serving meanwhile; pair it with bsn_kit_defer(). cb runs once on the loop thread,
 * never from inside this call, with status 0 and err set when no answer came; body is the
 * parsed JSON answer (borrowed) or NULL. ctx is only read during this call. Returns 0, or -1
 * when the client has no loop. bsn_kit_client_free() cancels pending calls without callbacks.
 */
typedef void (*bsn_kit_client_cb)(int status, json_t *body, const struct bsn_err *err, void *data);
int bsn_kit_client_call_async(struct bsn_kit_client *c, const struct bsn_kit_ctx *ctx,
                              const char *method, const char *path, const json_t *body,
                              bsn_kit_client_cb cb, void *data);

/* ---- internal, shared between the kit's files ---- */

/* Builds the OpenAPI document for the app's routes (new reference). */
json_t *bsn_kit_openapi(const struct bsn_kit_app *app);
extern const char bsn_kit_docs_html[];

#endif
