/*
 * watchstream.c - fuzz target for the remote API client's watch stream parser
 * (bsn_watch_parser, api/client.h): arbitrary bytes fed in arbitrary chunks under a small line
 * cap. The first byte picks the chunk size; every event handed out must carry a type and an
 * object, and the parser must never hold more than its cap.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "api/client.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int
check_event(const char *type, json_t *obj, void *ud)
{
    size_t *n = ud;
    if (!type || !json_is_object(obj))
        abort();
    (*n)++;
    return *n > 1000 ? -1 : 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    size_t chunk = (size_t)data[0] % 17 + 1;
    data++;
    size--;
    struct bsn_watch_parser p;
    bsn_watch_parser_init(&p, 256);
    size_t events = 0;
    for (size_t off = 0; off < size; off += chunk) {
        size_t n = size - off < chunk ? size - off : chunk;
        int rc = bsn_watch_parser_feed(&p, (const char *)data + off, n, check_event, &events);
        if (p.len > p.max_line || p.cap > p.max_line)
            abort();
        if (rc == -1)
            break;
        if (rc == -2 && !p.failed)
            abort();
    }
    bsn_watch_parser_fini(&p);
    return 0;
}
