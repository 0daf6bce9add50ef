/*
 * test_dns_zone.c - the cluster zone: every record type of the Kubernetes DNS specification
 * (table-driven: query -> rcode + answer records), NXDOMAIN vs NODATA, PTR, truncation, case,
 * updates and deletes, EndpointSlices, the JSON entry point, and readers racing a writer.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>

#include "dns_test_util.h"
#include "net/dns_zone.h"

struct result {
    int rc; /* bsn_dns_zone_answer result */
    int rcode;
    uint16_t flags;
    char an[4096], ns[512], ar[4096];
    int nan;
};

static void
ask(struct bsn_dns_zone *z, const char *name, uint16_t qtype, uint16_t edns, struct result *r)
{
    uint8_t p[512], out[65535];
    struct bsn_dns_query q;
    size_t n = tq_build(p, 99, name, qtype, edns);
    assert_int_equal(bsn_dns_query_parse(p, n, &q), 0);
    int slot = bsn_dns_zone_reader_new(z);
    assert_true(slot >= 0);
    const struct bsn_dns_snap *s = bsn_dns_zone_pin(z, slot);
    size_t len = 0;
    r->rc = bsn_dns_zone_answer(z, s, &q, p, out, edns ? edns : 512, &len);
    bsn_dns_zone_unpin(z, slot);
    bsn_dns_zone_reader_free(z, slot);
    r->an[0] = r->ns[0] = r->ar[0] = 0;
    if (r->rc != BSN_DNS_ANSWERED)
        return;
    static struct bsn_dns_msg m;
    assert_int_equal(bsn_dns_msg_parse(out, len, &m), 0);
    assert_int_equal(m.id, 99);
    r->flags = m.flags;
    r->rcode = m.flags & 0xF;
    r->nan = m.ancount;
    tq_section(out, len, &m, 1, r->an, sizeof(r->an));
    tq_section(out, len, &m, 2, r->ns, sizeof(r->ns));
    tq_section(out, len, &m, 3, r->ar, sizeof(r->ar));
}

static struct bsn_dns_zone *
fixture(void)
{
    struct bsn_dns_zone *z = bsn_dns_zone_new(NULL, 0);
    struct bsn_err err = {0};
    const char *k8s_ips[] = {"10.43.0.1"};
    struct bsn_dns_port https[] = {{"https", "TCP", 443}};
    assert_int_equal(bsn_dns_zone_put_service(z, "default", "kubernetes", BSN_DNS_SVC_CLUSTER_IP,
                                              k8s_ips, 1, https, 1, NULL, false, &err),
                     0);
    const char *dual_ips[] = {"10.43.0.2", "fd00::2"};
    struct bsn_dns_port http[] = {{"http", "TCP", 80}, {NULL, "TCP", 81}};
    assert_int_equal(bsn_dns_zone_put_service(z, "default", "dual", BSN_DNS_SVC_CLUSTER_IP,
                                              dual_ips, 2, http, 2, NULL, false, &err),
                     0);
    /* endpoints first, service later: kept until the service arrives */
    struct bsn_dns_endpoint eps[] = {
        {"10.42.0.100", "my-pet", true}, {"10.42.0.101", "My-Pet-2", true},
        {"10.42.0.102", NULL, true},     {"10.42.0.103", "notready", false},
        {"fd00::5", "my-pet", true},
    };
    assert_int_equal(bsn_dns_zone_put_endpoints(z, "default", "headless", eps, 5, https, 1, &err),
                     0);
    assert_int_equal(bsn_dns_zone_put_service(z, "default", "headless", BSN_DNS_SVC_HEADLESS, NULL,
                                              0, https, 1, NULL, false, &err),
                     0);
    assert_int_equal(bsn_dns_zone_put_service(z, "default", "empty", BSN_DNS_SVC_HEADLESS, NULL, 0,
                                              https, 1, NULL, false, &err),
                     0);
    assert_int_equal(bsn_dns_zone_put_service(z, "default", "foo", BSN_DNS_SVC_EXTERNAL_NAME, NULL,
                                              0, NULL, 0, "www.example.com", false, &err),
                     0);
    const char *dns_ips[] = {"10.43.0.10"};
    struct bsn_dns_port dns[] = {{"dns", "UDP", 53}, {"dns-tcp", "TCP", 53}};
    assert_int_equal(bsn_dns_zone_put_service(z, "kube-system", "kube-dns", BSN_DNS_SVC_CLUSTER_IP,
                                              dns_ips, 1, dns, 2, NULL, false, &err),
                     0);
    struct bsn_dns_endpoint nr[] = {{"10.42.1.1", NULL, false}};
    assert_int_equal(bsn_dns_zone_put_service(z, "default", "pnr", BSN_DNS_SVC_HEADLESS, NULL, 0,
                                              https, 1, NULL, true, &err),
                     0);
    assert_int_equal(bsn_dns_zone_put_endpoints(z, "default", "pnr", nr, 1, NULL, 0, &err), 0);
    return z;
}

struct row {
    const char *name;
    uint16_t qtype;
    int rcode; /* -1: not in zone */
    const char *answers;
};

#define SVC ".default.svc.cluster.local"
static const struct row rows[] = {
    {"dns-version.cluster.local", BSN_DNS_T_TXT, 0, "TXT \"1.1.0\""},
    {"dns-version.cluster.local", BSN_DNS_T_A, 0, ""},
    {"kubernetes" SVC, BSN_DNS_T_A, 0, "A 10.43.0.1"},
    {"KUBERNETES.Default.SVC.Cluster.Local", BSN_DNS_T_A, 0, "A 10.43.0.1"},
    {"kubernetes" SVC ".", BSN_DNS_T_AAAA, 0, ""},
    {"kubernetes" SVC, BSN_DNS_T_TXT, 0, ""},
    {"dual" SVC, BSN_DNS_T_A, 0, "A 10.43.0.2"},
    {"dual" SVC, BSN_DNS_T_AAAA, 0, "AAAA fd00::2"},
    {"dual" SVC, BSN_DNS_T_ANY, 0, "A 10.43.0.2;AAAA fd00::2"},
    {"_https._tcp.kubernetes" SVC, BSN_DNS_T_SRV, 0,
     "SRV 0 100 443 kubernetes.default.svc.cluster.local."},
    {"_HTTPS._TCP.kubernetes" SVC, BSN_DNS_T_SRV, 0,
     "SRV 0 100 443 kubernetes.default.svc.cluster.local."},
    {"_https._tcp.kubernetes" SVC, BSN_DNS_T_A, 0, ""},
    {"_https._udp.kubernetes" SVC, BSN_DNS_T_SRV, 3, ""},
    {"_http._tcp.kubernetes" SVC, BSN_DNS_T_SRV, 3, ""},
    {"_tcp.kubernetes" SVC, BSN_DNS_T_SRV, 0, ""},
    {"_udp.kubernetes" SVC, BSN_DNS_T_SRV, 3, ""},
    {"_dns._udp.kube-dns.kube-system.svc.cluster.local", BSN_DNS_T_SRV, 0,
     "SRV 0 100 53 kube-dns.kube-system.svc.cluster.local."},
    {"_dns-tcp._tcp.kube-dns.kube-system.svc.cluster.local", BSN_DNS_T_SRV, 0,
     "SRV 0 100 53 kube-dns.kube-system.svc.cluster.local."},
    {"headless" SVC, BSN_DNS_T_A, 0, "A 10.42.0.100;A 10.42.0.101;A 10.42.0.102"},
    {"headless" SVC, BSN_DNS_T_AAAA, 0, "AAAA fd00::5"},
    {"headless" SVC, 15, 0, ""},
    {"my-pet.headless" SVC, BSN_DNS_T_A, 0, "A 10.42.0.100"},
    {"MY-PET.headless" SVC, BSN_DNS_T_AAAA, 0, "AAAA fd00::5"},
    {"my-pet-2.headless" SVC, BSN_DNS_T_A, 0, "A 10.42.0.101"},
    {"my-pet-2.headless" SVC, BSN_DNS_T_AAAA, 0, ""},
    {"10-42-0-102.headless" SVC, BSN_DNS_T_A, 0, "A 10.42.0.102"},
    {"notready.headless" SVC, BSN_DNS_T_A, 3, ""},
    {"_https._tcp.headless" SVC, BSN_DNS_T_SRV, 0,
     "SRV 0 100 443 my-pet.headless.default.svc.cluster.local.;"
     "SRV 0 100 443 my-pet-2.headless.default.svc.cluster.local.;"
     "SRV 0 100 443 10-42-0-102.headless.default.svc.cluster.local.;"
     "SRV 0 100 443 my-pet.headless.default.svc.cluster.local."},
    {"_http._tcp.headless" SVC, BSN_DNS_T_SRV, 3, ""},
    {"empty" SVC, BSN_DNS_T_A, 3, ""},
    {"_https._tcp.empty" SVC, BSN_DNS_T_SRV, 3, ""},
    {"pnr" SVC, BSN_DNS_T_A, 0, "A 10.42.1.1"},
    {"foo" SVC, BSN_DNS_T_A, 0, "CNAME www.example.com."},
    {"foo" SVC, BSN_DNS_T_AAAA, 0, "CNAME www.example.com."},
    {"foo" SVC, BSN_DNS_T_CNAME, 0, "CNAME www.example.com."},
    {"x.foo" SVC, BSN_DNS_T_A, 3, ""},
    {"nope" SVC, BSN_DNS_T_A, 3, ""},
    {"default.svc.cluster.local", BSN_DNS_T_A, 0, ""},
    {"kube-system.svc.cluster.local", BSN_DNS_T_SRV, 0, ""},
    {"nons.svc.cluster.local", BSN_DNS_T_A, 3, ""},
    {"svc.cluster.local", BSN_DNS_T_A, 0, ""},
    {"pod.cluster.local", BSN_DNS_T_A, 0, ""},
    {"default.pod.cluster.local", BSN_DNS_T_A, 0, ""},
    {"10-42-0-5.default.pod.cluster.local", BSN_DNS_T_A, 0, "A 10.42.0.5"},
    {"10-42-0-5.default.pod.cluster.local", BSN_DNS_T_AAAA, 0, ""},
    {"fd00--5.default.pod.cluster.local", BSN_DNS_T_AAAA, 0, "AAAA fd00::5"},
    {"10-42-0-256.default.pod.cluster.local", BSN_DNS_T_A, 3, ""},
    {"x.10-42-0-5.default.pod.cluster.local", BSN_DNS_T_A, 3, ""},
    {"a.b.c.d.e.default.svc.cluster.local", BSN_DNS_T_A, 3, ""},
    {"kubernetes.default.pod.cluster.local", BSN_DNS_T_A, 3, ""},
    {"cluster.local", BSN_DNS_T_SOA, 0, "SOA ns.dns.cluster.local."},
    {"cluster.local", BSN_DNS_T_NS, 0, "NS ns.dns.cluster.local."},
    {"cluster.local", BSN_DNS_T_A, 0, ""},
    {"1.0.43.10.in-addr.arpa", BSN_DNS_T_PTR, 0, "PTR kubernetes.default.svc.cluster.local."},
    {"2.0.43.10.IN-ADDR.ARPA", BSN_DNS_T_PTR, 0, "PTR dual.default.svc.cluster.local."},
    {"1.0.43.10.in-addr.arpa", BSN_DNS_T_A, 0, ""},
    {"100.0.42.10.in-addr.arpa", BSN_DNS_T_PTR, 0,
     "PTR my-pet.headless.default.svc.cluster.local."},
    {"102.0.42.10.in-addr.arpa", BSN_DNS_T_PTR, 0,
     "PTR 10-42-0-102.headless.default.svc.cluster.local."},
    {"2.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.d.f.ip6.arpa", BSN_DNS_T_PTR, 0,
     "PTR dual.default.svc.cluster.local."},
    {"103.0.42.10.in-addr.arpa", BSN_DNS_T_PTR, -1, ""},
    {"9.9.9.9.in-addr.arpa", BSN_DNS_T_PTR, -1, ""},
    {"0.43.10.in-addr.arpa", BSN_DNS_T_PTR, -1, ""},
    {"01.0.43.10.in-addr.arpa", BSN_DNS_T_PTR, -1, ""},
    {"example.com", BSN_DNS_T_A, -1, ""},
    {"local", BSN_DNS_T_A, -1, ""},
    {"xcluster.local", BSN_DNS_T_A, -1, ""},
};

static void
test_records_table(void **state)
{
    struct bsn_dns_zone *z = fixture();
    static struct result r;
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        const struct row *w = &rows[i];
        ask(z, w->name, w->qtype, 1232, &r);
        if (w->rcode < 0) {
            if (r.rc != BSN_DNS_NOT_IN_ZONE)
                fail_msg("%s type %u: expected not-in-zone", w->name, w->qtype);
            continue;
        }
        if (r.rc != BSN_DNS_ANSWERED || r.rcode != w->rcode || strcmp(r.an, w->answers) != 0)
            fail_msg("%s type %u: got rcode %d answers '%s', want rcode %d answers '%s'", w->name,
                     w->qtype, r.rcode, r.an, w->rcode, w->answers);
        assert_true(r.flags & BSN_DNS_F_AA);
        /* negative answers (NXDOMAIN and NODATA) carry the SOA in the authority section */
        if (w->answers[0] == 0 && strncmp(r.ns, "SOA ns.dns.cluster.local.", 25) != 0)
            fail_msg("%s: no SOA in authority: '%s'", w->name, r.ns);
    }
    bsn_dns_zone_free(z);
}

static void
test_srv_additional_and_truncation(void **state)
{
    struct bsn_dns_zone *z = fixture();
    static struct result r;
    ask(z, "_https._tcp.kubernetes.default.svc.cluster.local", BSN_DNS_T_SRV, 1232, &r);
    assert_string_equal(r.ar, "A 10.43.0.1");
    ask(z, "_https._tcp.headless.default.svc.cluster.local", BSN_DNS_T_SRV, 1232, &r);
    assert_string_equal(r.ar, "A 10.42.0.100;A 10.42.0.101;A 10.42.0.102;AAAA fd00::5");

    /* 200 endpoints do not fit 512 bytes: TC set, partial answer; with EDNS 4096 they fit */
    static struct bsn_dns_endpoint eps[200];
    static char ips[200][32];
    for (int i = 0; i < 200; i++) {
        snprintf(ips[i], sizeof(ips[i]), "10.44.%d.%d", i / 250, i % 250 + 1);
        eps[i] = (struct bsn_dns_endpoint){ips[i], NULL, true};
    }
    assert_int_equal(bsn_dns_zone_put_service(z, "big", "many", BSN_DNS_SVC_HEADLESS, NULL, 0, NULL,
                                              0, NULL, false, NULL),
                     0);
    assert_int_equal(bsn_dns_zone_put_endpoints(z, "big", "many", eps, 200, NULL, 0, NULL), 0);
    ask(z, "many.big.svc.cluster.local", BSN_DNS_T_A, 0, &r);
    assert_true(r.flags & BSN_DNS_F_TC);
    assert_true(r.nan > 10 && r.nan < 200);
    ask(z, "many.big.svc.cluster.local", BSN_DNS_T_A, 4096, &r);
    assert_false(r.flags & BSN_DNS_F_TC);
    assert_int_equal(r.nan, 200);
    bsn_dns_zone_free(z);
}

static void
test_updates_and_deletes(void **state)
{
    struct bsn_dns_zone *z = fixture();
    static struct result r;
    const char *ips[] = {"10.43.0.99"};
    assert_int_equal(bsn_dns_zone_put_service(z, "default", "kubernetes", BSN_DNS_SVC_CLUSTER_IP,
                                              ips, 1, NULL, 0, NULL, false, NULL),
                     0);
    ask(z, "kubernetes.default.svc.cluster.local", BSN_DNS_T_A, 0, &r);
    assert_string_equal(r.an, "A 10.43.0.99");
    ask(z, "1.0.43.10.in-addr.arpa", BSN_DNS_T_PTR, 0, &r);
    assert_int_equal(r.rc, BSN_DNS_NOT_IN_ZONE); /* old PTR gone */
    ask(z, "99.0.43.10.in-addr.arpa", BSN_DNS_T_PTR, 0, &r);
    assert_string_equal(r.an, "PTR kubernetes.default.svc.cluster.local.");
    ask(z, "_https._tcp.kubernetes.default.svc.cluster.local", BSN_DNS_T_SRV, 0, &r);
    assert_int_equal(r.rcode, BSN_DNS_R_NXDOMAIN); /* port removed */

    assert_int_equal(bsn_dns_zone_delete_service(z, "default", "headless"), 0);
    ask(z, "headless.default.svc.cluster.local", BSN_DNS_T_A, 0, &r);
    assert_int_equal(r.rcode, BSN_DNS_R_NXDOMAIN);
    ask(z, "100.0.42.10.in-addr.arpa", BSN_DNS_T_PTR, 0, &r);
    assert_int_equal(r.rc, BSN_DNS_NOT_IN_ZONE);
    /* endpoints still known: the service coming back restores the records */
    struct bsn_dns_port https[] = {{"https", "TCP", 443}};
    bsn_dns_zone_put_service(z, "default", "headless", BSN_DNS_SVC_HEADLESS, NULL, 0, https, 1,
                             NULL, false, NULL);
    ask(z, "my-pet.headless.default.svc.cluster.local", BSN_DNS_T_A, 0, &r);
    assert_string_equal(r.an, "A 10.42.0.100");
    bsn_dns_zone_delete_endpoints(z, "default", "headless");
    ask(z, "headless.default.svc.cluster.local", BSN_DNS_T_A, 0, &r);
    assert_int_equal(r.rcode, BSN_DNS_R_NXDOMAIN);

    /* the namespace disappears with its last service */
    bsn_dns_zone_delete_service(z, "kube-system", "kube-dns");
    ask(z, "kube-system.svc.cluster.local", BSN_DNS_T_A, 0, &r);
    assert_int_equal(r.rcode, BSN_DNS_R_NXDOMAIN);

    /* two services sharing an endpoint IP: two PTRs; removing one keeps the other */
    struct bsn_dns_endpoint e1[] = {{"10.42.9.9", "a", true}};
    bsn_dns_zone_put_service(z, "x", "s1", BSN_DNS_SVC_HEADLESS, NULL, 0, NULL, 0, NULL, false,
                             NULL);
    bsn_dns_zone_put_service(z, "x", "s2", BSN_DNS_SVC_HEADLESS, NULL, 0, NULL, 0, NULL, false,
                             NULL);
    bsn_dns_zone_put_endpoints(z, "x", "s1", e1, 1, NULL, 0, NULL);
    bsn_dns_zone_put_endpoints(z, "x", "s2", e1, 1, NULL, 0, NULL);
    ask(z, "9.9.42.10.in-addr.arpa", BSN_DNS_T_PTR, 0, &r);
    assert_int_equal(r.nan, 2);
    bsn_dns_zone_delete_service(z, "x", "s1");
    ask(z, "9.9.42.10.in-addr.arpa", BSN_DNS_T_PTR, 0, &r);
    assert_string_equal(r.an, "PTR a.s2.x.svc.cluster.local.");

    /* invalid input is an error naming the value */
    struct bsn_err err = {0};
    const char *bad[] = {"10.43.0.300"};
    assert_int_equal(bsn_dns_zone_put_service(z, "default", "bad", BSN_DNS_SVC_CLUSTER_IP, bad, 1,
                                              NULL, 0, NULL, false, &err),
                     -1);
    assert_non_null(strstr(err.msg, "10.43.0.300"));
    assert_int_equal(bsn_dns_zone_put_service(z, "default", "a.b", BSN_DNS_SVC_HEADLESS, NULL, 0,
                                              NULL, 0, NULL, false, &err),
                     -1);
    bsn_dns_zone_free(z);
}

static void
test_slices_and_json(void **state)
{
    struct bsn_dns_zone *z = bsn_dns_zone_new("Cluster.Test.", 30);
    static struct result r;
    const char *doc =
        "{\"kind\":\"List\",\"items\":["
        "{\"kind\":\"Service\",\"metadata\":{\"name\":\"web\",\"namespace\":\"shop\"},"
        " \"spec\":{\"clusterIP\":\"None\",\"ports\":[{\"name\":\"http\",\"port\":80}]}},"
        "{\"kind\":\"Service\",\"metadata\":{\"name\":\"api\",\"namespace\":\"shop\"},"
        " \"spec\":{\"clusterIP\":\"10.43.1.1\",\"clusterIPs\":[\"10.43.1.1\",\"fd00::1:1\"],"
        "  \"ports\":[{\"name\":\"grpc\",\"port\":9000,\"protocol\":\"TCP\"}]}},"
        "{\"kind\":\"Service\",\"metadata\":{\"name\":\"ext\",\"namespace\":\"shop\"},"
        " \"spec\":{\"type\":\"ExternalName\",\"externalName\":\"db.example.org\"}},"
        "{\"kind\":\"EndpointSlice\",\"metadata\":{\"name\":\"web-abc\",\"namespace\":\"shop\","
        "  \"labels\":{\"kubernetes.io/service-name\":\"web\"}},\"addressType\":\"IPv4\","
        " \"endpoints\":[{\"addresses\":[\"10.42.0.1\"],\"hostname\":\"web-0\"},"
        "  {\"addresses\":[\"10.42.0.2\"],\"conditions\":{\"ready\":false}}],"
        " \"ports\":[{\"name\":\"http\",\"port\":8080,\"protocol\":\"TCP\"}]},"
        "{\"kind\":\"EndpointSlice\",\"metadata\":{\"name\":\"web-def\",\"namespace\":\"shop\","
        "  \"labels\":{\"kubernetes.io/service-name\":\"web\"}},\"addressType\":\"IPv4\","
        " \"endpoints\":[{\"addresses\":[\"10.42.0.3\"],\"conditions\":{\"ready\":true}}],"
        " \"ports\":[{\"name\":\"http\",\"port\":8080,\"protocol\":\"TCP\"}]},"
        "{\"kind\":\"Endpoints\",\"metadata\":{\"name\":\"web\",\"namespace\":\"shop\"},"
        " \"subsets\":[{\"addresses\":[{\"ip\":\"10.99.0.1\"}]}]}"
        "]}";
    json_error_t jerr;
    json_t *obj = json_loads(doc, 0, &jerr);
    assert_non_null(obj);
    struct bsn_err err = {0};
    assert_int_equal(bsn_dns_zone_apply_object(z, obj, false, &err), 0);
    assert_int_equal(bsn_dns_zone_service_count(z), 3);
    /* slices win over the Endpoints object; the not-ready one is not published */
    ask(z, "web.shop.svc.cluster.test", BSN_DNS_T_A, 0, &r);
    assert_string_equal(r.an, "A 10.42.0.1;A 10.42.0.3");
    ask(z, "_http._tcp.web.shop.svc.cluster.test", BSN_DNS_T_SRV, 0, &r);
    assert_string_equal(r.an, "SRV 0 100 8080 web-0.web.shop.svc.cluster.test.;"
                              "SRV 0 100 8080 10-42-0-3.web.shop.svc.cluster.test.");
    ask(z, "api.shop.svc.cluster.test", BSN_DNS_T_AAAA, 0, &r);
    assert_string_equal(r.an, "AAAA fd00::1:1");
    ask(z, "ext.shop.svc.cluster.test", BSN_DNS_T_A, 0, &r);
    assert_string_equal(r.an, "CNAME db.example.org.");
    ask(z, "dns-version.cluster.test", BSN_DNS_T_TXT, 0, &r);
    assert_string_equal(r.an, "TXT \"1.1.0\"");
    ask(z, "kubernetes.default.svc.cluster.local", BSN_DNS_T_A, 0, &r);
    assert_int_equal(r.rc, BSN_DNS_NOT_IN_ZONE);

    /* deleting one slice keeps the other */
    json_t *slice = json_array_get(json_object_get(obj, "items"), 3);
    assert_int_equal(bsn_dns_zone_apply_object(z, slice, true, &err), 0);
    ask(z, "web.shop.svc.cluster.test", BSN_DNS_T_A, 0, &r);
    assert_string_equal(r.an, "A 10.42.0.3");
    /* with no slices left, the Endpoints object is used */
    slice = json_array_get(json_object_get(obj, "items"), 4);
    assert_int_equal(bsn_dns_zone_apply_object(z, slice, true, &err), 0);
    ask(z, "web.shop.svc.cluster.test", BSN_DNS_T_A, 0, &r);
    assert_string_equal(r.an, "A 10.99.0.1");
    /* deleting the whole list removes everything */
    assert_int_equal(bsn_dns_zone_apply_object(z, obj, true, &err), 0);
    assert_int_equal(bsn_dns_zone_service_count(z), 0);
    json_decref(obj);

    /* a typed list's items carry no kind */
    obj = json_loads("{\"kind\":\"ServiceList\",\"items\":[{\"metadata\":{\"name\":\"s\"},"
                     "\"spec\":{\"clusterIP\":\"10.43.5.5\"}}]}",
                     0, &jerr);
    assert_int_equal(bsn_dns_zone_apply_object(z, obj, false, &err), 0);
    ask(z, "s.default.svc.cluster.test", BSN_DNS_T_A, 0, &r);
    assert_string_equal(r.an, "A 10.43.5.5");
    json_decref(obj);
    /* the kind can come from the caller */
    obj = json_loads("{\"metadata\":{\"name\":\"k\"},\"spec\":{\"clusterIP\":\"10.43.6.6\"}}", 0,
                     &jerr);
    assert_int_equal(bsn_dns_zone_apply_kind(z, "Service", obj, false, &err), 0);
    ask(z, "k.default.svc.cluster.test", BSN_DNS_T_A, 0, &r);
    assert_string_equal(r.an, "A 10.43.6.6");
    assert_int_equal(bsn_dns_zone_apply_kind(z, "Service", obj, true, &err), 0);
    ask(z, "k.default.svc.cluster.test", BSN_DNS_T_A, 0, &r);
    assert_int_equal(r.rcode, BSN_DNS_R_NXDOMAIN);
    json_decref(obj);
    /* malformed objects are errors with context */
    obj = json_loads("{\"kind\":\"List\",\"items\":[{\"kind\":\"Service\",\"metadata\":{}}]}", 0,
                     &jerr);
    assert_int_equal(bsn_dns_zone_apply_object(z, obj, false, &err), -1);
    assert_non_null(strstr(err.msg, "items[0]"));
    json_decref(obj);
    bsn_dns_zone_free(z);
}

static void
test_reset_in_batch(void **state)
{
    struct bsn_dns_zone *z = fixture();
    static struct result r;
    bsn_dns_zone_begin(z);
    bsn_dns_zone_reset(z);
    const char *ips[] = {"10.43.7.7"};
    assert_int_equal(bsn_dns_zone_put_service(z, "default", "fresh", BSN_DNS_SVC_CLUSTER_IP, ips, 1,
                                              NULL, 0, NULL, false, NULL),
                     0);
    /* readers still see the old zone until commit */
    ask(z, "kubernetes.default.svc.cluster.local", BSN_DNS_T_A, 0, &r);
    assert_string_equal(r.an, "A 10.43.0.1");
    ask(z, "fresh.default.svc.cluster.local", BSN_DNS_T_A, 0, &r);
    assert_int_equal(r.rcode, BSN_DNS_R_NXDOMAIN);
    bsn_dns_zone_commit(z);
    ask(z, "kubernetes.default.svc.cluster.local", BSN_DNS_T_A, 0, &r);
    assert_int_equal(r.rcode, BSN_DNS_R_NXDOMAIN);
    ask(z, "fresh.default.svc.cluster.local", BSN_DNS_T_A, 0, &r);
    assert_string_equal(r.an, "A 10.43.7.7");
    ask(z, "1.0.43.10.in-addr.arpa", BSN_DNS_T_PTR, 0, &r);
    assert_int_equal(r.rc, BSN_DNS_NOT_IN_ZONE);
    ask(z, "kube-system.svc.cluster.local", BSN_DNS_T_A, 0, &r);
    assert_int_equal(r.rcode, BSN_DNS_R_NXDOMAIN);
    assert_int_equal(bsn_dns_zone_service_count(z), 1);
    bsn_dns_zone_free(z);
}

/* --- readers racing a writer ---------------------------------------------------------------- */

struct race {
    struct bsn_dns_zone *z;
    atomic_bool stop;
    atomic_long answered, bad;
};

static void *
reader(void *arg)
{
    struct race *ra = arg;
    int slot = bsn_dns_zone_reader_new(ra->z);
    uint8_t p[512], out[4096];
    struct bsn_dns_query q;
    struct bsn_dns_msg *m = malloc(sizeof(*m));
    int i = 0;
    while (!atomic_load(&ra->stop)) {
        char name[64];
        snprintf(name, sizeof(name), "s%d.race.svc.cluster.local", i++ % 50);
        size_t n = tq_build(p, 1, name, BSN_DNS_T_A, 4096);
        bsn_dns_query_parse(p, n, &q);
        const struct bsn_dns_snap *s = bsn_dns_zone_pin(ra->z, slot);
        size_t len;
        bsn_dns_zone_answer(ra->z, s, &q, p, out, 4096, &len);
        bsn_dns_zone_unpin(ra->z, slot);
        if (bsn_dns_msg_parse(out, len, m) < 0) {
            atomic_fetch_add(&ra->bad, 1);
            continue;
        }
        int rcode = m->flags & 0xF;
        /* either absent, or exactly the service's one address */
        if (rcode == BSN_DNS_R_NOERROR && m->ancount == 1 && out[m->rr[0].rdata_off] == 10 &&
            out[m->rr[0].rdata_off + 1] == 43)
            atomic_fetch_add(&ra->answered, 1);
        else if (rcode != BSN_DNS_R_NXDOMAIN)
            atomic_fetch_add(&ra->bad, 1);
    }
    free(m);
    bsn_dns_zone_reader_free(ra->z, slot);
    return NULL;
}

static void
test_concurrent_updates(void **state)
{
    struct race ra = {.z = bsn_dns_zone_new(NULL, 0)};
    pthread_t th[2];
    for (int i = 0; i < 2; i++)
        pthread_create(&th[i], NULL, reader, &ra);
    for (int round = 0; round < 400; round++) {
        int k = round % 50;
        char name[16], ip[32];
        snprintf(name, sizeof(name), "s%d", k);
        snprintf(ip, sizeof(ip), "10.43.%d.%d", round % 200, k + 1);
        const char *ips[] = {ip};
        if (round % 3 == 2) {
            bsn_dns_zone_delete_service(ra.z, "race", name);
        } else {
            bsn_dns_zone_begin(ra.z);
            bsn_dns_zone_put_service(ra.z, "race", name, BSN_DNS_SVC_CLUSTER_IP, ips, 1, NULL, 0,
                                     NULL, false, NULL);
            bsn_dns_zone_commit(ra.z);
        }
    }
    atomic_store(&ra.stop, true);
    for (int i = 0; i < 2; i++)
        pthread_join(th[i], NULL);
    assert_int_equal(atomic_load(&ra.bad), 0);
    assert_true(atomic_load(&ra.answered) > 0);
    bsn_dns_zone_free(ra.z);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_records_table),
        cmocka_unit_test(test_srv_additional_and_truncation),
        cmocka_unit_test(test_updates_and_deletes),
        cmocka_unit_test(test_slices_and_json),
        cmocka_unit_test(test_reset_in_batch),
        cmocka_unit_test(test_concurrent_updates),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
