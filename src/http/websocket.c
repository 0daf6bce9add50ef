/*
 * websocket.c - RFC 6455 framing and handshake helpers (see websocket.h).
 */
#include "http/websocket.h"

#include <openssl/evp.h>
#include <openssl/rand.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/mem.h"

#define WS_GUID "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

void
bsn_ws_accept_key(const char *client_key, char out[29])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    BSN_AUTOFREE char *in = bsn_sprintf("%s%s", client_key, WS_GUID);
    EVP_Digest(in, strlen(in), md, &mdlen, EVP_sha1(), NULL);
    EVP_EncodeBlock((unsigned char *)out, md, (int)mdlen);
    out[28] = 0;
}

static bool
key_ok(const char *k)
{
    /* base64 of 16 bytes: 22 significant characters then "==" */
    if (!k || strlen(k) != 24 || strcmp(k + 22, "==") != 0)
        return false;
    for (int i = 0; i < 22; i++) {
        char c = k[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '+' || c == '/'))
            return false;
    }
    return true;
}

int
bsn_ws_server_accept(struct bsn_http_req *req, const char *const *protocols, const char **chosen,
                     struct bsn_http_upgraded *out)
{
    if (chosen)
        *chosen = NULL;
    const char *upgrade = bsn_http_req_header(req, "upgrade");
    const char *conn = bsn_http_req_header(req, "connection");
    const char *version = bsn_http_req_header(req, "sec-websocket-version");
    const char *key = bsn_http_req_header(req, "sec-websocket-key");
    if (strcmp(req->method, "GET") != 0 || !upgrade || !conn ||
        !bsn_http_list_has(bsn_str_c(upgrade), "websocket") ||
        !bsn_http_list_has(bsn_str_c(conn), "upgrade") || !key_ok(key)) {
        static const char msg[] = "invalid WebSocket upgrade request\n";
        bsn_http_respond(req, 400, "text/plain", msg, sizeof(msg) - 1);
        return -1;
    }
    if (!version || strcmp(version, "13") != 0) {
        static const char msg[] = "unsupported WebSocket version\n";
        bsn_http_req_add_header(req, "Sec-WebSocket-Version", "13");
        bsn_http_respond(req, 426, "text/plain", msg, sizeof(msg) - 1);
        return -1;
    }
    const char *pick = NULL;
    for (size_t p = 0; protocols && protocols[p] && !pick; p++) {
        for (size_t i = 0; i < req->nheaders && !pick; i++) {
            const struct bsn_http_header *h = &req->headers[i];
            if (h->name.len == 22 && strncasecmp(h->name.base, "sec-websocket-protocol", 22) == 0) {
                /* subprotocol tokens are case-sensitive; compare exactly */
                const char *v = h->value.base, *e = v + h->value.len;
                size_t pl = strlen(protocols[p]);
                while (v < e) {
                    while (v < e && (*v == ' ' || *v == ','))
                        v++;
                    const char *s = v;
                    while (v < e && *v != ',' && *v != ' ')
                        v++;
                    if ((size_t)(v - s) == pl && memcmp(s, protocols[p], pl) == 0)
                        pick = protocols[p];
                }
            }
        }
    }
    char accept[29];
    bsn_ws_accept_key(key, accept);
    bsn_http_req_add_header(req, "Upgrade", "websocket");
    bsn_http_req_add_header(req, "Connection", "Upgrade");
    bsn_http_req_add_header(req, "Sec-WebSocket-Accept", accept);
    if (pick)
        bsn_http_req_add_header(req, "Sec-WebSocket-Protocol", pick);
    if (chosen)
        *chosen = pick;
    return bsn_http_req_upgrade(req, 101, out);
}

/* ---- encoding ---- */

static void
apply_mask(char *p, size_t n, const uint8_t m[4])
{
    for (size_t i = 0; i < n; i++)
        p[i] ^= (char)m[i & 3];
}

void
bsn_ws_encode(struct bsn_buf *out, enum bsn_ws_opcode op, bool fin, const void *data, size_t len,
              bool mask)
{
    uint8_t h[14];
    size_t hl = 0;
    h[hl++] = (uint8_t)((fin ? 0x80 : 0) | (op & 0x0f));
    uint8_t mbit = mask ? 0x80 : 0;
    if (len < 126) {
        h[hl++] = (uint8_t)(mbit | len);
    } else if (len <= 0xffff) {
        h[hl++] = mbit | 126;
        h[hl++] = (uint8_t)(len >> 8);
        h[hl++] = (uint8_t)len;
    } else {
        h[hl++] = mbit | 127;
        for (int i = 7; i >= 0; i--)
            h[hl++] = (uint8_t)((uint64_t)len >> (8 * i));
    }
    uint8_t m[4] = {0};
    if (mask) {
        if (RAND_bytes(m, 4) != 1)
            abort(); /* no randomness: nothing sensible to do */
        memcpy(h + hl, m, 4);
        hl += 4;
    }
    bsn_buf_append(out, h, hl);
    size_t at = out->len;
    if (len)
        bsn_buf_append(out, data, len);
    if (mask)
        apply_mask(out->data + at, len, m);
}

void
bsn_ws_encode_close(struct bsn_buf *out, uint16_t code, const char *reason, bool mask)
{
    char p[125];
    p[0] = (char)(code >> 8);
    p[1] = (char)(code & 0xff);
    size_t rl = reason ? strlen(reason) : 0;
    if (rl > sizeof(p) - 2)
        rl = sizeof(p) - 2;
    /* don't cut a UTF-8 sequence in half */
    while (rl > 0 && !bsn_utf8_valid(reason, rl))
        rl--;
    if (rl)
        memcpy(p + 2, reason, rl);
    bsn_ws_encode(out, BSN_WS_CLOSE, true, p, rl + 2, mask);
}

/* ---- decoding ---- */

bool
bsn_utf8_valid(const char *str, size_t n)
{
    const unsigned char *s = (const unsigned char *)str;
    size_t i = 0;
    while (i < n) {
        unsigned c = s[i];
        if (c < 0x80) {
            i++;
            continue;
        }
        size_t need;
        unsigned cp;
        if (c >= 0xc2 && c <= 0xdf) {
            need = 1;
            cp = c & 0x1f;
        } else if (c >= 0xe0 && c <= 0xef) {
            need = 2;
            cp = c & 0x0f;
        } else if (c >= 0xf0 && c <= 0xf4) {
            need = 3;
            cp = c & 0x07;
        } else {
            return false;
        }
        if (n - i <= need)
            return false;
        for (size_t k = 1; k <= need; k++) {
            if ((s[i + k] & 0xc0) != 0x80)
                return false;
            cp = (cp << 6) | (s[i + k] & 0x3f);
        }
        if ((need == 2 && cp < 0x800) || (need == 3 && cp < 0x10000) || cp > 0x10ffff ||
            (cp >= 0xd800 && cp <= 0xdfff))
            return false;
        i += need + 1;
    }
    return true;
}

void
bsn_ws_decoder_init(struct bsn_ws_decoder *d, bool server, size_t max_message)
{
    d->server = server;
    d->max_message = max_message ? max_message : (16u << 20);
    bsn_buf_init(&d->frag);
    d->frag_opcode = -1;
}

void
bsn_ws_decoder_fini(struct bsn_ws_decoder *d)
{
    bsn_buf_fini(&d->frag);
}

static bool
close_code_ok(unsigned code)
{
    return (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014) ||
           (code >= 3000 && code <= 4999);
}

long
bsn_ws_decode(struct bsn_ws_decoder *d, char *buf, size_t len, bsn_ws_msg_cb cb, void *ud,
              int *close_code)
{
    size_t off = 0;
    int dummy;
    if (!close_code)
        close_code = &dummy;
    *close_code = 0;
    while (len - off >= 2) {
        const uint8_t *p = (const uint8_t *)buf + off;
        size_t avail = len - off;
        bool fin = p[0] & 0x80;
        int op = p[0] & 0x0f;
        bool masked = p[1] & 0x80;
        uint64_t plen = p[1] & 0x7f;
        size_t hl = 2;
        if (p[0] & 0x70)
            goto protocol; /* no extensions negotiated */
        if (op != BSN_WS_CONT && op != BSN_WS_TEXT && op != BSN_WS_BINARY && op != BSN_WS_CLOSE &&
            op != BSN_WS_PING && op != BSN_WS_PONG)
            goto protocol;
        if (masked != d->server)
            goto protocol;
        if (plen == 126) {
            if (avail < 4)
                break;
            plen = ((uint64_t)p[2] << 8) | p[3];
            if (plen < 126)
                goto protocol; /* non-minimal length */
            hl = 4;
        } else if (plen == 127) {
            if (avail < 10)
                break;
            plen = 0;
            for (int i = 0; i < 8; i++)
                plen = (plen << 8) | p[2 + i];
            if (plen >> 63 || plen <= 0xffff)
                goto protocol;
            hl = 10;
        }
        bool control = op & 0x8;
        if (control && (!fin || plen > 125))
            goto protocol;
        if (!control && d->frag.len + plen > d->max_message) {
            *close_code = BSN_WS_CLOSE_TOO_BIG;
            return -1;
        }
        uint8_t m[4] = {0};
        if (masked) {
            if (avail < hl + 4)
                break;
            memcpy(m, p + hl, 4);
            hl += 4;
        }
        if (avail - hl < plen)
            break;
        char *payload = buf + off + hl;
        size_t n = (size_t)plen;
        if (masked)
            apply_mask(payload, n, m);
        off += hl + n;
        int stop = 0;
        if (control) {
            if (op == BSN_WS_CLOSE) {
                if (n == 1)
                    goto protocol;
                if (n >= 2) {
                    unsigned code = ((unsigned)(uint8_t)payload[0] << 8) | (uint8_t)payload[1];
                    if (!close_code_ok(code))
                        goto protocol;
                    if (!bsn_utf8_valid(payload + 2, n - 2)) {
                        *close_code = BSN_WS_CLOSE_BAD_DATA;
                        return -1;
                    }
                }
            }
            stop = cb(op, payload, n, ud);
        } else if (op == BSN_WS_CONT) {
            if (d->frag_opcode < 0)
                goto protocol;
            bsn_buf_append(&d->frag, payload, n);
            if (fin) {
                int fop = d->frag_opcode;
                d->frag_opcode = -1;
                if (fop == BSN_WS_TEXT && !bsn_utf8_valid(d->frag.data, d->frag.len)) {
                    *close_code = BSN_WS_CLOSE_BAD_DATA;
                    return -1;
                }
                stop = cb(fop, d->frag.data ? d->frag.data : "", d->frag.len, ud);
                bsn_buf_reset(&d->frag);
            }
        } else {
            if (d->frag_opcode >= 0)
                goto protocol; /* new message inside a fragmented one */
            if (fin) {
                if (op == BSN_WS_TEXT && !bsn_utf8_valid(payload, n)) {
                    *close_code = BSN_WS_CLOSE_BAD_DATA;
                    return -1;
                }
                stop = cb(op, payload, n, ud);
            } else {
                d->frag_opcode = op;
                bsn_buf_append(&d->frag, payload, n);
            }
        }
        if (stop)
            break;
    }
    return (long)off;
protocol:
    *close_code = BSN_WS_CLOSE_PROTOCOL;
    return -1;
}
