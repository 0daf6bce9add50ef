/*
 * http_chunked.c - fuzz target for the chunked body decoder (src/http/parser.h).
 * Decodes the input in one piece and again split at a data-derived point, and checks both
 * give the same result (the decoder is incremental, so splitting must not matter).
 */
#include <assert.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "http/parser.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *a = malloc(size ? size : 1);
    memcpy(a, data, size);
    struct bsn_http_chunked st;
    bsn_http_chunked_init(&st);
    size_t alen = size;
    int ra = bsn_http_chunked_decode(&st, a, &alen);
    assert(alen <= size);
    assert(ra == -1 || ra == -2 || (ra >= 0 && alen + (size_t)ra <= size));

    /* Same input in two pieces. */
    size_t cut = size ? (size_t)data[0] % (size + 1) : 0;
    char *b = malloc(size ? size : 1);
    memcpy(b, data, size);
    bsn_http_chunked_init(&st);
    size_t l1 = cut;
    int r1 = bsn_http_chunked_decode(&st, b, &l1);
    if (r1 == -2) {
        size_t l2 = size - cut;
        char *second = b + cut;
        int r2 = bsn_http_chunked_decode(&st, second, &l2);
        assert(r2 == ra);
        if (ra != -1) {
            assert(l1 + l2 == alen);
            assert(memcmp(b, a, l1) == 0);
            assert(memcmp(second, a + l1, l2) == 0);
        }
    } else if (r1 >= 0) {
        assert(ra >= 0 && l1 == alen && ra == r1 + (int)(size - cut));
    } else {
        assert(ra == -1);
    }
    free(a);
    free(b);
    return 0;
}
