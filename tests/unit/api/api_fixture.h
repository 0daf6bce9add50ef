/*
 * api_fixture.h - unit-test fixture: an API server on a memory store and a fresh loop,
 * listening on a free loopback port, with a client chosen by the test.
 */
#ifndef BSN_TEST_API_FIXTURE_H
#define BSN_TEST_API_FIXTURE_H

#include <stdlib.h>

#include "api/apiserver.h"
#include "api/client.h"
#include "loop/loop.h"
#include "store/store.h"

struct fixture {
    struct bsn_loop *loop;
    struct bsn_store *store;
    struct bsn_apiserver *api;
    struct bsn_client *cl;
};

/* Loop, memory store and API server (token may be NULL: no authentication); f->cl is the
 * test's to set. */
static inline struct fixture *
fixture_new(const char *token)
{
    struct fixture *f = calloc(1, sizeof(*f));
    f->loop = bsn_loop_new();
    bsn_store_open_memory(&f->store);
    struct bsn_apiserver_opts o = {.listen = "127.0.0.1:0", .store = f->store, .token = token};
    struct bsn_err err;
    f->api = bsn_apiserver_new(f->loop, &o, &err);
    return f;
}

static inline void
fixture_free(struct fixture *f)
{
    bsn_client_free(f->cl);
    bsn_apiserver_free(f->api);
    bsn_loop_run_once(f->loop, 0);
    bsn_loop_free(f->loop);
    bsn_store_close(f->store);
    free(f);
}

#endif
