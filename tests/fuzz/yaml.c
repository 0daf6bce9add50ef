/*
 * yaml.c - fuzz target: YAML parse, emit every document, re-parse; must never crash and the
 * re-parse of our own output must succeed and give the same value.
 */
#include <stdint.h>
#include <stdlib.h>

#include "codec/json.h"
#include "codec/yaml.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct bsn_err err;
    bsn_err_clear(&err);
    json_t *docs = bsn_yaml_parse((const char *)data, size, &err);
    if (!docs)
        return 0;
    for (size_t i = 0; i < json_array_size(docs); i++) {
        struct bsn_buf out;
        bsn_buf_init(&out);
        json_t *doc = json_array_get(docs, i);
        if (bsn_yaml_emit(doc, &out) == 0) {
            json_t *back = bsn_yaml_parse_one(out.data, out.len, &err);
            if (!back || !bsn_json_equal(back, doc))
                abort();
            json_decref(back);
        }
        bsn_buf_fini(&out);
    }
    json_decref(docs);
    return 0;
}
