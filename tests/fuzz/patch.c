/*
 * patch.c - fuzz target: input is "<doc JSON>|<patch JSON>"; applies the patch as JSON Patch,
 * merge patch and strategic merge patch (for a built-in kind and a custom one). Must never
 * crash or leak; failed patches must leave the document unchanged.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "codec/json.h"
#include "codec/patch.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check_atomic(json_t *doc, const json_t *patch, int which)
{
    struct bsn_err err;
    bsn_err_clear(&err);
    json_t *work = json_deep_copy(doc);
    json_t *before = json_deep_copy(doc);
    int rc;
    if (which == 0)
        rc = bsn_json_patch_apply(&work, patch, &err);
    else if (which == 1)
        rc = bsn_smp_apply(&work, patch, "apps", "Deployment", &err);
    else
        rc = bsn_smp_apply(&work, patch, "example.com", "Widget", &err);
    if (rc != 0 && !bsn_json_equal(work, before))
        abort();
    if (rc != 0 && err.code != 400 && err.code != 422)
        abort();
    json_decref(work);
    json_decref(before);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *s = (const char *)data;
    const char *bar = memchr(s, '|', size);
    if (!bar)
        return 0;
    struct bsn_err err;
    json_t *doc = bsn_json_parse(s, (size_t)(bar - s), &err);
    json_t *patch = bsn_json_parse(bar + 1, size - (size_t)(bar - s) - 1, &err);
    if (doc && patch) {
        for (int i = 0; i < 3; i++)
            check_atomic(doc, patch, i);
        json_t *m = bsn_merge_patch_apply(doc, patch);
        json_decref(m);
    }
    json_decref(doc);
    json_decref(patch);
    return 0;
}
