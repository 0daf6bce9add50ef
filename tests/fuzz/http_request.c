/*
 * http_request.c - fuzz target for the HTTP/1.x request head parser (src/http/parser.h).
 * Checks invariants: a success consumes at most the input, every string points inside the
 * input, and the parse is deterministic.
 */
#include <assert.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "http/parser.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
in_range(struct bsn_str s, const char *b, size_t n)
{
    if (s.base && s.len)
        assert(s.base >= b && s.base + s.len <= b + n);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* Copy so reads past the end are caught by ASan. */
    char *buf = malloc(size ? size : 1);
    memcpy(buf, data, size);
    static struct bsn_http_request_head h;
    int status = 0;
    int rc = bsn_http_parse_request(buf, size, &h, &status);
    assert(rc == -1 || rc == -2 || (rc > 0 && (size_t)rc <= size));
    if (rc == -1)
        assert(status == 400 || status == 414 || status == 431 || status == 501 || status == 505);
    if (rc > 0) {
        in_range(h.method, buf, size);
        in_range(h.target, buf, size);
        in_range(h.path, buf, size);
        in_range(h.query, buf, size);
        assert(h.nheaders <= BSN_HTTP_MAX_HEADERS);
        for (size_t i = 0; i < h.nheaders; i++) {
            in_range(h.headers[i].name, buf, size);
            in_range(h.headers[i].value, buf, size);
        }
        assert(!(h.chunked && h.content_length >= 0));
        /* Parsing only the head again gives the same answer. */
        int st2 = 0;
        static struct bsn_http_request_head h2;
        assert(bsn_http_parse_request(buf, (size_t)rc, &h2, &st2) == rc);
        /* Any strict prefix is incomplete or an error, never a success. */
        if (rc > 1) {
            int r3 = bsn_http_parse_request(buf, (size_t)rc - 1, &h2, &st2);
            assert(r3 < 0);
        }
    }
    free(buf);
    return 0;
}
