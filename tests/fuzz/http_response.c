/*
 * http_response.c - fuzz target for the HTTP/1.x response head parser (src/http/parser.h).
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
    char *buf = malloc(size ? size : 1);
    memcpy(buf, data, size);
    static struct bsn_http_response_head h;
    int rc = bsn_http_parse_response(buf, size, &h);
    assert(rc == -1 || rc == -2 || (rc > 0 && (size_t)rc <= size));
    if (rc > 0) {
        assert(h.status >= 100 && h.status <= 999);
        assert(h.nheaders <= BSN_HTTP_MAX_HEADERS);
        for (size_t i = 0; i < h.nheaders; i++)
            assert(h.headers[i].name.base >= buf &&
                   h.headers[i].value.base + h.headers[i].value.len <= buf + size);
        assert(!(h.chunked && h.content_length >= 0));
    }
    free(buf);
    return 0;
}
