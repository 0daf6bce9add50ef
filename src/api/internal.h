/*
 * internal.h - shared between the API server's files (not a public interface).
 */
#ifndef BSN_API_INTERNAL_H
#define BSN_API_INTERNAL_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "api/apiserver.h"
#include "api/cache.h"
#include "api/registry.h"
#include "base/buf.h"
#include "base/err.h"
#include "base/map.h"
#include "http/server.h"

struct pending;

struct apisrv_metrics {
    uint64_t requests[8][6]; /* [verb][status class 1xx..5xx + other] */
    uint64_t latency_buckets[8][12];
    double latency_sum[8];
    uint64_t latency_count[8];
    uint64_t store_commits, store_ops;
    double store_seconds;
    uint64_t store_buckets[12];
    int64_t watchers;
    struct bsn_map by_resource; /* "verb|resource|code class" -> uint64_t* */
};

struct bsn_apiserver {
    struct bsn_loop *loop;
    struct bsn_store *store;
    struct bsn_http_server *http;
    struct bsn_cache cache;
    char *token;
    size_t max_body;
    char *advertise_address;
    int advertise_port;

    /* group commit */
    struct pending **batch;
    size_t batch_len, batch_cap;
    struct bsn_map overlay; /* key -> struct pending* (latest pending write of that key) */
    bool commit_scheduled;
    /* requests that read state while a batch was pending answer after the commit */
    struct deferred_reply *deferred, **deferred_tail; /* FIFO; tail makes appends O(1) */
    /* the writer thread: runs one commit job at a time off the loop (fsync) */
    struct commit_writer *writer;
    struct commit_job *inflight; /* job handed to the writer, not yet published */

    /* allocators (rebuilt from the cache at startup) */
    uint32_t svc_net;    /* the service CIDR: network address (host order) */
    unsigned svc_prefix; /* and prefix length */
    uint32_t svc_size;   /* addresses in it */
    char svc_cidr[20];   /* as text, for messages */
    uint8_t *svc_ips;    /* bitmap over the service CIDR */
    uint8_t *node_ports; /* bitmap over 30000-32767 */

    struct bsn_timer compact_timer;
    struct bsn_timer bookmark_timer;
    struct apisrv_metrics metrics;
    uint64_t started_ms;
    struct watch_conn *watches; /* all open watch streams */
    struct pod_handler {
        char sub[16];
        bsn_api_subresource_fn fn;
        void *data;
    } pod_handlers[4];
};

/* One queued write. */
struct pending {
    char *key;
    int type;     /* BSN_STORE_CREATE / UPDATE / DELETE */
    json_t *tree; /* new object (CREATE/UPDATE) or final object (DELETE) */
    int64_t create_rev;
    const struct bsn_resource *res; /* resource to answer in (version conversion) */
    struct bsn_http_req *req;       /* NULL for internal writes */
    int status;                     /* HTTP status to answer with (200/201) */
    bool answer_status;             /* DELETE: answer with a Success Status instead of obj */
    struct req_ctx *ctx;
    struct bsn_obj *result; /* after commit */
    void (*done)(struct bsn_apiserver *s, struct pending *p, void *data);
    void *done_data;
};

/* Where a request's answer goes: the HTTP connection, or an in-process client (client.c). */
struct req_ctx;
struct api_sink_ops {
    void (*add_header)(struct req_ctx *c, const char *name, const char *value);
    void (*respond)(struct req_ctx *c, int status, const char *ctype, const char *body, size_t n);
    void (*stream_start)(struct req_ctx *c, int status, const char *ctype);
    /* returns -1 when the reader is gone (its close callback follows) */
    int (*stream_write)(struct req_ctx *c, const char *data, size_t n);
    void (*stream_end)(struct req_ctx *c);
    /* cb fires once if the reader goes away before the stream ends */
    void (*on_close)(struct req_ctx *c, void (*cb)(void *data), void *data);
    /* frees the context once the request is finished */
    void (*release)(struct req_ctx *c);
    /* optional (in-process readers): a watch event as the parsed object, borrowed and
     * read-only, instead of its wire line; returns -1 when the reader is gone */
    int (*stream_event)(struct req_ctx *c, const char *type, json_t *obj);
};
extern const struct api_sink_ops api_http_sink;

/* Parsed request. */
struct req_ctx {
    const struct api_sink_ops *sink;
    void *sink_data;
    void *close_hook; /* bsn_api_reply_on_close's record, freed when the stream ends */
    struct bsn_apiserver *srv;
    struct bsn_http_req *req;
    const char *method;
    const char *path, *query; /* raw, query without '?' (may be "") */
    const char *body;
    size_t body_len;
    const char *ctype, *accept;
    char group[64], version[32], ns[254], plural[64], name[254], sub[32];
    bool watch_path; /* /api/v1/watch/... */
    const struct bsn_resource *res;
    bool table, yaml, dry_run;
    int verb;
    uint64_t start_ns;
};

enum {
    VERB_GET,
    VERB_LIST,
    VERB_WATCH,
    VERB_CREATE,
    VERB_UPDATE,
    VERB_PATCH,
    VERB_DELETE,
    VERB_OTHER
};

/* query parameter (percent-decoded) into out; returns false if absent */
bool api_query(const struct req_ctx *c, const char *name, char *out, size_t n);
bool api_query_bool(const struct req_ctx *c, const char *name);

/* the request dispatcher (rest.c): c is filled by the HTTP adapter (http_glue.c) */
void api_handle(struct req_ctx *c);

/* responses (status.c) */
void api_reply_json(struct req_ctx *c, int status, json_t *body); /* steals body */
void api_reply_raw(struct req_ctx *c, int status, const char *ctype, const char *body, size_t n);
void api_reply_err(struct req_ctx *c, const struct bsn_err *err);
void api_reply_status(struct req_ctx *c, int code, const char *reason, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* Answers with an object in the request's resource/version/format (JSON, YAML or Table). */
void api_reply_obj(struct req_ctx *c, int status, const struct bsn_obj *o);
/* A request context for an HTTP request (sink, method, path, query, body, content types). */
struct req_ctx *api_req_ctx_http(struct bsn_apiserver *s, struct bsn_http_req *req);
/* The registry row that owns a resource's storage (another version of it, or itself). */
const struct bsn_resource *api_storage_resource(const struct bsn_resource *res);
json_t *api_status_json(const struct bsn_err *err, const struct req_ctx *c);
void api_ctx_free(struct req_ctx *c);
void api_metrics_observe(struct bsn_apiserver *s, const struct bsn_resource *res, int verb,
                         int status, uint64_t start_ns);

/* keys */
void api_key(const struct bsn_resource *res, const char *ns, const char *name, char *out, size_t n);
void api_rkey(const struct bsn_resource *res, char *out, size_t n);
const char *api_storage_group(const struct bsn_resource *res);
/* Converts a stored tree into res's version (apiVersion, kind, conversion hook). */
void api_convert_out(json_t *tree, const struct bsn_resource *res);
void api_convert_in(json_t *tree, const struct bsn_resource *res);

/* lookups through the pending overlay: returns a new tree or NULL if absent */
json_t *api_lookup(struct bsn_apiserver *s, const char *key, int64_t *rev);
bool api_exists(struct bsn_apiserver *s, const char *key);

/* writes (commit.c) */
struct pending *api_write(struct bsn_apiserver *s, int type, const char *key, json_t *tree,
                          const struct bsn_resource *res);
/* Commits everything queued, synchronously (startup, shutdown). */
void api_commit_now(struct bsn_apiserver *s);
/* True while writes are queued or being committed (reads answer after them). */
bool api_writes_pending(const struct bsn_apiserver *s);
void api_writer_start(struct bsn_apiserver *s);
void api_writer_stop(struct bsn_apiserver *s);

/* table.c */
json_t *api_table(const struct bsn_resource *res, struct bsn_obj **objs, size_t n,
                  const char *list_rv, const char *cont, bool with_columns);
json_t *api_table_from_trees(const struct bsn_resource *res, json_t **trees, size_t n,
                             const char *list_rv, bool with_columns);

void api_defer_reply(struct bsn_apiserver *s, struct req_ctx *c, int status, const char *ctype,
                     const char *body, size_t len);
void api_metrics_text(struct bsn_apiserver *s, struct bsn_buf *b);
json_t *api_scale_json(const json_t *obj);

/* stream.c: checks for pods/exec|attach|portforward (bound pod, valid container); false when
 * it answered the request with an error */
struct bsn_obj;
bool api_stream_validate(struct req_ctx *c, const struct bsn_obj *pod);

/* discovery.c */
bool api_discovery(struct req_ctx *c);

/* meta.c */
int api_validate_meta(const struct bsn_resource *res, json_t *obj, const json_t *old,
                      struct bsn_err *err);
void api_prepare_create_meta(struct bsn_apiserver *s, const struct bsn_resource *res, json_t *obj);
void api_random_suffix(char *out, size_t n);
void api_new_uid(char *out);
void api_now_rfc3339(char *out, size_t n);

/* allocators (alloc.c) */
int api_alloc_service(struct bsn_apiserver *s, json_t *svc, const json_t *old, struct bsn_err *err);
void api_release_service(struct bsn_apiserver *s, const json_t *svc);
void api_alloc_rebuild(struct bsn_apiserver *s);

/* watch.c */
void api_watch(struct req_ctx *c, const char *rv, const char *label_sel, const char *field_sel,
               bool bookmarks, long timeout_s);
void api_watch_bookmarks(struct bsn_apiserver *s);
void api_watch_close_all(struct bsn_apiserver *s);

/* selectors (select.c) */
struct api_filter;
struct api_filter *api_filter_new(const struct bsn_resource *res, const char *ns,
                                  const char *label_sel, const char *field_sel,
                                  struct bsn_err *err);
bool api_filter_match(const struct api_filter *f, const struct bsn_obj *o);
void api_filter_free(struct api_filter *f);

/* bootstrap objects (bootstrap.c) */
void api_bootstrap(struct bsn_apiserver *s);

#endif
