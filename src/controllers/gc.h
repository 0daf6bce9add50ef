/*
 * gc.h - the garbage collector's decision (pure, unit-tested; gc.c runs it).
 *
 * Cascading deletion at delete time is done by the API server (src/api/rest.c); the
 * collector handles what that misses: dependents whose owners (by uid) are gone, owners in
 * foreground deletion waiting for their blocking dependents.
 */
#ifndef BSN_CONTROLLERS_GC_H
#define BSN_CONTROLLERS_GC_H

#include <jansson.h>

/* What is known of one owner reference. */
enum bsn_gc_owner {
    BSN_GC_SOLID,    /* an object with that uid exists */
    BSN_GC_DANGLING, /* confirmed absent (not found, or that name has another uid) */
    BSN_GC_WAITING,  /* exists, being deleted in the foreground */
    BSN_GC_UNKNOWN,  /* not confirmed yet */
};

enum bsn_gc_action {
    BSN_GC_KEEP,   /* nothing to do (or wait for confirmation) */
    BSN_GC_DELETE, /* every owner is gone: delete the dependent */
    BSN_GC_PATCH,  /* some owners remain: drop the references to the gone ones */
};

/*
 * Upstream attemptToDeleteItem: with a solid owner, references to dangling (and waiting)
 * owners are removed (*keep = the remaining references, new reference); with none, the
 * dependent is deleted once every reference is confirmed dangling or waiting.
 */
enum bsn_gc_action bsn_gc_decide(const json_t *refs, const enum bsn_gc_owner *state, json_t **keep);

#endif
