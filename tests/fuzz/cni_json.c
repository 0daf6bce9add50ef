/*
 * cni_json.c - fuzz target for what the CNI runtime reads from files and plugins: network
 * configuration (list and single plugin), the per-plugin stdin built from it, results (pod IPs)
 * and error objects.
 */
#include <stdint.h>
#include <stdlib.h>

#include <jansson.h>
#include <string.h>

#include "base/err.h"
#include "net/cni.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct bsn_err err;
    for (int single = 0; single < 2; single++) {
        bsn_err_clear(&err);
        json_t *list = bsn_cni_conf_parse((const char *)data, size, single, &err);
        if (list) {
            json_t *rtc = json_pack("{s:[]}", "portMappings");
            size_t n = json_array_size(json_object_get(list, "plugins"));
            for (size_t i = 0; i <= n; i++)
                json_decref(bsn_cni_plugin_stdin(list, i, rtc, list));
            json_decref(rtc);
            json_decref(list);
        }
    }
    json_t *v = json_loadb((const char *)data, size, 0, NULL);
    if (v) {
        char ip4[64], ip6[64];
        bsn_cni_result_ips(v, ip4, sizeof(ip4), ip6, sizeof(ip6));
        bsn_err_clear(&err);
        bsn_cni_error(v, "fuzz", &err);
        json_decref(v);
    }
    return 0;
}
