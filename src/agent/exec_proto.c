/*
 * exec_proto.c - the remotecommand channel protocol's pure parts (see exec.h): request
 * options from the query string, subprotocol versions, the status message, channel framing
 * over WebSocket messages and resize messages. No I/O here; exec.c drives it.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "agent/exec.h"
#include "base/mem.h"
#include "http/server.h"

static bool
parse_bool(const char *v)
{
    return !strcmp(v, "1") || !strcmp(v, "t") || !strcmp(v, "T") || !strcasecmp(v, "true");
}

static int
add_ports(struct bsn_rc_opts *o, const char *v, char *why, size_t whylen)
{
    const char *p = v;
    while (*p) {
        const char *e = strchr(p, ',');
        size_t n = e ? (size_t)(e - p) : strlen(p);
        char num[16];
        if (n == 0 || n >= sizeof(num))
            goto bad;
        memcpy(num, p, n);
        num[n] = 0;
        char *end;
        long port = strtol(num, &end, 10);
        if (*end || port < 1 || port > 65535)
            goto bad;
        if (o->nports == BSN_RC_MAX_PORTS) {
            snprintf(why, whylen, "too many ports (at most %d)", BSN_RC_MAX_PORTS);
            return -1;
        }
        o->ports[o->nports++] = (uint16_t)port;
        p += n;
        if (*p == ',')
            p++;
    }
    return 0;
bad:
    snprintf(why, whylen, "invalid port value \"%s\": must be 1-65535", v);
    return -1;
}

int
bsn_rc_opts_parse(const char *query, struct bsn_rc_opts *o, char *why, size_t whylen)
{
    memset(o, 0, sizeof(*o));
    size_t cap = 0;
    const char *p = query ? query : "";
    while (*p) {
        const char *amp = strchr(p, '&');
        size_t n = amp ? (size_t)(amp - p) : strlen(p);
        const char *eq = memchr(p, '=', n);
        size_t kl = eq ? (size_t)(eq - p) : n;
        const char *val = eq ? eq + 1 : p + n;
        size_t vl = eq ? n - kl - 1 : 0;
        char key[32];
        char *v = bsn_malloc(vl + 1);
        int klen = kl < sizeof(key) ? bsn_http_percent_decode(p, kl, true, key, sizeof(key)) : -1;
        int dl = bsn_http_percent_decode(val, vl, true, v, vl + 1);
        if (dl < 0) {
            snprintf(why, whylen, "invalid escape in query parameter");
            free(v);
            bsn_rc_opts_fini(o);
            return -1;
        }
        int rc = 0;
        if (klen < 0) {
            /* an unknown (long) key: ignored */
        } else if (!strcmp(key, "command")) {
            if (o->ncommand == BSN_RC_MAX_ARGS) {
                snprintf(why, whylen, "too many command arguments (at most %d)", BSN_RC_MAX_ARGS);
                rc = -1;
            } else {
                if (o->ncommand + 2 > cap) {
                    cap = cap ? cap * 2 : 8;
                    o->command = bsn_realloc(o->command, cap * sizeof(char *));
                }
                o->command[o->ncommand++] = v;
                o->command[o->ncommand] = NULL;
                v = NULL;
            }
        } else if (!strcmp(key, "container")) {
            snprintf(o->container, sizeof(o->container), "%s", v);
        } else if (!strcmp(key, "stdin") || !strcmp(key, "input")) {
            o->in = parse_bool(v);
        } else if (!strcmp(key, "stdout") || !strcmp(key, "output")) {
            o->out = parse_bool(v);
        } else if (!strcmp(key, "stderr") || !strcmp(key, "error")) {
            o->err = parse_bool(v);
        } else if (!strcmp(key, "tty")) {
            o->tty = parse_bool(v);
        } else if (!strcmp(key, "ports") || !strcmp(key, "port")) {
            rc = add_ports(o, v, why, whylen);
        }
        free(v);
        if (rc < 0) {
            bsn_rc_opts_fini(o);
            return -1;
        }
        p += n;
        if (*p == '&')
            p++;
    }
    return 0;
}

void
bsn_rc_opts_fini(struct bsn_rc_opts *o)
{
    for (size_t i = 0; i < o->ncommand; i++)
        free(o->command[i]);
    free(o->command);
    o->command = NULL;
    o->ncommand = 0;
}

int
bsn_rc_version(const char *sp)
{
    if (!sp || !strcmp(sp, "channel.k8s.io"))
        return 1;
    if (sp[0] == 'v' && sp[1] >= '2' && sp[1] <= '5' && !strcmp(sp + 2, ".channel.k8s.io"))
        return sp[1] - '0';
    return 0;
}

char *
bsn_rc_status(int version, int exit_code, const char *const *argv, const char *err_msg)
{
    struct bsn_buf cmd;
    bsn_buf_init(&cmd);
    bsn_buf_putc(&cmd, '[');
    for (size_t i = 0; argv && argv[i]; i++)
        bsn_buf_printf(&cmd, "%s%s", i ? " " : "", argv[i]);
    bsn_buf_putc(&cmd, ']');
    char *msg = NULL;
    if (err_msg)
        msg = bsn_sprintf("error executing command in container: %s", err_msg);
    else if (exit_code != 0)
        msg = bsn_sprintf(
            "command terminated with non-zero exit code: error executing command %s, exit code %d",
            cmd.data, exit_code);
    bsn_buf_fini(&cmd);
    if (version < 4)
        return msg;
    json_t *st = json_object();
    json_object_set_new(st, "metadata", json_object());
    if (!msg) {
        json_object_set_new(st, "status", json_string("Success"));
    } else if (err_msg) {
        json_object_set_new(st, "status", json_string("Failure"));
        json_object_set_new(st, "message", json_string(msg));
        json_object_set_new(st, "reason", json_string("InternalError"));
        json_object_set_new(st, "details", json_pack("{s:[{s:s}]}", "causes", "message", msg));
        json_object_set_new(st, "code", json_integer(500));
    } else {
        char code[16];
        snprintf(code, sizeof(code), "%d", exit_code);
        json_object_set_new(st, "status", json_string("Failure"));
        json_object_set_new(st, "message", json_string(msg));
        json_object_set_new(st, "reason", json_string("NonZeroExitCode"));
        json_object_set_new(
            st, "details",
            json_pack("{s:[{s:s,s:s}]}", "causes", "reason", "ExitCode", "message", code));
    }
    free(msg);
    char *s = json_dumps(st, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(st);
    return s;
}

void
bsn_rc_encode(struct bsn_buf *out, int channel, const void *data, size_t len)
{
    /* header and channel byte first, then the payload: one copy */
    size_t total = len + 1;
    uint8_t h[11];
    size_t hl = 0;
    h[hl++] = 0x80 | BSN_WS_BINARY;
    if (total < 126) {
        h[hl++] = (uint8_t)total;
    } else if (total <= 0xffff) {
        h[hl++] = 126;
        h[hl++] = (uint8_t)(total >> 8);
        h[hl++] = (uint8_t)total;
    } else {
        h[hl++] = 127;
        for (int i = 7; i >= 0; i--)
            h[hl++] = (uint8_t)((uint64_t)total >> (8 * i));
    }
    h[hl++] = (uint8_t)channel;
    bsn_buf_append(out, h, hl);
    if (len)
        bsn_buf_append(out, data, len);
}

int
bsn_rc_parse_resize(const char *data, size_t len, uint16_t *width, uint16_t *height)
{
    if (len > 512)
        return -1;
    json_t *j = json_loadb(data, len, JSON_REJECT_DUPLICATES, NULL);
    if (!json_is_object(j)) {
        json_decref(j);
        return -1;
    }
    json_t *w = json_object_get(j, "Width"), *h = json_object_get(j, "Height");
    int rc = -1;
    if (json_is_integer(w) && json_is_integer(h) && json_integer_value(w) >= 0 &&
        json_integer_value(w) <= 65535 && json_integer_value(h) >= 0 &&
        json_integer_value(h) <= 65535) {
        *width = (uint16_t)json_integer_value(w);
        *height = (uint16_t)json_integer_value(h);
        rc = 0;
    }
    json_decref(j);
    return rc;
}

void
bsn_rc_decoder_init(struct bsn_rc_decoder *d, int version, enum bsn_rc_mode mode, bsn_rc_cb cb,
                    void *ud)
{
    bsn_ws_decoder_init(&d->ws, true, (1u << 20) + 64);
    d->version = version;
    d->mode = mode;
    d->cb = cb;
    d->ud = ud;
}

void
bsn_rc_decoder_fini(struct bsn_rc_decoder *d)
{
    bsn_ws_decoder_fini(&d->ws);
}

static int
on_ws_msg(enum bsn_ws_opcode op, const char *data, size_t len, void *ud)
{
    struct bsn_rc_decoder *d = ud;
    struct bsn_rc_msg m = {0};
    switch (op) {
    case BSN_WS_PING:
        m.ev = BSN_RC_EV_PING;
        m.data = data;
        m.len = len;
        return d->cb(&m, d->ud);
    case BSN_WS_CLOSE:
        m.ev = BSN_RC_EV_CLOSE;
        return d->cb(&m, d->ud);
    case BSN_WS_BINARY:
        break;
    default:
        return 0; /* pongs; text (base64 protocols) is not supported */
    }
    if (d->mode == BSN_RC_MODE_RAW) {
        if (!len)
            return 0;
        m.ev = BSN_RC_EV_RAW;
        m.data = data;
        m.len = len;
        return d->cb(&m, d->ud);
    }
    if (len == 0)
        return 0;
    unsigned ch = (uint8_t)data[0];
    if (ch == BSN_RC_CLOSE && d->version >= 5 && d->mode == BSN_RC_MODE_EXEC) {
        if (len != 2)
            return 0;
        m.ev = BSN_RC_EV_EOF;
        m.channel = (uint8_t)data[1];
        return d->cb(&m, d->ud);
    }
    if (ch == BSN_RC_RESIZE && d->version >= 3 && d->mode == BSN_RC_MODE_EXEC) {
        if (bsn_rc_parse_resize(data + 1, len - 1, &m.width, &m.height) < 0)
            return 0;
        m.ev = BSN_RC_EV_RESIZE;
        return d->cb(&m, d->ud);
    }
    if (len == 1)
        return 0; /* an empty message (stream opened): nothing to deliver */
    m.ev = BSN_RC_EV_DATA;
    m.channel = (int)ch;
    m.data = data + 1;
    m.len = len - 1;
    return d->cb(&m, d->ud);
}

long
bsn_rc_decode(struct bsn_rc_decoder *d, char *buf, size_t len, int *close_code)
{
    return bsn_ws_decode(&d->ws, buf, len, on_ws_msg, d, close_code);
}
