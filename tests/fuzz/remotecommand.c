/*
 * remotecommand.c - fuzz target for the agent's remotecommand input path (agent/exec.h):
 * the client's WebSocket frames through the channel decoder in every mode and version, fed
 * in pieces the way a socket delivers them; the same bytes as a query string and as a resize
 * message.
 *
 * In raw mode (the SPDY tunnel) the data also goes through the SPDY/3.1 parser and its
 * zlib header blocks (exec_spdy.h), in the same pieces.
 *
 * Input: byte 0 picks the version (1..5) and mode, byte 1 the split size; the rest is data.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "agent/exec.h"
#include "agent/exec_spdy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int
sink(const struct bsn_rc_msg *m, void *ud)
{
    size_t *total = ud;
    *total += m->len + m->width + m->height;
    return 0;
}

static void
syn(void *ud, uint32_t sid, const struct bsn_spdy_header *h, size_t n, bool fin)
{
    size_t *total = ud;
    for (size_t i = 0; i < n; i++)
        *total += strlen(h[i].name) + strlen(h[i].value);
    *total += sid + fin;
}

static void
data_cb(void *ud, uint32_t sid, const char *data, size_t len, bool fin)
{
    size_t *total = ud;
    *total += sid + len + fin + (len ? (unsigned char)data[0] : 0);
}

static const struct bsn_spdy_cbs spdy_cbs = {syn, data_cb, NULL, NULL, NULL};

static void
spdy(const uint8_t *data, size_t size, size_t step)
{
    size_t total = 0;
    struct bsn_spdy s;
    bsn_spdy_init(&s, &spdy_cbs, &total);
    char *buf = malloc(size + 1);
    size_t have = 0, fed = 0;
    while (fed < size) {
        size_t n = size - fed < step ? size - fed : step;
        memcpy(buf + have, data + fed, n);
        have += n;
        fed += n;
        long used = bsn_spdy_parse(&s, buf, have);
        if (used < 0)
            break;
        memmove(buf, buf + used, have - (size_t)used);
        have -= (size_t)used;
    }
    free(buf);
    bsn_spdy_fini(&s);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    int version = 1 + data[0] % 5;
    enum bsn_rc_mode mode = (enum bsn_rc_mode)((data[0] >> 3) % 3);
    size_t step = 1 + data[1];
    data += 2;
    size -= 2;

    size_t total = 0;
    struct bsn_rc_decoder d;
    bsn_rc_decoder_init(&d, version, mode, sink, &total);
    char *buf = malloc(size + 1);
    size_t have = 0, fed = 0;
    while (fed < size) {
        size_t n = size - fed < step ? size - fed : step;
        memcpy(buf + have, data + fed, n);
        have += n;
        fed += n;
        int code = 0;
        long used = bsn_rc_decode(&d, buf, have, &code);
        if (used < 0)
            break;
        memmove(buf, buf + used, have - (size_t)used);
        have -= (size_t)used;
    }
    bsn_rc_decoder_fini(&d);
    if (mode == BSN_RC_MODE_RAW)
        spdy(data, size, step);

    memcpy(buf, data, size);
    buf[size] = 0;
    struct bsn_rc_opts o;
    char why[128];
    if (bsn_rc_opts_parse(buf, &o, why, sizeof(why)) == 0)
        bsn_rc_opts_fini(&o);
    uint16_t w, h;
    bsn_rc_parse_resize((const char *)data, size, &w, &h);
    free(buf);
    return 0;
}
