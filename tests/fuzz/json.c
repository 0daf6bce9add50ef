/*
 * json.c - fuzz target: JSON parse (lenient and strict), dump, re-parse must be equal.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "codec/json.h"
#include "codec/yaml.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct bsn_err err;
    bsn_err_clear(&err);
    json_t *v = bsn_json_parse((const char *)data, size, &err);
    json_t *s = bsn_json_parse_strict((const char *)data, size, &err);
    if (s && !v)
        abort();
    if (v) {
        char *txt = bsn_json_dump(v);
        json_t *back = bsn_json_parse(txt, strlen(txt), &err);
        if (!back || !bsn_json_equal(back, v))
            abort();
        /* JSON is YAML: our YAML emitter must round-trip it too */
        struct bsn_buf out;
        bsn_buf_init(&out);
        if (bsn_yaml_emit(v, &out) == 0) {
            json_t *y = bsn_yaml_parse_one(out.data, out.len, &err);
            if (y && !bsn_json_equal(y, v) && !json_is_string(v))
                abort();
            json_decref(y);
        }
        bsn_buf_fini(&out);
        json_decref(back);
        free(txt);
    }
    json_decref(v);
    json_decref(s);
    return 0;
}
