/*
 * store_redis.c - the pet store on Redis (a second implementation of store.h).
 *
 * PETS_STORE=redis, PETS_REDIS=host:port (default redis:6379: the Service name of a Redis pod).
 * A small blocking RESP2 client of our own: one connection, re-dialled after an error, 2 s
 * send/receive timeouts, replies capped (bulk strings 1 MiB, arrays 100,000 elements).
 * Data: pets:next (INCR counter), pets:<id> (the pet as JSON), pets:ids (sorted set of ids,
 * score = id, so listing is in id order). A create is MULTI/SET/ZADD/EXEC.
 */
#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "base/buf.h"
#include "base/mem.h"
#include "store.h"

#define REDIS_MAX_BULK  (1u << 20)
#define REDIS_MAX_ARRAY 100000
#define REDIS_MAX_LINE  512

struct redis_store {
    struct pet_store base;
    char host[256], port[16];
    int fd;
    char rbuf[16384];
    size_t rlen, rpos;
};

/* A parsed reply: type is one of + - : $ * ; str for + - $ (NULL for a nil bulk). */
struct reply {
    char type;
    long long num;
    char *str;
    size_t len;
    struct reply *elems;
    size_t n;
};

static void
reply_free(struct reply *r)
{
    free(r->str);
    for (size_t i = 0; i < r->n; i++)
        reply_free(&r->elems[i]);
    free(r->elems);
    memset(r, 0, sizeof(*r));
}

static void
rs_close(struct redis_store *s)
{
    if (s->fd >= 0)
        close(s->fd);
    s->fd = -1;
    s->rlen = s->rpos = 0;
}

static int
rs_dial(struct redis_store *s, struct bsn_err *err)
{
    if (s->fd >= 0)
        return 0;
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *res = NULL;
    int rc = getaddrinfo(s->host, s->port, &hints, &res);
    if (rc != 0)
        return bsn_err_set(err, 503, "StoreUnavailable", "redis %s: %s", s->host, gai_strerror(rc));
    int fd = socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct timeval tv = {.tv_sec = 2};
    if (fd >= 0) {
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    }
    if (fd < 0 || connect(fd, res->ai_addr, res->ai_addrlen) < 0) {
        int e = errno;
        if (fd >= 0)
            close(fd);
        freeaddrinfo(res);
        return bsn_err_set(err, 503, "StoreUnavailable", "redis %s:%s: %s", s->host, s->port,
                           strerror(e));
    }
    freeaddrinfo(res);
    s->fd = fd;
    return 0;
}

static int
rs_getc(struct redis_store *s, char *c)
{
    if (s->rpos == s->rlen) {
        ssize_t n = recv(s->fd, s->rbuf, sizeof(s->rbuf), 0);
        if (n <= 0)
            return -1;
        s->rlen = (size_t)n;
        s->rpos = 0;
    }
    *c = s->rbuf[s->rpos++];
    return 0;
}

/* Reads a CRLF-terminated line (without CRLF) into line. */
static int
rs_line(struct redis_store *s, char *line, size_t cap)
{
    size_t n = 0;
    char c;
    while (rs_getc(s, &c) == 0) {
        if (c == '\r') {
            if (rs_getc(s, &c) < 0 || c != '\n')
                return -1;
            line[n] = 0;
            return 0;
        }
        if (n + 1 >= cap)
            return -1;
        line[n++] = c;
    }
    return -1;
}

static int
rs_read(struct redis_store *s, struct reply *r, int depth)
{
    char line[REDIS_MAX_LINE];
    memset(r, 0, sizeof(*r));
    if (depth > 4 || rs_line(s, line, sizeof(line)) < 0 || !line[0])
        return -1;
    r->type = line[0];
    char *end;
    switch (r->type) {
    case '+':
    case '-':
        r->str = bsn_strdup(line + 1);
        r->len = strlen(r->str);
        return 0;
    case ':':
        r->num = strtoll(line + 1, &end, 10);
        return *end ? -1 : 0;
    case '$': {
        long long n = strtoll(line + 1, &end, 10);
        if (*end || n < -1 || n > (long long)REDIS_MAX_BULK)
            return -1;
        if (n < 0)
            return 0;
        r->str = bsn_malloc((size_t)n + 1);
        r->len = (size_t)n;
        for (size_t i = 0; i < r->len + 2; i++) {
            char c;
            if (rs_getc(s, &c) < 0)
                return -1;
            if (i < r->len)
                r->str[i] = c;
        }
        r->str[r->len] = 0;
        return 0;
    }
    case '*': {
        long long n = strtoll(line + 1, &end, 10);
        if (*end || n < -1 || n > REDIS_MAX_ARRAY)
            return -1;
        if (n <= 0)
            return 0;
        r->elems = bsn_calloc((size_t)n, sizeof(*r->elems));
        r->n = (size_t)n;
        for (size_t i = 0; i < r->n; i++)
            if (rs_read(s, &r->elems[i], depth + 1) < 0)
                return -1;
        return 0;
    }
    default:
        return -1;
    }
}

/* Sends each command (argv arrays ended by NULL) pipelined and reads one reply per command
 * into out[]. On any I/O or protocol error the connection is dropped. */
static int
rs_cmds(struct redis_store *s, const char *const *const *cmds, size_t ncmd, struct reply *out,
        struct bsn_err *err)
{
    if (rs_dial(s, err) < 0)
        return -1;
    struct bsn_buf b = {0};
    for (size_t c = 0; c < ncmd; c++) {
        size_t argc = 0;
        while (cmds[c][argc])
            argc++;
        bsn_buf_printf(&b, "*%zu\r\n", argc);
        for (size_t i = 0; i < argc; i++)
            bsn_buf_printf(&b, "$%zu\r\n%s\r\n", strlen(cmds[c][i]), cmds[c][i]);
    }
    size_t off = 0;
    while (off < b.len) {
        ssize_t n = send(s->fd, b.data + off, b.len - off, MSG_NOSIGNAL);
        if (n <= 0)
            break;
        off += (size_t)n;
    }
    bool sent = off == b.len;
    bsn_buf_fini(&b);
    size_t got = 0;
    if (sent)
        for (; got < ncmd; got++)
            if (rs_read(s, &out[got], 0) < 0)
                break;
    if (got < ncmd) {
        for (size_t i = 0; i <= got && i < ncmd; i++)
            reply_free(&out[i]);
        rs_close(s);
        return bsn_err_set(err, 503, "StoreUnavailable", "redis %s:%s: connection failed", s->host,
                           s->port);
    }
    for (size_t i = 0; i < ncmd; i++)
        if (out[i].type == '-') {
            bsn_err_set(err, 500, "StoreError", "redis: %s", out[i].str);
            for (size_t j = 0; j < ncmd; j++)
                reply_free(&out[j]);
            return -1;
        }
    return 0;
}

static json_t *
parse_pet(const struct reply *r)
{
    return r->type == '$' && r->str ? json_loadb(r->str, r->len, 0, NULL) : NULL;
}

static json_t *
redis_list(struct pet_store *base, struct bsn_err *err)
{
    struct redis_store *s = (struct redis_store *)base;
    const char *zr[] = {"ZRANGE", "pets:ids", "0", "-1", NULL};
    const char *const *cmds[] = {zr};
    struct reply ids;
    if (rs_cmds(s, cmds, 1, &ids, err) < 0)
        return NULL;
    json_t *out = json_array();
    if (ids.n) {
        const char **mget = bsn_calloc(ids.n + 2, sizeof(*mget));
        char(*keys)[48] = bsn_calloc(ids.n, sizeof(*keys));
        mget[0] = "MGET";
        for (size_t i = 0; i < ids.n; i++) {
            snprintf(keys[i], sizeof(keys[i]), "pets:%s", ids.elems[i].str ? ids.elems[i].str : "");
            mget[i + 1] = keys[i];
        }
        const char *const *c2[] = {mget};
        struct reply vals;
        if (rs_cmds(s, c2, 1, &vals, err) == 0) {
            for (size_t i = 0; i < vals.n; i++) {
                json_t *p = parse_pet(&vals.elems[i]);
                if (p)
                    json_array_append_new(out, p);
            }
            reply_free(&vals);
        } else {
            json_decref(out);
            out = NULL;
        }
        free(keys);
        free(mget);
    }
    reply_free(&ids);
    return out;
}

static json_t *
redis_get(struct pet_store *base, long id, struct bsn_err *err)
{
    struct redis_store *s = (struct redis_store *)base;
    char key[48];
    snprintf(key, sizeof(key), "pets:%ld", id);
    const char *get[] = {"GET", key, NULL};
    const char *const *cmds[] = {get};
    struct reply r;
    if (rs_cmds(s, cmds, 1, &r, err) < 0)
        return NULL;
    json_t *p = parse_pet(&r);
    reply_free(&r);
    return p;
}

static json_t *
redis_create(struct pet_store *base, const json_t *pet, struct bsn_err *err)
{
    struct redis_store *s = (struct redis_store *)base;
    const char *incr[] = {"INCR", "pets:next", NULL};
    const char *const *c1[] = {incr};
    struct reply r;
    if (rs_cmds(s, c1, 1, &r, err) < 0)
        return NULL;
    long id = (long)r.num;
    reply_free(&r);
    json_t *p = json_deep_copy(pet);
    json_object_set_new(p, "id", json_integer(id));
    char *js = json_dumps(p, JSON_COMPACT);
    char key[48], ids[32];
    snprintf(key, sizeof(key), "pets:%ld", id);
    snprintf(ids, sizeof(ids), "%ld", id);
    const char *multi[] = {"MULTI", NULL}, *set[] = {"SET", key, js, NULL},
               *zadd[] = {"ZADD", "pets:ids", ids, ids, NULL}, *exec[] = {"EXEC", NULL};
    const char *const *c2[] = {multi, set, zadd, exec};
    struct reply rs[4];
    int rc = rs_cmds(s, c2, 4, rs, err);
    free(js);
    if (rc < 0) {
        json_decref(p);
        return NULL;
    }
    bool ok = rs[3].type == '*' && rs[3].n == 2;
    for (size_t i = 0; i < 4; i++)
        reply_free(&rs[i]);
    if (!ok) {
        json_decref(p);
        bsn_err_set(err, 500, "StoreError", "redis: the create transaction was aborted");
        return NULL;
    }
    return p;
}

static int
redis_remove(struct pet_store *base, long id, struct bsn_err *err)
{
    struct redis_store *s = (struct redis_store *)base;
    char key[48], ids[32];
    snprintf(key, sizeof(key), "pets:%ld", id);
    snprintf(ids, sizeof(ids), "%ld", id);
    const char *del[] = {"DEL", key, NULL}, *zrem[] = {"ZREM", "pets:ids", ids, NULL};
    const char *const *cmds[] = {del, zrem};
    struct reply r[2];
    if (rs_cmds(s, cmds, 2, r, err) < 0)
        return -1;
    int rc = r[0].num > 0 ? 1 : 0;
    reply_free(&r[0]);
    reply_free(&r[1]);
    return rc;
}

static bool
redis_ready(struct pet_store *base)
{
    struct redis_store *s = (struct redis_store *)base;
    struct bsn_err err;
    bsn_err_clear(&err);
    const char *ping[] = {"PING", NULL};
    const char *const *cmds[] = {ping};
    struct reply r;
    if (rs_cmds(s, cmds, 1, &r, &err) < 0)
        return false;
    bool ok = r.type == '+' && r.str && strcmp(r.str, "PONG") == 0;
    reply_free(&r);
    return ok;
}

static void
redis_free(struct pet_store *base)
{
    struct redis_store *s = (struct redis_store *)base;
    rs_close(s);
    free(s);
}

struct pet_store *
pet_store_redis_new(const char *addr, struct bsn_err *err)
{
    const char *colon = strrchr(addr, ':');
    size_t hl = colon ? (size_t)(colon - addr) : strlen(addr);
    if (hl == 0 || hl >= 256 || (colon && (strlen(colon + 1) == 0 || strlen(colon + 1) > 5))) {
        bsn_err_set(err, 400, "BadConfig", "PETS_REDIS must be host:port, not %s", addr);
        return NULL;
    }
    struct redis_store *s = bsn_calloc(1, sizeof(*s));
    memcpy(s->host, addr, hl);
    snprintf(s->port, sizeof(s->port), "%s", colon ? colon + 1 : "6379");
    s->fd = -1;
    s->base = (struct pet_store){"redis",      redis_list,  redis_get, redis_create,
                                 redis_remove, redis_ready, redis_free};
    return &s->base;
}
