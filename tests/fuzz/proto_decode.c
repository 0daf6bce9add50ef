/*
 * proto_decode.c - fuzz target: Kubernetes protobuf decode. Whatever decodes must encode
 * again; encoding is then a fixpoint: decode(encode(v)) encodes to the very same bytes
 * (encoding fills Go's zero values, so decode(encode(v)) may have more fields than v).
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
    struct bsn_buf b1, b2;
    bsn_buf_init(&b1);
    bsn_buf_init(&b2);
    bsn_err_clear(&err);
    if (bsn_proto_encode(v, &b1, &err) == 0) {
        json_t *y = bsn_proto_decode(b1.data, b1.len, &err);
        if (!y)
            abort();
        if (bsn_proto_encode(y, &b2, &err) < 0 || b1.len != b2.len ||
            memcmp(b1.data, b2.data, b1.len))
            abort();
        json_decref(y);
    }
    bsn_buf_fini(&b1);
    bsn_buf_fini(&b2);
    json_decref(v);
    return 0;
}
