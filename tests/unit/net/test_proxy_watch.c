/*
 * test_proxy_watch.c - the service proxy against a real in-process API server (memory store),
 * driven by its loop, in userspace mode (no root needed): a Service and a hand-written
 * EndpointSlice become a listener on 127.X.Y.Z that relays to the endpoint; a LoadBalancer
 * gets its status; the kube-dns Service and slice are created; deleting the Service closes
 * the listener; a not-ready endpoint is not used.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <arpa/inet.h>
#include <cmocka.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "api/apiserver.h"
#include "api/client.h"
#include "base/mem.h"
#include "base/time.h"
#include "loop/loop.h"
#include "net/proxy.h"
#include "net/proxy_dnssvc.h"
#include "store/store.h"

struct env {
    struct bsn_loop *loop;
    struct bsn_store *store;
    struct bsn_apiserver *api;
    struct bsn_client *cl;
    struct bsn_proxy *proxy;
    int backend;    /* a listening socket: the endpoint */
    uint16_t bport; /* its port */
    uint16_t sport; /* the service port */
};

static void
settle(struct env *e, int ms)
{
    uint64_t end = bsn_mono_ms() + (uint64_t)ms;
    while (bsn_mono_ms() < end)
        bsn_loop_run_once(e->loop, 10);
}

struct answer {
    int status;
    json_t *body;
    bool done;
};

static void
on_answer(int status, const char *body, size_t len, void *data)
{
    struct answer *a = data;
    a->status = status;
    a->body = json_loadb(body, len, 0, NULL);
    a->done = true;
}

/* A request through the in-process client, waited for. Returns the status; *body (optional)
 * gets the answer. */
static int
req(struct env *e, const char *method, const char *path, const char *json, json_t **body)
{
    struct answer a = {0};
    bsn_client_request(e->cl, method, path, NULL, json, json ? strlen(json) : 0, on_answer, &a);
    for (int i = 0; i < 500 && !a.done; i++)
        bsn_loop_run_once(e->loop, 10);
    assert_true(a.done);
    if (body)
        *body = a.body;
    else
        json_decref(a.body);
    return a.status;
}

static int
setup(void **state)
{
    struct env *e = bsn_calloc(1, sizeof(*e));
    e->loop = bsn_loop_new();
    assert_int_equal(bsn_store_open_memory(&e->store), 0);
    struct bsn_apiserver_opts ao = {.listen = "127.0.0.1:0",
                                    .store = e->store,
                                    .advertise_address = "127.0.0.1",
                                    .advertise_port = 6443};
    struct bsn_err err;
    bsn_err_clear(&err);
    e->api = bsn_apiserver_new(e->loop, &ao, &err);
    assert_non_null(e->api);
    e->cl = bsn_client_new_local(e->api);
    /* the endpoint: a listener on 127.0.0.1, any port */
    e->backend = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    assert_int_equal(bind(e->backend, (struct sockaddr *)&sa, sizeof(sa)), 0);
    assert_int_equal(listen(e->backend, 16), 0);
    socklen_t sl = sizeof(sa);
    getsockname(e->backend, (struct sockaddr *)&sa, &sl);
    e->bport = ntohs(sa.sin_port);
    e->sport = (uint16_t)(20000 + getpid() % 20000); /* high: no privilege needed */
    struct bsn_proxy_opts po = {
        .mode = BSN_PROXY_USERSPACE, .node_ip = "192.0.2.7", .cluster_dns = "127.0.0.1:5353"};
    e->proxy = bsn_proxy_start(e->loop, e->api, &po, &err);
    assert_non_null(e->proxy);
    *state = e;
    return 0;
}

static int
teardown(void **state)
{
    struct env *e = *state;
    settle(e, 100);
    bsn_proxy_stop(e->proxy);
    bsn_client_free(e->cl);
    settle(e, 100);
    bsn_apiserver_free(e->api);
    bsn_loop_free(e->loop);
    bsn_store_close(e->store);
    close(e->backend);
    free(e);
    return 0;
}

/* Connects to addr:port; returns the fd, or -1 (refused). */
static int
dial(const char *addr, uint16_t port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(port)};
    inet_pton(AF_INET, addr, &sa.sin_addr);
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        close(fd);
        return -1;
    }
    return fd;
}

/* The proxy relays: what the client sends arrives at the backend. */
static bool
relayed(struct env *e, const char *addr)
{
    int c = dial(addr, e->sport);
    if (c < 0)
        return false;
    assert_int_equal(write(c, "ping", 4), 4);
    int b = -1;
    char buf[8] = "";
    ssize_t n = -1;
    for (int i = 0; i < 200 && n <= 0; i++) {
        bsn_loop_run_once(e->loop, 10);
        if (b < 0)
            b = accept(e->backend, NULL, NULL);
        if (b >= 0) {
            fcntl(b, F_SETFL, O_NONBLOCK);
            n = read(b, buf, sizeof(buf) - 1);
        }
    }
    close(c);
    if (b >= 0)
        close(b);
    settle(e, 20);
    return n == 4 && !memcmp(buf, "ping", 4);
}

static void
test_userspace_service(void **state)
{
    struct env *e = *state;
    char js[1024];
    snprintf(js, sizeof(js),
             "{\"apiVersion\":\"v1\",\"kind\":\"Service\",\"metadata\":{\"name\":\"web\"},"
             "\"spec\":{\"type\":\"LoadBalancer\",\"ports\":[{\"name\":\"http\",\"port\":%u,"
             "\"targetPort\":%u}]}}",
             e->sport, e->bport);
    assert_int_equal(req(e, "POST", "/api/v1/namespaces/default/services", js, NULL), 201);
    snprintf(js, sizeof(js),
             "{\"apiVersion\":\"discovery.k8s.io/v1\",\"kind\":\"EndpointSlice\",\"metadata\":{"
             "\"name\":\"web-1\",\"labels\":{\"kubernetes.io/service-name\":\"web\"}},"
             "\"addressType\":\"IPv4\",\"ports\":[{\"name\":\"http\",\"port\":%u}],"
             "\"endpoints\":[{\"addresses\":[\"127.0.0.1\"],\"conditions\":{\"ready\":true}}]}",
             e->bport);
    assert_int_equal(
        req(e, "POST", "/apis/discovery.k8s.io/v1/namespaces/default/endpointslices", js, NULL),
        201);
    settle(e, 300);
    json_t *svc = NULL;
    assert_int_equal(req(e, "GET", "/api/v1/namespaces/default/services/web", NULL, &svc), 200);
    const char *cip = json_string_value(json_object_get(json_object_get(svc, "spec"), "clusterIP"));
    assert_non_null(cip);
    char uaddr[16];
    assert_int_equal(bsn_proxy_user_addr(cip, uaddr, sizeof(uaddr)), 0);
    /* the LoadBalancer status: the node address, written through the status subresource */
    json_t *ing =
        json_object_get(json_object_get(json_object_get(svc, "status"), "loadBalancer"), "ingress");
    assert_string_equal(json_string_value(json_object_get(json_array_get(ing, 0), "ip")),
                        "192.0.2.7");
    json_decref(svc);
    assert_true(relayed(e, uaddr));

    /* the endpoint turns not ready: nothing is relayed any more (the connection is closed) */
    snprintf(js, sizeof(js),
             "[{\"op\":\"replace\",\"path\":\"/endpoints/0/conditions/ready\",\"value\":false}]");
    struct answer a = {0};
    bsn_client_request(e->cl, "PATCH",
                       "/apis/discovery.k8s.io/v1/namespaces/default/endpointslices/web-1",
                       "application/json-patch+json", js, strlen(js), on_answer, &a);
    for (int i = 0; i < 500 && !a.done; i++)
        bsn_loop_run_once(e->loop, 10);
    assert_int_equal(a.status, 200);
    json_decref(a.body);
    settle(e, 300);
    assert_false(relayed(e, uaddr));

    /* the Service goes: its listener closes */
    assert_int_equal(req(e, "DELETE", "/api/v1/namespaces/default/services/web", NULL, NULL), 200);
    settle(e, 300);
    int fd = dial(uaddr, e->sport);
    if (fd >= 0)
        close(fd);
    assert_int_equal(fd, -1);
}

static void
test_kube_dns_service(void **state)
{
    struct env *e = *state;
    settle(e, 500);
    json_t *svc = NULL;
    assert_int_equal(req(e, "GET", "/api/v1/namespaces/kube-system/services/kube-dns", NULL, &svc),
                     200);
    json_t *spec = json_object_get(svc, "spec");
    assert_string_equal(json_string_value(json_object_get(spec, "clusterIP")), BSN_CLUSTER_DNS_IP);
    assert_int_equal(json_array_size(json_object_get(spec, "ports")), 2);
    assert_null(json_object_get(spec, "selector"));
    json_decref(svc);
    json_t *sl = NULL;
    assert_int_equal(req(e, "GET",
                         "/apis/discovery.k8s.io/v1/namespaces/kube-system/endpointslices/"
                         "kube-dns-bosun",
                         NULL, &sl),
                     200);
    json_t *ep = json_array_get(json_object_get(sl, "endpoints"), 0);
    assert_string_equal(json_string_value(json_array_get(json_object_get(ep, "addresses"), 0)),
                        "127.0.0.1");
    assert_int_equal(json_integer_value(
                         json_object_get(json_array_get(json_object_get(sl, "ports"), 0), "port")),
                     5353);
    json_decref(sl);
}

static void
test_dns_loopback(void **state)
{
    (void)state;
    assert_true(bsn_proxy_dnssvc_is_loopback("127.0.0.1:10053"));
    assert_true(bsn_proxy_dnssvc_is_loopback("127.43.0.10:53"));
    assert_true(bsn_proxy_dnssvc_is_loopback("localhost:53"));
    assert_true(bsn_proxy_dnssvc_is_loopback("[::1]:53"));
    assert_false(bsn_proxy_dnssvc_is_loopback("0.0.0.0:10053"));
    assert_false(bsn_proxy_dnssvc_is_loopback(":53"));
    assert_false(bsn_proxy_dnssvc_is_loopback("10.215.3.1:53"));
    assert_false(bsn_proxy_dnssvc_is_loopback("1127.0.0.1:53"));
    assert_false(bsn_proxy_dnssvc_is_loopback(NULL));
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dns_loopback),
        cmocka_unit_test_setup_teardown(test_userspace_service, setup, teardown),
        cmocka_unit_test_setup_teardown(test_kube_dns_service, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
