/*
 * gw_fixture.h - shared by the gateway config and router tests: a compiled gateway config
 * from a YAML stream of Kubernetes objects (the test fails when it does not compile).
 */
#ifndef BSN_TEST_GW_FIXTURE_H
#define BSN_TEST_GW_FIXTURE_H

#include <string.h>

#include "codec/yaml.h"
#include "gateway/gw_internal.h"

static struct bsn_gw_config *
build(const char *yaml)
{
    struct bsn_err err = {0};
    json_t *objs = bsn_yaml_parse(yaml, strlen(yaml), &err);
    assert_non_null(objs);
    struct bsn_gw_config *cfg = bsn_gw_config_build(objs, &err);
    json_decref(objs);
    assert_non_null(cfg);
    return cfg;
}

#endif
