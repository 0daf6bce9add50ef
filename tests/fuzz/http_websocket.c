/*
 * http_websocket.c - fuzz target for the WebSocket frame decoder (src/http/websocket.h), as
 * server (masked frames) and as client (unmasked), whole and fed in two pieces.
 */
#include <assert.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "http/websocket.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int
count_cb(enum bsn_ws_opcode op, const char *d, size_t len, void *ud)
{
    assert(op == BSN_WS_TEXT || op == BSN_WS_BINARY || op == BSN_WS_CLOSE || op == BSN_WS_PING ||
           op == BSN_WS_PONG);
    if (op == BSN_WS_TEXT)
        assert(bsn_utf8_valid(d, len));
    (*(size_t *)ud)++;
    return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    for (int server = 0; server < 2; server++) {
        char *buf = malloc(size ? size : 1);
        memcpy(buf, data, size);
        struct bsn_ws_decoder d;
        bsn_ws_decoder_init(&d, server, 4096);
        size_t msgs = 0;
        int cc = 0;
        long n = bsn_ws_decode(&d, buf, size, count_cb, &msgs, &cc);
        assert(n == -1 || (n >= 0 && (size_t)n <= size));
        if (n == -1)
            assert(cc == 1002 || cc == 1007 || cc == 1009);
        bsn_ws_decoder_fini(&d);
        free(buf);
    }
    return 0;
}
