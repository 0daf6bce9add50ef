/*
 * gateway_config.c - fuzz target: arbitrary JSON (as Kubernetes objects) through the gateway
 * config compiler, then a few lookups against the result.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "gateway/gateway.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    bsn_log_set_level(BSN_LOG_ERROR);
    json_t *objs = json_loadb((const char *)data, size, 0, NULL);
    if (!objs)
        return 0;
    struct bsn_err err = {0};
    struct bsn_gw_config *cfg = bsn_gw_config_build(objs, &err);
    json_decref(objs);
    if (!cfg)
        return 0;
    static const char *hosts[] = {"a.example.com", "x.y.example.com", "", "A.EXAMPLE.COM:80"};
    static const char *paths[] = {"/", "/a/b", "/api/v1/", "//", "/x?y"};
    for (size_t i = 0; i < 4; i++)
        for (size_t j = 0; j < 5; j++) {
            struct bsn_gw_request_info ri = {bsn_str_c(hosts[i]),
                                             BSN_STR_LIT("GET"),
                                             bsn_str_c(paths[j]),
                                             BSN_STR_NULL,
                                             NULL,
                                             0};
            const struct bsn_gw_route *r = bsn_gw_route_match(cfg, &ri);
            if (r && !bsn_gw_route_name(r))
                abort();
        }
    bsn_gw_config_unref(cfg);
    return 0;
}
