/*
 * gateway_route.c - fuzz target: random host / method / path / query / headers against a
 * compiled configuration with exact, wildcard and catch-all hosts, Exact and Prefix paths and
 * header/query/method matches. Input: fields separated by '\n'.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "gateway/gateway.h"
#include "http/parser.h"

static const char *CONFIG =
    "[{\"kind\":\"Service\",\"metadata\":{\"name\":\"s\"},\"spec\":{\"ports\":[{\"port\":80}]}},"
    "{\"kind\":\"Ingress\",\"metadata\":{\"name\":\"i\"},\"spec\":{\"defaultBackend\":{"
    "\"service\":{\"name\":\"s\",\"port\":{\"number\":80}}},\"rules\":["
    "{\"host\":\"a.example.com\",\"http\":{\"paths\":["
    "{\"path\":\"/\",\"pathType\":\"Prefix\",\"backend\":{\"service\":{\"name\":\"s\",\"port\":{"
    "\"number\":80}}}},"
    "{\"path\":\"/x/y/\",\"pathType\":\"Prefix\",\"backend\":{\"service\":{\"name\":\"s\","
    "\"port\":{\"number\":80}}}},"
    "{\"path\":\"/e\",\"pathType\":\"Exact\",\"backend\":{\"service\":{\"name\":\"s\",\"port\":{"
    "\"number\":80}}}}]}},"
    "{\"host\":\"*.example.com\",\"http\":{\"paths\":[{\"path\":\"/w\",\"pathType\":\"Prefix\","
    "\"backend\":{\"service\":{\"name\":\"s\",\"port\":{\"number\":80}}}}]}}]}},"
    "{\"kind\":\"Gateway\",\"metadata\":{\"name\":\"g\"},\"spec\":{\"gatewayClassName\":"
    "\"bosun\",\"listeners\":[{\"name\":\"h\",\"port\":80}]}},"
    "{\"kind\":\"HTTPRoute\",\"metadata\":{\"name\":\"r\"},\"spec\":{\"parentRefs\":[{\"name\":"
    "\"g\"}],\"hostnames\":[\"*.b.org\",\"c.org\"],\"rules\":[{\"matches\":[{\"path\":{\"type\":"
    "\"PathPrefix\",\"value\":\"/api\"},\"method\":\"GET\",\"headers\":[{\"name\":\"x-v\","
    "\"value\":\"2\"}],\"queryParams\":[{\"name\":\"q\",\"value\":\"1\"}]}],\"backendRefs\":[{"
    "\"name\":\"s\",\"port\":80}]}]}}]";

static struct bsn_gw_config *cfg;

static struct bsn_str
field(const uint8_t **p, const uint8_t *end)
{
    const uint8_t *s = *p;
    const uint8_t *nl = memchr(s, '\n', (size_t)(end - s));
    const uint8_t *e = nl ? nl : end;
    *p = nl ? nl + 1 : end;
    return (struct bsn_str){(const char *)s, (size_t)(e - s)};
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!cfg) {
        json_t *objs = json_loads(CONFIG, 0, NULL);
        struct bsn_err err = {0};
        cfg = bsn_gw_config_build(objs, &err);
        json_decref(objs);
        if (!cfg || bsn_gw_config_nroutes(cfg) < 5)
            abort();
    }
    const uint8_t *p = data, *end = data + size;
    struct bsn_gw_request_info ri;
    ri.host = field(&p, end);
    ri.method = field(&p, end);
    ri.path = field(&p, end);
    ri.query = field(&p, end);
    struct bsn_http_header h[2];
    h[0].name = BSN_STR_LIT("x-v");
    h[0].value = field(&p, end);
    h[1].name = field(&p, end);
    h[1].value = field(&p, end);
    ri.headers = h;
    ri.nheaders = 2;
    const struct bsn_gw_route *r = bsn_gw_route_match(cfg, &ri);
    /* the Ingress has a defaultBackend: something always matches */
    if (!r || !bsn_gw_route_name(r) || !bsn_gw_route_backend(r, 0))
        abort();
    return 0;
}
