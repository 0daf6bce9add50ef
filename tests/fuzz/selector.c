/*
 * selector.c - fuzz target: label selector and field selector parsing, matching, and the
 * canonical string form (which must parse back to the same number of requirements). Also
 * feeds the input to the quantity and duration parsers, which face the same kind of input.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/mem.h"
#include "codec/quantity.h"
#include "codec/selector.h"
#include "codec/util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = bsn_strndup((const char *)data, size);
    struct bsn_err err;
    struct bsn_selector sel;
    if (bsn_selector_parse(s, &sel, &err) == 0) {
        json_t *labels = json_pack("{s:s,s:s}", "app", "web", "n", "5");
        (void)bsn_selector_match(&sel, labels);
        json_decref(labels);
        struct bsn_buf b;
        bsn_buf_init(&b);
        bsn_selector_string(&sel, &b);
        struct bsn_selector again;
        if (bsn_selector_parse(b.data ? b.data : "", &again, &err) != 0 || again.n != sel.n)
            abort();
        bsn_selector_fini(&again);
        bsn_buf_fini(&b);
        bsn_selector_fini(&sel);
    }
    struct bsn_field_selector fs;
    if (bsn_field_selector_parse(s, &fs, &err) == 0) {
        json_t *obj = json_pack("{s:{s:s}}", "metadata", "name", "x");
        (void)bsn_field_selector_match(&fs, bsn_field_get_json, obj, &err);
        json_decref(obj);
        bsn_field_selector_fini(&fs);
    }
    struct bsn_quantity q;
    if (bsn_quantity_parse(s, &q, &err) == 0) {
        char out[BSN_QUANTITY_STR_MAX];
        bsn_quantity_format(&q, out, sizeof(out));
        struct bsn_quantity q2;
        if (bsn_quantity_parse(out, &q2, &err) != 0 || bsn_quantity_cmp(&q, &q2) != 0)
            abort();
    }
    int64_t ns;
    (void)bsn_duration_parse(s, &ns, &err);
    free(s);
    return 0;
}
