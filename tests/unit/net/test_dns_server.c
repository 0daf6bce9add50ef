/*
 * test_dns_server.c - the DNS server over real sockets on 127.0.0.1: UDP and TCP answers,
 * truncation and TCP fallback, pipelining, FORMERR/drops, TCP caps and idle timeouts, and
 * forwarding to a fake upstream (a tiny responder thread in this test): caching (positive
 * and negative), id randomisation, response validation and timeouts with SERVFAIL.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include "dns_test_util.h"
#include "net/dns_forward.h"
#include "net/dns_server.h"

/* --- fake upstream ------------------------------------------------------------------------- */

struct fake {
    int fd;
    uint16_t port;
    pthread_t th;
    atomic_bool stop;
    atomic_int queries;
    atomic_int last_id;
};

static size_t
fake_reply(const uint8_t *q, size_t qlen, uint8_t *out, uint16_t id, const char *qname_txt)
{
    struct bsn_dns_query pq;
    if (bsn_dns_query_parse(q, qlen, &pq) != 0)
        return 0;
    struct bsn_dns_enc e;
    bsn_dns_enc_init(&e, out, pq.edns ? pq.edns_udp : 512, &pq, q, false);
    bsn_dns_put16(out, id);
    if (strstr(qname_txt, "big.example")) { /* 60 records: truncated in 512 bytes */
        for (int i = 0; i < 60; i++) {
            uint8_t ip[4] = {198, 51, 100, (uint8_t)i};
            bsn_dns_enc_rr(&e, 1, NULL, BSN_DNS_T_A, 60, ip, 4);
        }
        return bsn_dns_enc_finish(&e, &pq, 0);
    }
    if (strstr(qname_txt, "nx.example")) {
        uint8_t soa[128], *p = soa;
        memcpy(p, "\2ns\7example\0\4host\7example\0", 26);
        p += 26;
        bsn_dns_put32(p, 1);
        bsn_dns_put32(p + 4, 1);
        bsn_dns_put32(p + 8, 1);
        bsn_dns_put32(p + 12, 1);
        bsn_dns_put32(p + 16, 30); /* minimum */
        uint8_t zone[16];
        bsn_dns_name_from_text("example", 7, zone, true);
        bsn_dns_enc_rr(&e, 2, zone, BSN_DNS_T_SOA, 300, soa, 46);
        return bsn_dns_enc_finish(&e, &pq, BSN_DNS_R_NXDOMAIN);
    }
    uint8_t ip[4] = {192, 0, 2, strstr(qname_txt, "spoof") ? 99 : 1};
    bsn_dns_enc_rr(&e, 1, NULL, BSN_DNS_T_A, 60, ip, 4);
    return bsn_dns_enc_finish(&e, &pq, 0);
}

static void *
fake_main(void *arg)
{
    struct fake *f = arg;
    uint8_t in[4096], out[4096];
    while (!atomic_load(&f->stop)) {
        struct pollfd pfd = {f->fd, POLLIN, 0};
        if (poll(&pfd, 1, 20) <= 0)
            continue;
        struct sockaddr_storage from;
        socklen_t fl = sizeof(from);
        ssize_t n = recvfrom(f->fd, in, sizeof(in), 0, (struct sockaddr *)&from, &fl);
        if (n < 12)
            continue;
        atomic_fetch_add(&f->queries, 1);
        uint16_t id = bsn_dns_get16(in);
        atomic_store(&f->last_id, id);
        struct bsn_dns_query q;
        if (bsn_dns_query_parse(in, (size_t)n, &q) != 0)
            continue;
        char txt[300];
        bsn_dns_name_to_text(q.qname_lc, txt, sizeof(txt));
        if (strstr(txt, "slow.example"))
            continue; /* never answers */
        if (strstr(txt, "spoof.example")) {
            /* first a reply with a wrong id, then one for another question, then the real one */
            size_t l = fake_reply(in, (size_t)n, out, (uint16_t)(id + 1), txt);
            sendto(f->fd, out, l, 0, (struct sockaddr *)&from, fl);
            uint8_t other[512];
            size_t ol = tq_build(other, id, "other.example", BSN_DNS_T_A, 0);
            l = fake_reply(other, ol, out, id, "other.example");
            sendto(f->fd, out, l, 0, (struct sockaddr *)&from, fl);
        }
        size_t l = fake_reply(in, (size_t)n, out, id, txt);
        sendto(f->fd, out, l, 0, (struct sockaddr *)&from, fl);
    }
    return NULL;
}

static void
fake_start(struct fake *f)
{
    memset(f, 0, sizeof(*f));
    f->fd = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(0x7f000001)};
    assert_int_equal(bind(f->fd, (struct sockaddr *)&a, sizeof(a)), 0);
    socklen_t l = sizeof(a);
    getsockname(f->fd, (struct sockaddr *)&a, &l);
    f->port = ntohs(a.sin_port);
    pthread_create(&f->th, NULL, fake_main, f);
}

static void
fake_stop(struct fake *f)
{
    atomic_store(&f->stop, true);
    pthread_join(f->th, NULL);
    close(f->fd);
}

/* --- clients ------------------------------------------------------------------------------- */

static struct sockaddr_in
server_addr(uint16_t port)
{
    return (struct sockaddr_in){
        .sin_family = AF_INET, .sin_port = htons(port), .sin_addr.s_addr = htonl(0x7f000001)};
}

static ssize_t
udp_ask(uint16_t port, const uint8_t *q, size_t qlen, uint8_t *out, size_t cap, int timeout_ms)
{
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in a = server_addr(port);
    sendto(fd, q, qlen, 0, (struct sockaddr *)&a, sizeof(a));
    struct pollfd pfd = {fd, POLLIN, 0};
    ssize_t n = -1;
    if (poll(&pfd, 1, timeout_ms) > 0)
        n = recv(fd, out, cap, 0);
    close(fd);
    return n;
}

static int
tcp_connect(uint16_t port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = server_addr(port);
    assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    return fd;
}

static bool
read_full(int fd, uint8_t *buf, size_t n, int timeout_ms)
{
    size_t got = 0;
    while (got < n) {
        struct pollfd pfd = {fd, POLLIN, 0};
        if (poll(&pfd, 1, timeout_ms) <= 0)
            return false;
        ssize_t r = recv(fd, buf + got, n - got, 0);
        if (r <= 0)
            return false;
        got += (size_t)r;
    }
    return true;
}

/* Reads one length-prefixed reply; returns its length or -1. */
static ssize_t
tcp_read_msg(int fd, uint8_t *out)
{
    uint8_t pre[2];
    if (!read_full(fd, pre, 2, 3000))
        return -1;
    size_t n = bsn_dns_get16(pre);
    return read_full(fd, out, n, 3000) ? (ssize_t)n : -1;
}

static void
tcp_send_msg(int fd, const uint8_t *q, size_t len)
{
    uint8_t buf[2 + 512];
    bsn_dns_put16(buf, (uint16_t)len);
    memcpy(buf + 2, q, len);
    assert_int_equal(send(fd, buf, len + 2, 0), (ssize_t)len + 2);
}

/* --- fixture ------------------------------------------------------------------------------- */

struct fx {
    struct bsn_dns_zone *z;
    struct bsn_dns_server *s;
    struct fake up;
    uint16_t port;
};

static int
setup(void **state)
{
    struct fx *fx = calloc(1, sizeof(*fx));
    fx->z = bsn_dns_zone_new(NULL, 0);
    const char *ips[] = {"10.43.0.1"};
    struct bsn_dns_port https[] = {{"https", "TCP", 443}};
    bsn_dns_zone_put_service(fx->z, "default", "kubernetes", BSN_DNS_SVC_CLUSTER_IP, ips, 1, https,
                             1, NULL, false, NULL);
    static struct bsn_dns_endpoint eps[100];
    static char ipt[100][32];
    for (int i = 0; i < 100; i++) {
        snprintf(ipt[i], sizeof(ipt[i]), "10.42.1.%d", i + 1);
        eps[i] = (struct bsn_dns_endpoint){ipt[i], NULL, true};
    }
    bsn_dns_zone_put_service(fx->z, "default", "big", BSN_DNS_SVC_HEADLESS, NULL, 0, NULL, 0, NULL,
                             false, NULL);
    bsn_dns_zone_put_endpoints(fx->z, "default", "big", eps, 100, NULL, 0, NULL);
    bsn_dns_zone_put_service(fx->z, "default", "ext", BSN_DNS_SVC_EXTERNAL_NAME, NULL, 0, NULL, 0,
                             "www.example", false, NULL);
    fake_start(&fx->up);
    char up[64];
    snprintf(up, sizeof(up), "127.0.0.1:%u", fx->up.port);
    const char *ups[] = {up};
    struct bsn_dns_server_config cfg = {.listen = "127.0.0.1:0",
                                        .threads = 2,
                                        .zone = fx->z,
                                        .upstreams = ups,
                                        .n_upstreams = 1,
                                        .upstream_timeout_ms = 200,
                                        .tcp_idle_ms = 300,
                                        .max_tcp_conns = 4};
    struct bsn_err err = {0};
    fx->s = bsn_dns_server_start(&cfg, &err);
    if (!fx->s)
        fail_msg("start: %s", err.msg);
    fx->port = bsn_dns_server_port(fx->s);
    assert_true(fx->port > 0);
    *state = fx;
    return 0;
}

static int
teardown(void **state)
{
    struct fx *fx = *state;
    bsn_dns_server_stop(fx->s);
    fake_stop(&fx->up);
    bsn_dns_zone_free(fx->z);
    free(fx);
    return 0;
}

static struct bsn_dns_msg msg;

static void
test_udp_and_tcp_answers(void **state)
{
    struct fx *fx = *state;
    uint8_t q[512], out[65535];
    char txt[8192];
    size_t ql = tq_build(q, 0x4242, "Kubernetes.default.svc.cluster.local", BSN_DNS_T_A, 0);
    ssize_t n = udp_ask(fx->port, q, ql, out, sizeof(out), 2000);
    assert_true(n > 0);
    assert_int_equal(bsn_dns_msg_parse(out, (size_t)n, &msg), 0);
    assert_int_equal(msg.id, 0x4242);
    tq_section(out, (size_t)n, &msg, 1, txt, sizeof(txt));
    assert_string_equal(txt, "A 10.43.0.1");
    assert_memory_equal(out + 12, "\12Kubernetes", 11);

    /* 100 headless endpoints: truncated over plain UDP, complete over TCP */
    ql = tq_build(q, 7, "big.default.svc.cluster.local", BSN_DNS_T_A, 0);
    n = udp_ask(fx->port, q, ql, out, sizeof(out), 2000);
    assert_true(n > 0 && n <= 512);
    assert_int_equal(bsn_dns_msg_parse(out, (size_t)n, &msg), 0);
    assert_true(msg.flags & BSN_DNS_F_TC);
    int fd = tcp_connect(fx->port);
    tcp_send_msg(fd, q, ql);
    n = tcp_read_msg(fd, out);
    assert_true(n > 512);
    assert_int_equal(bsn_dns_msg_parse(out, (size_t)n, &msg), 0);
    assert_false(msg.flags & BSN_DNS_F_TC);
    assert_int_equal(msg.ancount, 100);

    /* pipelining: two queries in one write, two replies in order */
    uint8_t two[1024];
    size_t l1 = tq_build(two + 2, 1, "kubernetes.default.svc.cluster.local", BSN_DNS_T_A, 0);
    bsn_dns_put16(two, (uint16_t)l1);
    size_t l2 = tq_build(two + 4 + l1, 2, "nope.default.svc.cluster.local", BSN_DNS_T_A, 0);
    bsn_dns_put16(two + 2 + l1, (uint16_t)l2);
    assert_int_equal(send(fd, two, 4 + l1 + l2, 0), (ssize_t)(4 + l1 + l2));
    n = tcp_read_msg(fd, out);
    assert_int_equal(bsn_dns_msg_parse(out, (size_t)n, &msg), 0);
    assert_int_equal(msg.id, 1);
    assert_int_equal(msg.flags & 0xF, BSN_DNS_R_NOERROR);
    n = tcp_read_msg(fd, out);
    assert_int_equal(bsn_dns_msg_parse(out, (size_t)n, &msg), 0);
    assert_int_equal(msg.id, 2);
    assert_int_equal(msg.flags & 0xF, BSN_DNS_R_NXDOMAIN);
    close(fd);

    /* EDNS: the big answer fits 4096 over UDP */
    ql = tq_build(q, 8, "big.default.svc.cluster.local", BSN_DNS_T_A, 4096);
    n = udp_ask(fx->port, q, ql, out, sizeof(out), 2000);
    assert_int_equal(bsn_dns_msg_parse(out, (size_t)n, &msg), 0);
    assert_false(msg.flags & BSN_DNS_F_TC);
    assert_int_equal(msg.ancount, 100 + 0);
}

static void
test_malformed(void **state)
{
    struct fx *fx = *state;
    uint8_t q[512], out[4096];
    size_t ql = tq_build(q, 9, "x.cluster.local", BSN_DNS_T_A, 0);
    bsn_dns_put16(q + 4, 2); /* qdcount 2 */
    ssize_t n = udp_ask(fx->port, q, ql, out, sizeof(out), 2000);
    assert_int_equal(n, 12);
    assert_int_equal(bsn_dns_get16(out), 9);
    assert_int_equal(bsn_dns_get16(out + 2) & 0xF, BSN_DNS_R_FORMERR);
    /* shorter than a header: no reply at all */
    n = udp_ask(fx->port, q, 7, out, sizeof(out), 300);
    assert_int_equal(n, -1);
    /* the server still works */
    ql = tq_build(q, 10, "dns-version.cluster.local", BSN_DNS_T_TXT, 0);
    n = udp_ask(fx->port, q, ql, out, sizeof(out), 2000);
    assert_int_equal(bsn_dns_msg_parse(out, (size_t)n, &msg), 0);
    assert_int_equal(msg.ancount, 1);
    struct bsn_dns_stats st;
    bsn_dns_server_stats(fx->s, &st);
    assert_true(st.formerr >= 1);
    assert_true(st.dropped >= 1);
}

static void
test_forward_and_cache(void **state)
{
    struct fx *fx = *state;
    uint8_t q[512], out[4096];
    char txt[512];
    size_t ql = tq_build(q, 0x1234, "WWW.example", BSN_DNS_T_A, 0);
    ssize_t n = udp_ask(fx->port, q, ql, out, sizeof(out), 2000);
    assert_true(n > 0);
    assert_int_equal(bsn_dns_msg_parse(out, (size_t)n, &msg), 0);
    assert_int_equal(msg.id, 0x1234);
    tq_section(out, (size_t)n, &msg, 1, txt, sizeof(txt));
    assert_string_equal(txt, "A 192.0.2.1");
    assert_int_equal(atomic_load(&fx->up.queries), 1);
    /* the upstream saw a random id, not the client's */
    assert_int_not_equal(atomic_load(&fx->up.last_id), 0x1234);

    /* the second query (other case, other id) is a cache hit */
    ql = tq_build(q, 0x5678, "www.EXAMPLE", BSN_DNS_T_A, 0);
    n = udp_ask(fx->port, q, ql, out, sizeof(out), 2000);
    assert_int_equal(bsn_dns_msg_parse(out, (size_t)n, &msg), 0);
    assert_int_equal(msg.id, 0x5678);
    assert_memory_equal(out + 12, "\3www\7EXAMPLE", 12);
    assert_true(msg.rr[0].ttl <= 60 && msg.rr[0].ttl >= 59);
    assert_int_equal(atomic_load(&fx->up.queries), 1);

    /* negative answers are cached too (SOA minimum) */
    ql = tq_build(q, 1, "nx.example", BSN_DNS_T_A, 0);
    n = udp_ask(fx->port, q, ql, out, sizeof(out), 2000);
    assert_int_equal(bsn_dns_msg_parse(out, (size_t)n, &msg), 0);
    assert_int_equal(msg.flags & 0xF, BSN_DNS_R_NXDOMAIN);
    n = udp_ask(fx->port, q, ql, out, sizeof(out), 2000);
    assert_int_equal(bsn_dns_msg_parse(out, (size_t)n, &msg), 0);
    assert_int_equal(msg.flags & 0xF, BSN_DNS_R_NXDOMAIN);
    assert_int_equal(atomic_load(&fx->up.queries), 2);

    /* forged replies (wrong id, wrong question) are ignored; the real one is delivered */
    ql = tq_build(q, 2, "spoof.example", BSN_DNS_T_A, 0);
    n = udp_ask(fx->port, q, ql, out, sizeof(out), 2000);
    assert_int_equal(bsn_dns_msg_parse(out, (size_t)n, &msg), 0);
    tq_section(out, (size_t)n, &msg, 1, txt, sizeof(txt));
    assert_string_equal(txt, "A 192.0.2.99");
    char qn[64];
    bsn_dns_name_to_text(msg.qname_lc, qn, sizeof(qn));
    assert_string_equal(qn, "spoof.example.");

    /* forwarding over TCP */
    int fd = tcp_connect(fx->port);
    ql = tq_build(q, 3, "tcp.example", BSN_DNS_T_A, 0);
    tcp_send_msg(fd, q, ql);
    n = tcp_read_msg(fd, out);
    assert_int_equal(bsn_dns_msg_parse(out, (size_t)n, &msg), 0);
    assert_int_equal(msg.id, 3);
    assert_int_equal(msg.ancount, 1);
    close(fd);

    /* ExternalName: CNAME plus the target's records, resolved upstream (here from the cache
     * filled above) */
    ql = tq_build(q, 5, "Ext.default.svc.cluster.local", BSN_DNS_T_A, 0);
    n = udp_ask(fx->port, q, ql, out, sizeof(out), 2000);
    assert_int_equal(bsn_dns_msg_parse(out, (size_t)n, &msg), 0);
    assert_int_equal(msg.id, 5);
    tq_section(out, (size_t)n, &msg, 1, txt, sizeof(txt));
    assert_string_equal(txt, "CNAME www.example.;A 192.0.2.1");
    int before = atomic_load(&fx->up.queries);
    /* a target not cached yet goes upstream; over TCP too */
    bsn_dns_zone_put_service(fx->z, "default", "ext", BSN_DNS_SVC_EXTERNAL_NAME, NULL, 0, NULL, 0,
                             "other.example", false, NULL);
    fd = tcp_connect(fx->port);
    ql = tq_build(q, 6, "ext.default.svc.cluster.local", BSN_DNS_T_A, 0);
    tcp_send_msg(fd, q, ql);
    n = tcp_read_msg(fd, out);
    close(fd);
    assert_int_equal(bsn_dns_msg_parse(out, (size_t)n, &msg), 0);
    assert_int_equal(msg.id, 6);
    tq_section(out, (size_t)n, &msg, 1, txt, sizeof(txt));
    assert_string_equal(txt, "CNAME other.example.;A 192.0.2.1");
    assert_int_equal(atomic_load(&fx->up.queries), before + 1);
    /* without recursion desired: the CNAME alone */
    bsn_dns_put16(q + 2, 0);
    n = udp_ask(fx->port, q, ql, out, sizeof(out), 2000);
    assert_int_equal(bsn_dns_msg_parse(out, (size_t)n, &msg), 0);
    tq_section(out, (size_t)n, &msg, 1, txt, sizeof(txt));
    assert_string_equal(txt, "CNAME other.example.");

    /* a large upstream answer: truncated for a plain UDP client, complete over TCP (the
     * server asks the upstream with EDNS and strips the OPT it added) */
    ql = tq_build(q, 12, "big.example", BSN_DNS_T_A, 0);
    n = udp_ask(fx->port, q, ql, out, sizeof(out), 2000);
    assert_int_equal(bsn_dns_msg_parse(out, (size_t)n, &msg), 0);
    assert_true(msg.flags & BSN_DNS_F_TC);
    fd = tcp_connect(fx->port);
    tcp_send_msg(fd, q, ql);
    n = tcp_read_msg(fd, out);
    close(fd);
    assert_int_equal(bsn_dns_msg_parse(out, (size_t)n, &msg), 0);
    assert_false(msg.flags & BSN_DNS_F_TC);
    assert_int_equal(msg.ancount, 60);
    assert_int_equal(msg.arcount, 0);

    /* a client that half-closes after its query still gets the forwarded answer */
    fd = tcp_connect(fx->port);
    ql = tq_build(q, 11, "half.example", BSN_DNS_T_A, 0);
    tcp_send_msg(fd, q, ql);
    shutdown(fd, SHUT_WR);
    n = tcp_read_msg(fd, out);
    assert_int_equal(bsn_dns_msg_parse(out, (size_t)n, &msg), 0);
    assert_int_equal(msg.id, 11);
    assert_int_equal(msg.ancount, 1);
    assert_int_equal(recv(fd, out, sizeof(out), 0), 0); /* then the server closes */
    close(fd);

    /* an upstream that never answers: SERVFAIL after the timeout */
    ql = tq_build(q, 4, "slow.example", BSN_DNS_T_A, 0);
    n = udp_ask(fx->port, q, ql, out, sizeof(out), 3000);
    assert_int_equal(bsn_dns_msg_parse(out, (size_t)n, &msg), 0);
    assert_int_equal(msg.id, 4);
    assert_int_equal(msg.flags & 0xF, BSN_DNS_R_SERVFAIL);
}

static void
test_tcp_limits(void **state)
{
    struct fx *fx = *state;
    uint8_t out[512];
    /* max_tcp_conns 4 over 2 threads: 2 per thread; a burst of 6 sees some closed at once */
    int fds[6], closed = 0;
    for (int i = 0; i < 6; i++)
        fds[i] = tcp_connect(fx->port);
    usleep(100 * 1000);
    for (int i = 0; i < 6; i++) {
        struct pollfd pfd = {fds[i], POLLIN, 0};
        if (poll(&pfd, 1, 50) > 0 && recv(fds[i], out, sizeof(out), MSG_DONTWAIT) == 0)
            closed++;
    }
    assert_true(closed >= 2);
    for (int i = 0; i < 6; i++)
        close(fds[i]);
    usleep(50 * 1000);
    /* idle connections are closed after tcp_idle_ms (300) */
    int fd = tcp_connect(fx->port);
    struct pollfd pfd = {fd, POLLIN, 0};
    assert_int_equal(poll(&pfd, 1, 2000), 1);
    assert_int_equal(recv(fd, out, sizeof(out), 0), 0);
    close(fd);
}

static void
test_resolv_conf_and_hostport(void **state)
{
    char path[] = "/tmp/bsn-dns-resolv-XXXXXX";
    int fd = mkstemp(path);
    const char *txt = "# comment\nsearch default.svc.cluster.local\nnameserver 10.0.0.2\n"
                      "nameserver  fd00::53\nnameserver fe80::1%eth0\noptions ndots:5\n";
    assert_int_equal(write(fd, txt, strlen(txt)), (ssize_t)strlen(txt));
    close(fd);
    struct bsn_dns_upstream u[4];
    assert_int_equal(bsn_dns_read_resolv_conf(path, u, 4), 2);
    assert_int_equal(u[0].addr.ss_family, AF_INET);
    assert_int_equal(ntohs(((struct sockaddr_in *)&u[0].addr)->sin_port), 53);
    assert_int_equal(u[1].addr.ss_family, AF_INET6);
    unlink(path);
    assert_int_equal(bsn_dns_parse_hostport("127.0.0.1:5353", 53, &u[0]), 0);
    assert_int_equal(ntohs(((struct sockaddr_in *)&u[0].addr)->sin_port), 5353);
    assert_int_equal(bsn_dns_parse_hostport("[::1]:54", 53, &u[0]), 0);
    assert_int_equal(ntohs(((struct sockaddr_in6 *)&u[0].addr)->sin6_port), 54);
    assert_int_equal(bsn_dns_parse_hostport("1.2.3.4:99999", 53, &u[0]), -1);
    assert_int_equal(bsn_dns_parse_hostport("host.example:53", 53, &u[0]), -1);
    assert_int_equal(bsn_dns_parse_hostport("[::1", 53, &u[0]), -1);
}

static void
test_cache_lru_and_expiry(void **state)
{
    struct bsn_dns_cache *c = bsn_dns_cache_new(16);
    uint8_t q[512], resp[4096], out[4096];
    struct fake dummy;
    (void)dummy;
    for (int i = 0; i < 100; i++) {
        char name[32];
        snprintf(name, sizeof(name), "n%d.example", i);
        size_t ql = tq_build(q, 1, name, BSN_DNS_T_A, 0);
        struct bsn_dns_query pq;
        bsn_dns_query_parse(q, ql, &pq);
        size_t rl = fake_reply(q, ql, resp, 1, name);
        bsn_dns_cache_put(c, &pq, resp, rl, 1000);
    }
    /* bounded: never more than the capacity (plus shard rounding) */
    assert_true(bsn_dns_cache_count(c) <= 16 + 16);
    size_t ql = tq_build(q, 77, "n99.example", BSN_DNS_T_A, 0);
    struct bsn_dns_query pq;
    bsn_dns_query_parse(q, ql, &pq);
    size_t n = bsn_dns_cache_get(c, &pq, q, out, 512, 11000);
    assert_true(n > 0);
    assert_int_equal(bsn_dns_get16(out), 77);
    assert_int_equal(bsn_dns_msg_parse(out, n, &msg), 0);
    assert_int_equal(msg.rr[0].ttl, 50); /* 60 s minus 10 s of age */
    /* expired after 60 s */
    assert_int_equal(bsn_dns_cache_get(c, &pq, q, out, 512, 61000), 0);
    bsn_dns_cache_free(c);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_udp_and_tcp_answers, setup, teardown),
        cmocka_unit_test_setup_teardown(test_malformed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_forward_and_cache, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tcp_limits, setup, teardown),
        cmocka_unit_test(test_resolv_conf_and_hostport),
        cmocka_unit_test(test_cache_lru_and_expiry),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
