/*
 * test_cni.c - the CNI runtime: configuration lists, what plugins get on stdin, CNI_ARGS and
 * the environment, results and error objects, and the exec protocol end to end against
 * shell-script plugins (ADD in order with prevResult, DEL in reverse and once, timeouts,
 * bounded output, garbage pass, the remembered pod IP).
 */
#include <signal.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/mem.h"
#include "base/time.h"
#include "loop/loop.h"
#include "net/cni.h"
#include "runtime/runtime.h"

static char tmpdir[64];

static int
setup(void **state)
{
    snprintf(tmpdir, sizeof(tmpdir), "/tmp/bsn-cni-XXXXXX");
    assert_non_null(mkdtemp(tmpdir));
    *state = tmpdir;
    return 0;
}

static int
teardown(void **state)
{
    BSN_UNUSED(state);
    BSN_AUTOFREE char *cmd = bsn_sprintf("rm -rf '%s'", tmpdir);
    assert_int_equal(system(cmd), 0);
    return 0;
}

static void
write_file(const char *path, const char *data, mode_t mode)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(data, f);
    fclose(f);
    chmod(path, mode);
}

static char *
slurp(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return NULL;
    char *buf = bsn_calloc(1, 65536);
    size_t n = fread(buf, 1, 65535, f);
    buf[n] = '\0';
    fclose(f);
    return buf;
}

/* A plugin: logs "<cmd> <name> <id> <ifname> <netns> <args>" and its stdin, answers ADD with
 * a 1.0 result (the IP from CNI_ARGS IP= if given), or nothing when named "quiet". */
static const char *fake_plugin =
    "#!/bin/sh\n"
    "d=$(dirname \"$0\"); n=$(basename \"$0\"); in=$(cat)\n"
    "echo \"$CNI_COMMAND $n $CNI_CONTAINERID $CNI_IFNAME $CNI_NETNS $CNI_ARGS\" >> "
    "\"$d/calls.log\"\n"
    "printf '%s\\n' \"$in\" > \"$d/stdin.$n.$CNI_COMMAND\"\n"
    "[ \"$n\" = quiet ] && exit 0\n"
    "if [ \"$CNI_COMMAND\" = ADD ]; then\n"
    "  ip=10.99.0.7; case \"$CNI_ARGS\" in *IP=*) ip=${CNI_ARGS##*IP=}\n"
    "    [ -f \"$d/fail-ip-$ip\" ] && { echo '{\"code\":11,\"msg\":\"address taken\"}'; exit 1; "
    "};;\n"
    "  esac\n"
    "  printf '{\"cniVersion\":\"1.0.0\",\"interfaces\":[{\"name\":\"br\"},{\"name\":\"eth0\","
    "\"sandbox\":\"%s\"}],\"ips\":[{\"address\":\"10.99.0.1/24\",\"interface\":0},"
    "{\"address\":\"%s/24\",\"interface\":1}]}' \"$CNI_NETNS\" \"$ip\"\n"
    "fi\n";

static void
make_plugins(const char *bin)
{
    mkdir(bin, 0755);
    const char *names[] = {"fake", "quiet"};
    for (size_t i = 0; i < 2; i++) {
        BSN_AUTOFREE char *p = bsn_sprintf("%s/%s", bin, names[i]);
        write_file(p, fake_plugin, 0755);
    }
    BSN_AUTOFREE char *e = bsn_sprintf("%s/failing", bin);
    write_file(e,
               "#!/bin/sh\ncat >/dev/null\necho '{\"cniVersion\":\"1.0.0\",\"code\":7,"
               "\"msg\":\"bad bridge\",\"details\":\"bridge name too long\"}'\nexit 1\n",
               0755);
    BSN_AUTOFREE char *s = bsn_sprintf("%s/slow", bin);
    write_file(s, "#!/bin/sh\nexec sleep 30\n", 0755);
    BSN_AUTOFREE char *b = bsn_sprintf("%s/chatty", bin);
    write_file(b, "#!/bin/sh\ncat >/dev/null\nexec yes '{\"x\":1}'\n", 0755);
    BSN_AUTOFREE char *g = bsn_sprintf("%s/garbage", bin);
    write_file(g, "#!/bin/sh\necho 'panic: runtime error' >&2\nexit 2\n", 0755);
}

static void
test_conf_parse(void **state)
{
    BSN_UNUSED(state);
    struct bsn_err err;
    bsn_err_clear(&err);
    const char *l = "{\"cniVersion\":\"1.0.0\",\"name\":\"n\",\"plugins\":[{\"type\":\"bridge\"},"
                    "{\"type\":\"portmap\"}]}";
    json_t *list = bsn_cni_conf_parse(l, strlen(l), false, &err);
    assert_non_null(list);
    assert_int_equal(json_array_size(json_object_get(list, "plugins")), 2);
    json_decref(list);
    /* a single plugin .conf becomes a list of one */
    const char *one = "{\"cniVersion\":\"0.4.0\",\"name\":\"x\",\"type\":\"ptp\",\"mtu\":1400}";
    list = bsn_cni_conf_parse(one, strlen(one), true, &err);
    assert_non_null(list);
    assert_string_equal(json_string_value(json_object_get(list, "cniVersion")), "0.4.0");
    json_t *p0 = json_array_get(json_object_get(list, "plugins"), 0);
    assert_string_equal(json_string_value(json_object_get(p0, "type")), "ptp");
    assert_int_equal(json_integer_value(json_object_get(p0, "mtu")), 1400);
    json_decref(list);
    const char *bad[] = {
        "{\"name\":\"n\",\"plugins\":[{\"type\":\"bridge\"}]}",           /* no cniVersion */
        "{\"cniVersion\":\"1.0.0\",\"plugins\":[{\"type\":\"bridge\"}]}", /* no name */
        "{\"cniVersion\":\"1.0.0\",\"name\":\"n\",\"plugins\":[]}",
        "{\"cniVersion\":\"1.0.0\",\"name\":\"n\",\"plugins\":[{\"type\":\"../sh\"}]}",
        "{\"cniVersion\":\"1.0.0\",\"name\":\"n\",\"plugins\":[{\"mtu\":1}]}",
        "[1,2]",
        "{\"cniVersion\":",
    };
    for (size_t i = 0; i < BSN_ARRAY_LEN(bad); i++) {
        bsn_err_clear(&err);
        assert_null(bsn_cni_conf_parse(bad[i], strlen(bad[i]), false, &err));
        assert_int_equal(err.code, 400);
    }
}

static void
test_conf_find(void **state)
{
    const char *dir = *state;
    struct bsn_err err;
    bsn_err_clear(&err);
    char *path = NULL;
    assert_null(bsn_cni_conf_find(dir, &path, &err));
    assert_int_equal(err.code, 404);
    BSN_AUTOFREE char *a = bsn_sprintf("%s/20-b.conflist", dir);
    BSN_AUTOFREE char *b = bsn_sprintf("%s/10-a.conf", dir);
    BSN_AUTOFREE char *c = bsn_sprintf("%s/05-broken.conflist", dir);
    BSN_AUTOFREE char *d = bsn_sprintf("%s/00-readme.txt", dir);
    write_file(a, "{\"cniVersion\":\"1.0.0\",\"name\":\"b\",\"plugins\":[{\"type\":\"x\"}]}", 0644);
    write_file(b, "{\"cniVersion\":\"1.0.0\",\"name\":\"a\",\"type\":\"y\"}", 0644);
    write_file(c, "{not json", 0644);
    write_file(d, "{\"cniVersion\":\"1.0.0\",\"name\":\"t\",\"type\":\"z\"}", 0644);
    bsn_err_clear(&err);
    json_t *list = bsn_cni_conf_find(dir, &path, &err);
    assert_non_null(list); /* the broken one is skipped, .txt ignored, then lexical order */
    assert_string_equal(json_string_value(json_object_get(list, "name")), "a");
    assert_string_equal(path, b);
    free(path);
    json_decref(list);
}

static void
test_plugin_stdin(void **state)
{
    BSN_UNUSED(state);
    json_t *list = json_pack("{s:s,s:s,s:[{s:s,s:{s:b,s:b}},{s:s,s:s}]}", "cniVersion", "1.0.0",
                             "name", "net", "plugins", "type", "portmap", "capabilities",
                             "portMappings", 1, "bandwidth", 0, "type", "bridge", "bridge", "br0");
    json_t *rtc = json_pack("{s:[{s:i,s:i,s:s}],s:{s:i}}", "portMappings", "hostPort", 8080,
                            "containerPort", 80, "protocol", "tcp", "bandwidth", "ingressRate", 1);
    json_t *prev = json_pack("{s:s}", "cniVersion", "1.0.0");
    json_t *c0 = bsn_cni_plugin_stdin(list, 0, rtc, prev);
    assert_string_equal(json_string_value(json_object_get(c0, "cniVersion")), "1.0.0");
    assert_string_equal(json_string_value(json_object_get(c0, "name")), "net");
    json_t *rc0 = json_object_get(c0, "runtimeConfig");
    assert_non_null(json_object_get(rc0, "portMappings"));
    assert_null(json_object_get(rc0, "bandwidth")); /* capability declared false */
    assert_non_null(json_object_get(c0, "prevResult"));
    json_t *c1 = bsn_cni_plugin_stdin(list, 1, rtc, NULL);
    assert_null(json_object_get(c1, "runtimeConfig")); /* no capabilities */
    assert_null(json_object_get(c1, "prevResult"));
    assert_string_equal(json_string_value(json_object_get(c1, "bridge")), "br0");
    assert_null(bsn_cni_plugin_stdin(list, 2, rtc, NULL));
    /* the list itself is not modified */
    assert_null(json_object_get(json_array_get(json_object_get(list, "plugins"), 0), "name"));
    json_decref(c0);
    json_decref(c1);
    json_decref(prev);
    json_decref(rtc);
    json_decref(list);
}

static void
test_env_args(void **state)
{
    BSN_UNUSED(state);
    BSN_AUTOFREE char *args = bsn_cni_args("ns1", "web", "u-1", "abc", NULL);
    assert_string_equal(args, "IgnoreUnknown=1;K8S_POD_NAMESPACE=ns1;K8S_POD_NAME=web;"
                              "K8S_POD_INFRA_CONTAINER_ID=abc;K8S_POD_UID=u-1");
    BSN_AUTOFREE char *args2 = bsn_cni_args("ns1", "web", "u-1", "abc", "10.1.2.3");
    assert_non_null(strstr(args2, ";IP=10.1.2.3"));
    struct bsn_cni_call call = {.command = "DEL",
                                .container_id = "abc",
                                .netns = "/run/netns/x",
                                .ifname = "eth0",
                                .args = args,
                                .path = "/a:/b"};
    char *base[] = {"PATH=/usr/bin", "CNI_COMMAND=ADD", "CNI_NETNS=/wrong", "HOME=/root", NULL};
    char **env = bsn_cni_env(&call, base);
    int cmd = 0, path = 0, netns = 0;
    size_t n = 0;
    for (; env[n]; n++) {
        cmd += !strcmp(env[n], "CNI_COMMAND=DEL");
        netns += !strcmp(env[n], "CNI_NETNS=/run/netns/x");
        path += !strcmp(env[n], "CNI_PATH=/a:/b");
        assert_string_not_equal(env[n], "CNI_COMMAND=ADD");
        assert_string_not_equal(env[n], "CNI_NETNS=/wrong");
    }
    assert_int_equal(n, 2 + 6);
    assert_int_equal(cmd, 1);
    assert_int_equal(netns, 1);
    assert_int_equal(path, 1);
    bsn_cni_env_free(env);
}

static void
test_result_and_error(void **state)
{
    BSN_UNUSED(state);
    json_t *r = json_loads("{\"cniVersion\":\"1.0.0\",\"interfaces\":[{\"name\":\"cni0\"},"
                           "{\"name\":\"eth0\",\"sandbox\":\"/run/netns/x\"}],\"ips\":["
                           "{\"address\":\"10.42.0.1/24\",\"interface\":0},"
                           "{\"address\":\"fd00::5/64\",\"interface\":1},"
                           "{\"address\":\"10.42.0.5/24\",\"gateway\":\"10.42.0.1\","
                           "\"interface\":1}]}",
                           0, NULL);
    char ip4[64], ip6[64];
    assert_int_equal(bsn_cni_result_ips(r, ip4, sizeof(ip4), ip6, sizeof(ip6)), 2);
    assert_string_equal(ip4, "10.42.0.5"); /* the sandbox's, not the bridge's */
    assert_string_equal(ip6, "fd00::5");
    json_decref(r);
    r = json_loads("{\"cniVersion\":\"0.2.0\",\"ip4\":{\"ip\":\"10.1.0.9/16\"}}", 0, NULL);
    assert_int_equal(bsn_cni_result_ips(r, ip4, sizeof(ip4), NULL, 0), 1);
    assert_string_equal(ip4, "10.1.0.9");
    json_decref(r);
    r = json_loads("{\"cniVersion\":\"1.0.0\",\"ips\":[]}", 0, NULL);
    assert_int_equal(bsn_cni_result_ips(r, ip4, sizeof(ip4), ip6, sizeof(ip6)), 0);
    assert_string_equal(ip4, "");
    json_decref(r);

    struct bsn_err err;
    bsn_err_clear(&err);
    json_t *e = json_loads("{\"cniVersion\":\"1.0.0\",\"code\":7,\"msg\":\"bad\","
                           "\"details\":\"no bridge\"}",
                           0, NULL);
    assert_int_equal(bsn_cni_error(e, "CNI plugin bridge ADD", &err), -1);
    assert_string_equal(err.msg, "CNI plugin bridge ADD: code 7 (invalid network config): bad: "
                                 "no bridge");
    json_decref(e);
    e = json_loads("{\"code\":11,\"msg\":\"busy\"}", 0, NULL);
    bsn_cni_error(e, "x", &err);
    assert_int_equal(err.code, 503);
    assert_string_equal(err.msg, "x: code 11 (try again later): busy");
    json_decref(e);
}

static void
test_subnets_and_default(void **state)
{
    BSN_UNUSED(state);
    char s[64];
    assert_int_equal(bsn_cni_node_subnet("10.42.0.0/16", 0, s, sizeof(s)), 0);
    assert_string_equal(s, "10.42.0.0/24");
    assert_int_equal(bsn_cni_node_subnet("10.42.7.9/16", 3, s, sizeof(s)), 0);
    assert_string_equal(s, "10.42.3.0/24");
    assert_int_equal(bsn_cni_node_subnet("10.213.5.0/24", 0, s, sizeof(s)), 0);
    assert_string_equal(s, "10.213.5.0/24");
    assert_int_equal(bsn_cni_node_subnet("10.213.5.0/24", 1, s, sizeof(s)), -1);
    assert_int_equal(bsn_cni_node_subnet("10.0.0.0/25", 0, s, sizeof(s)), -1);
    assert_int_equal(bsn_cni_node_subnet("fd00::/64", 0, s, sizeof(s)), -1);
    assert_int_equal(bsn_cni_node_subnet("10.0.0.0", 0, s, sizeof(s)), -1);
    json_t *d = bsn_cni_default_conf("br-x", "10.9.8.0/24", "/var/lib/x/ipam");
    json_t *pl = json_object_get(d, "plugins");
    assert_int_equal(json_array_size(pl), 3);
    json_t *br = json_array_get(pl, 0);
    assert_string_equal(json_string_value(json_object_get(br, "type")), "bridge");
    assert_string_equal(json_string_value(json_object_get(br, "bridge")), "br-x");
    assert_true(json_is_true(json_object_get(br, "isGateway")));
    assert_true(json_is_true(json_object_get(br, "ipMasq")));
    assert_true(json_is_true(json_object_get(br, "hairpinMode")));
    json_t *ipam = json_object_get(br, "ipam");
    assert_string_equal(json_string_value(json_object_get(ipam, "type")), "host-local");
    assert_string_equal(json_string_value(json_object_get(ipam, "dataDir")), "/var/lib/x/ipam");
    assert_string_equal(
        json_string_value(json_object_get(
            json_array_get(json_array_get(json_object_get(ipam, "ranges"), 0), 0), "subnet")),
        "10.9.8.0/24");
    json_t *pm = json_array_get(pl, 1);
    assert_string_equal(json_string_value(json_object_get(pm, "type")), "portmap");
    assert_true(json_is_true(json_object_get(json_object_get(pm, "capabilities"), "portMappings")));
    json_decref(d);
}

static void
test_exec_protocol(void **state)
{
    const char *dir = *state;
    BSN_AUTOFREE char *bin = bsn_sprintf("%s/bin", dir);
    make_plugins(bin);
    BSN_AUTOFREE char *path = bsn_sprintf("/nonexistent:%s", bin);
    struct bsn_cni_call call = {.command = "ADD",
                                .container_id = "c1",
                                .netns = "/run/netns/c1",
                                .ifname = "eth0",
                                .args = "IgnoreUnknown=1",
                                .path = path,
                                .timeout_ms = 400};
    json_t *conf = json_pack("{s:s,s:s,s:s}", "cniVersion", "1.0.0", "name", "n", "type", "fake");
    json_t *res = NULL;
    struct bsn_err err;
    bsn_err_clear(&err);
    assert_int_equal(bsn_cni_exec(&call, "fake", conf, &res, &err), 0);
    char ip[64];
    assert_int_equal(bsn_cni_result_ips(res, ip, sizeof(ip), NULL, 0), 1);
    assert_string_equal(ip, "10.99.0.7");
    json_decref(res);
    BSN_AUTOFREE char *logp = bsn_sprintf("%s/calls.log", bin);
    BSN_AUTOFREE char *log = slurp(logp);
    assert_string_equal(log, "ADD fake c1 eth0 /run/netns/c1 IgnoreUnknown=1\n");
    BSN_AUTOFREE char *inp = bsn_sprintf("%s/stdin.fake.ADD", bin);
    BSN_AUTOFREE char *in = slurp(inp);
    json_t *inj = json_loads(in, 0, NULL);
    assert_true(json_equal(inj, conf));
    json_decref(inj);

    /* the plugin's error object */
    bsn_err_clear(&err);
    assert_int_equal(bsn_cni_exec(&call, "failing", conf, &res, &err), -1);
    assert_null(res);
    assert_string_equal(err.msg, "CNI plugin failing ADD: code 7 (invalid network config): bad "
                                 "bridge: bridge name too long");
    /* no error object: exit status and stderr */
    bsn_err_clear(&err);
    assert_int_equal(bsn_cni_exec(&call, "garbage", conf, &res, &err), -1);
    assert_string_equal(err.msg, "CNI plugin garbage ADD: exit status 2: panic: runtime error");
    /* a plugin that never answers is killed at the deadline */
    bsn_err_clear(&err);
    uint64_t t0 = bsn_mono_ms();
    assert_int_equal(bsn_cni_exec(&call, "slow", conf, &res, &err), -1);
    uint64_t took = bsn_mono_ms() - t0;
    assert_true(took >= 390 && took < 3000);
    assert_int_equal(err.code, 504);
    assert_non_null(strstr(err.msg, "no answer within 400 ms"));
    /* endless output is cut at the cap */
    call.timeout_ms = 20000;
    bsn_err_clear(&err);
    assert_int_equal(bsn_cni_exec(&call, "chatty", conf, &res, &err), -1);
    assert_non_null(strstr(err.msg, "more than 1048576 bytes"));
    /* missing plugins and path tricks */
    bsn_err_clear(&err);
    assert_int_equal(bsn_cni_exec(&call, "nope", conf, &res, &err), -1);
    assert_non_null(strstr(err.msg, "\"nope\" not found"));
    assert_int_equal(bsn_cni_exec(&call, "../bin/fake", conf, &res, &err), -1);
    BSN_AUTOFREE char *found = bsn_cni_find_plugin(path, "fake");
    BSN_AUTOFREE char *want = bsn_sprintf("%s/fake", bin);
    assert_string_equal(found, want);
    assert_null(bsn_cni_find_plugin(path, "../bin/fake"));
    assert_null(bsn_cni_find_plugin(path, "absent"));
    json_decref(conf);
}

static void
test_attach_detach(void **state)
{
    const char *dir = *state;
    BSN_AUTOFREE char *bin = bsn_sprintf("%s/bin", dir);
    make_plugins(bin);
    BSN_AUTOFREE char *data = bsn_sprintf("%s/data", dir);
    BSN_AUTOFREE char *confd = bsn_sprintf("%s/net.d", dir);
    mkdir(confd, 0755);
    BSN_AUTOFREE char *cl = bsn_sprintf("%s/10-test.conflist", confd);
    write_file(cl,
               "{\"cniVersion\":\"1.0.0\",\"name\":\"t\",\"plugins\":[{\"type\":\"fake\"},"
               "{\"type\":\"quiet\",\"capabilities\":{\"portMappings\":true}}]}",
               0644);
    struct bsn_cni_opts o = {.data_dir = data,
                             .node_name = "n1",
                             .bin_dir = bin,
                             .conf_dir = confd,
                             .cluster_cidr = "10.213.0.0/16",
                             .timeout_ms = 5000};
    struct bsn_err err;
    bsn_err_clear(&err);
    struct bsn_cni *c = bsn_cni_new(&o, &err);
    assert_non_null(c);
    assert_string_equal(bsn_cni_pod_cidr(c), "10.213.0.0/24");
    /* somebody else's list is there: no default written, theirs is used */
    BSN_AUTOFREE char *ours = bsn_sprintf("%s/99-bosun.conflist", confd);
    assert_int_not_equal(access(ours, F_OK), 0);
    BSN_AUTOFREE char *used = bsn_cni_conf_path(c);
    assert_string_equal(used, cl);

    struct bsn_port_mapping ports[] = {{.container_port = 80, .host_port = 8080, .protocol = "TCP"},
                                       {.container_port = 81}};
    struct bsn_sandbox_config cfg = {
        .namespace_ = "ns", .name = "web", .uid = "uid-1", .ports = ports, .nports = 2};
    char ip[64];
    assert_int_equal(bsn_cni_attach(c, "sb1", "/run/netns/sb1", &cfg, ip, sizeof(ip), &err), 0);
    assert_string_equal(ip, "10.99.0.7");
    BSN_AUTOFREE char *inp = bsn_sprintf("%s/stdin.quiet.ADD", bin);
    BSN_AUTOFREE char *in = slurp(inp);
    json_t *q = json_loads(in, 0, NULL);
    /* second plugin: prevResult from the first, portMappings only with hostPort */
    assert_string_equal(json_string_value(json_object_get(q, "name")), "t");
    json_t *pm = json_object_get(json_object_get(q, "runtimeConfig"), "portMappings");
    assert_int_equal(json_array_size(pm), 1);
    assert_int_equal(json_integer_value(json_object_get(json_array_get(pm, 0), "hostPort")), 8080);
    assert_string_equal(json_string_value(json_object_get(json_array_get(pm, 0), "protocol")),
                        "tcp");
    char pip[64];
    assert_int_equal(
        bsn_cni_result_ips(json_object_get(q, "prevResult"), pip, sizeof(pip), NULL, 0), 1);
    assert_string_equal(pip, "10.99.0.7");
    json_decref(q);
    BSN_AUTOFREE char *rec = bsn_sprintf("%s/cni/nodes/n1/attachments/sb1.json", data);
    assert_int_equal(access(rec, F_OK), 0);
    assert_int_equal(bsn_cni_check(c, "sb1", &err), 0);

    /* DEL in reverse order, once */
    bsn_cni_detach(c, "sb1", "/run/netns/sb1");
    bsn_cni_detach(c, "sb1", "/run/netns/sb1");
    bsn_cni_flush(c);
    assert_int_not_equal(access(rec, F_OK), 0);
    BSN_AUTOFREE char *logp = bsn_sprintf("%s/calls.log", bin);
    BSN_AUTOFREE char *log = slurp(logp);
    const char *args = "IgnoreUnknown=1;K8S_POD_NAMESPACE=ns;K8S_POD_NAME=web;"
                       "K8S_POD_INFRA_CONTAINER_ID=sb1;K8S_POD_UID=uid-1";
    /* the netns path does not exist here, so DEL gets CNI_NETNS="" (spec: may be empty) */
    BSN_AUTOFREE char *want = bsn_sprintf(
        "ADD fake sb1 eth0 /run/netns/sb1 %s\nADD quiet sb1 eth0 /run/netns/sb1 %s\n"
        "CHECK fake sb1 eth0 /run/netns/sb1 %s\nCHECK quiet sb1 eth0 /run/netns/sb1 %s\n"
        "DEL quiet sb1 eth0  %s\nDEL fake sb1 eth0  %s\n",
        args, args, args, args, args, args);
    assert_string_equal(log, want);
    /* DEL got the cached result as prevResult */
    BSN_AUTOFREE char *dinp = bsn_sprintf("%s/stdin.fake.DEL", bin);
    BSN_AUTOFREE char *din = slurp(dinp);
    json_t *dj = json_loads(din, 0, NULL);
    assert_non_null(json_object_get(dj, "prevResult"));
    json_decref(dj);

    /* the same pod again asks for its earlier IP */
    unlink(logp);
    assert_int_equal(bsn_cni_attach(c, "sb2", "/run/netns/sb2", &cfg, ip, sizeof(ip), &err), 0);
    BSN_AUTOFREE char *log2 = slurp(logp);
    assert_non_null(strstr(log2, ";IP=10.99.0.7"));
    /* ...and falls back to any address when it is taken (after undoing the failed ADD) */
    BSN_AUTOFREE char *taken = bsn_sprintf("%s/fail-ip-10.99.0.7", bin);
    write_file(taken, "", 0644);
    struct bsn_sandbox_config cfg2 = cfg;
    unlink(logp);
    assert_int_equal(bsn_cni_attach(c, "sb3", "/run/netns/sb3", &cfg2, ip, sizeof(ip), &err), 0);
    BSN_AUTOFREE char *log3 = slurp(logp);
    assert_non_null(strstr(log3, "DEL quiet sb3"));
    assert_non_null(strstr(log3, "DEL fake sb3"));
    unlink(taken);

    /* garbage pass: neither is alive any more */
    unlink(logp);
    assert_int_equal(bsn_cni_gc(c, NULL, NULL), 2);
    BSN_AUTOFREE char *log4 = slurp(logp);
    assert_non_null(strstr(log4, "DEL fake sb2"));
    assert_non_null(strstr(log4, "DEL fake sb3"));
    assert_int_equal(bsn_cni_gc(c, NULL, NULL), 0);

    /* a failing ADD reports the plugin's error and leaves no record */
    write_file(cl,
               "{\"cniVersion\":\"1.0.0\",\"name\":\"t\",\"plugins\":[{\"type\":\"fake\"},"
               "{\"type\":\"failing\"}]}",
               0644);
    struct bsn_sandbox_config cfg3 = {.namespace_ = "ns", .name = "other", .uid = "uid-2"};
    bsn_err_clear(&err);
    assert_int_equal(bsn_cni_attach(c, "sb4", "/run/netns/sb4", &cfg3, ip, sizeof(ip), &err), -1);
    assert_non_null(strstr(err.msg, "code 7 (invalid network config): bad bridge"));
    BSN_AUTOFREE char *rec4 = bsn_sprintf("%s/cni/nodes/n1/attachments/sb4.json", data);
    assert_int_not_equal(access(rec4, F_OK), 0);

    /* DEL holds the namespace open: the plugins get it through /proc/<pid>/fd, after the
     * runtime removed the path; bsn_cni_free drains the queue */
    write_file(cl, "{\"cniVersion\":\"1.0.0\",\"name\":\"t\",\"plugins\":[{\"type\":\"fake\"}]}",
               0644);
    BSN_AUTOFREE char *nsf = bsn_sprintf("%s/netns-sb5", dir);
    write_file(nsf, "", 0644);
    assert_int_equal(bsn_cni_attach(c, "sb5", nsf, &cfg3, ip, sizeof(ip), &err), 0);
    unlink(logp);
    bsn_cni_detach(c, "sb5", nsf);
    unlink(nsf);
    bsn_cni_free(c);
    BSN_AUTOFREE char *log5 = slurp(logp);
    BSN_AUTOFREE char *want5 = bsn_sprintf("DEL fake sb5 eth0 /proc/%d/fd/", (int)getpid());
    assert_non_null(log5);
    assert_non_null(strstr(log5, want5));
}

static bool
alive_sb_a(void *data, const char *id)
{
    BSN_UNUSED(data);
    return !strcmp(id, "sba");
}

static void
test_default_conf_and_gc_alive(void **state)
{
    const char *dir = *state;
    BSN_AUTOFREE char *bin = bsn_sprintf("%s/bin", dir);
    make_plugins(bin);
    BSN_AUTOFREE char *data = bsn_sprintf("%s/data", dir);
    struct bsn_cni_opts o = {.data_dir = data, .node_name = "n2", .bridge = "bsn-t1"};
    struct bsn_err err;
    bsn_err_clear(&err);
    struct bsn_cni *c = bsn_cni_new(&o, &err);
    assert_non_null(c);
    assert_string_equal(bsn_cni_pod_cidr(c), "10.42.0.0/24");
    BSN_AUTOFREE char *p = bsn_sprintf("%s/cni/net.d/99-bosun.conflist", data);
    BSN_AUTOFREE char *used = bsn_cni_conf_path(c);
    assert_string_equal(used, p);
    json_t *d = json_load_file(p, 0, NULL);
    json_t *br = json_array_get(json_object_get(d, "plugins"), 0);
    assert_string_equal(json_string_value(json_object_get(br, "bridge")), "bsn-t1");
    BSN_AUTOFREE char *ipam = bsn_sprintf("%s/cni/nodes/n2/ipam", data);
    assert_string_equal(json_string_value(json_object_get(json_object_get(br, "ipam"), "dataDir")),
                        ipam);
    json_decref(d);
    bsn_cni_free(c);
    /* the pod CIDR is remembered; --pod-cidr overrides it; bad flags are refused */
    o.cluster_cidr = "10.77.0.0/16";
    c = bsn_cni_new(&o, &err);
    assert_string_equal(bsn_cni_pod_cidr(c), "10.42.0.0/24");
    bsn_cni_free(c);
    o.pod_cidr = "10.77.3.0/24";
    c = bsn_cni_new(&o, &err);
    assert_string_equal(bsn_cni_pod_cidr(c), "10.77.3.0/24");
    bsn_cni_free(c);
    o.pod_cidr = "nonsense";
    assert_null(bsn_cni_new(&o, &err));
    o.pod_cidr = NULL;
    o.bridge = "a-very-long-bridge-name";
    assert_null(bsn_cni_new(&o, &err));
    o.bridge = NULL;
    o.cluster_cidr = "10.0.0.0/26";
    assert_null(bsn_cni_new(&o, &err));

    /* garbage pass keeps what is alive */
    BSN_AUTOFREE char *confd = bsn_sprintf("%s/net.d2", dir);
    mkdir(confd, 0755);
    BSN_AUTOFREE char *cl = bsn_sprintf("%s/10-t.conflist", confd);
    write_file(cl, "{\"cniVersion\":\"1.0.0\",\"name\":\"t\",\"plugins\":[{\"type\":\"fake\"}]}",
               0644);
    struct bsn_cni_opts o2 = {
        .data_dir = data, .node_name = "n3", .bin_dir = bin, .conf_dir = confd};
    c = bsn_cni_new(&o2, &err);
    assert_non_null(c);
    struct bsn_sandbox_config cfg = {.namespace_ = "ns", .name = "a", .uid = "ua"};
    char ip[64];
    assert_int_equal(bsn_cni_attach(c, "sba", "", &cfg, ip, sizeof(ip), &err), 0);
    cfg.uid = "ub";
    assert_int_equal(bsn_cni_attach(c, "sbb", "", &cfg, ip, sizeof(ip), &err), 0);
    assert_int_equal(bsn_cni_gc(c, alive_sb_a, NULL), 1);
    BSN_AUTOFREE char *ra = bsn_sprintf("%s/cni/nodes/n3/attachments/sba.json", data);
    assert_int_equal(access(ra, F_OK), 0);
    bsn_cni_detach(c, "sba", "");
    bsn_cni_flush(c);
    assert_int_not_equal(access(ra, F_OK), 0);
    bsn_cni_free(c);
}

struct add_result {
    int calls, rc;
    char ip[64];
    char msg[256];
};

static void
add_done(void *data, int rc, const char *ip, const struct bsn_err *err)
{
    struct add_result *r = data;
    r->calls++;
    r->rc = rc;
    snprintf(r->ip, sizeof(r->ip), "%s", ip);
    snprintf(r->msg, sizeof(r->msg), "%s", err->msg);
}

static void
test_async(void **state)
{
    const char *dir = *state;
    BSN_AUTOFREE char *bin = bsn_sprintf("%s/bin", dir);
    make_plugins(bin);
    BSN_AUTOFREE char *data = bsn_sprintf("%s/data", dir);
    BSN_AUTOFREE char *confd = bsn_sprintf("%s/net.d", dir);
    mkdir(confd, 0755);
    BSN_AUTOFREE char *cl = bsn_sprintf("%s/10-t.conflist", confd);
    write_file(cl,
               "{\"cniVersion\":\"1.0.0\",\"name\":\"t\",\"plugins\":[{\"type\":\"fake\"},"
               "{\"type\":\"quiet\",\"capabilities\":{\"portMappings\":true}}]}",
               0644);
    struct bsn_loop *loop = bsn_loop_new();
    struct bsn_cni_opts o = {
        .data_dir = data, .node_name = "n4", .bin_dir = bin, .conf_dir = confd, .loop = loop};
    struct bsn_err err;
    bsn_err_clear(&err);
    struct bsn_cni *c = bsn_cni_new(&o, &err);
    assert_non_null(c);
    struct bsn_port_mapping ports[] = {
        {.container_port = 53, .host_port = 5353, .protocol = "UDP"}};
    struct bsn_sandbox_config cfg = {
        .namespace_ = "ns", .name = "a", .uid = "u-async", .ports = ports, .nports = 1};
    struct add_result r1 = {0}, r2 = {0};
    assert_int_equal(bsn_cni_attach_async(c, "as1", "/run/netns/as1", &cfg, add_done, &r1), 0);
    /* removed while its ADD waits: DEL follows the ADD */
    assert_int_equal(bsn_cni_attach_async(c, "as2", "", &cfg, add_done, &r2), 0);
    bsn_cni_detach(c, "as2", "");
    assert_int_equal(r1.calls, 0); /* nothing reported outside the loop */
    bsn_cni_flush(c);
    for (int i = 0; i < 50 && (r1.calls == 0 || r2.calls == 0); i++)
        bsn_loop_run_once(loop, 100);
    assert_int_equal(r1.calls, 1);
    assert_int_equal(r1.rc, 0);
    assert_string_equal(r1.ip, "10.99.0.7");
    assert_int_equal(r2.calls, 1);
    BSN_AUTOFREE char *logp = bsn_sprintf("%s/calls.log", bin);
    BSN_AUTOFREE char *log = slurp(logp);
    const char *add2 = strstr(log, "ADD quiet as2"), *del2 = strstr(log, "DEL quiet as2");
    assert_non_null(add2);
    assert_non_null(del2);
    assert_true(add2 < del2);
    BSN_AUTOFREE char *inp = bsn_sprintf("%s/stdin.quiet.ADD", bin);
    BSN_AUTOFREE char *in = slurp(inp);
    assert_non_null(strstr(in, "\"protocol\":\"udp\""));
    /* a failure comes back with the plugin's message */
    write_file(cl, "{\"cniVersion\":\"1.0.0\",\"name\":\"t\",\"plugins\":[{\"type\":\"failing\"}]}",
               0644);
    struct add_result r3 = {0};
    cfg.uid = "u-3";
    assert_int_equal(bsn_cni_attach_async(c, "as3", "", &cfg, add_done, &r3), 0);
    for (int i = 0; i < 50 && r3.calls == 0; i++)
        bsn_loop_run_once(loop, 100);
    assert_int_equal(r3.rc, -1);
    assert_non_null(strstr(r3.msg, "bad bridge"));
    bsn_cni_free(c);
    bsn_loop_free(loop);
}

/* A plugin that takes `delay` seconds for every command and logs "S|E <cmd> <id> <ns>" at its
 * start and end (O_APPEND lines from concurrent runs do not mix). */
static void
make_sleepy(const char *bin, const char *delay)
{
    mkdir(bin, 0755);
    BSN_AUTOFREE char *p = bsn_sprintf("%s/sleepy", bin);
    BSN_AUTOFREE char *script = bsn_sprintf(
        "#!/bin/sh\n"
        "d=$(dirname \"$0\"); cat >/dev/null\n"
        "echo \"S $CNI_COMMAND $CNI_CONTAINERID $(date +%%s%%N)\" >> \"$d/sleepy.log\"\n"
        "sleep %s\n"
        "echo \"E $CNI_COMMAND $CNI_CONTAINERID $(date +%%s%%N)\" >> \"$d/sleepy.log\"\n"
        "[ \"$CNI_COMMAND\" = ADD ] && printf '{\"cniVersion\":\"1.0.0\",\"interfaces\":"
        "[{\"name\":\"eth0\",\"sandbox\":\"x\"}],\"ips\":[{\"address\":\"10.99.1.%%s/24\","
        "\"interface\":0}]}' \"${CNI_CONTAINERID#c}\"\n"
        "exit 0\n",
        delay);
    write_file(p, script, 0755);
}

struct ev {
    char start; /* 'S' or 'E' */
    char cmd[8];
    char id[32];
    long long ns;
};

static int
ev_cmp(const void *a, const void *b)
{
    const struct ev *x = a, *y = b;
    return x->ns < y->ns ? -1 : x->ns > y->ns;
}

/* the plugin's log, sorted by time; returns how many events */
static size_t
read_events(const char *bin, struct ev *evs, size_t max)
{
    BSN_AUTOFREE char *lp = bsn_sprintf("%s/sleepy.log", bin);
    FILE *f = fopen(lp, "r");
    assert_non_null(f);
    size_t n = 0;
    char line[256];
    while (n < max && fgets(line, sizeof(line), f)) {
        struct ev *e = &evs[n];
        if (sscanf(line, "%c %7s %31s %lld", &e->start, e->cmd, e->id, &e->ns) == 4)
            n++;
    }
    fclose(f);
    qsort(evs, n, sizeof(*evs), ev_cmp);
    return n;
}

static struct bsn_cni *
sleepy_cni(const char *dir, const char *node, struct bsn_loop *loop, int workers)
{
    BSN_AUTOFREE char *bin = bsn_sprintf("%s/bin", dir);
    BSN_AUTOFREE char *data = bsn_sprintf("%s/data", dir);
    BSN_AUTOFREE char *confd = bsn_sprintf("%s/net.d", dir);
    mkdir(confd, 0755);
    BSN_AUTOFREE char *cl = bsn_sprintf("%s/10-s.conflist", confd);
    write_file(cl, "{\"cniVersion\":\"1.0.0\",\"name\":\"s\",\"plugins\":[{\"type\":\"sleepy\"}]}",
               0644);
    struct bsn_cni_opts o = {.data_dir = data,
                             .node_name = node,
                             .bin_dir = bin,
                             .conf_dir = confd,
                             .loop = loop,
                             .workers = workers};
    struct bsn_err err;
    bsn_err_clear(&err);
    struct bsn_cni *c = bsn_cni_new(&o, &err);
    assert_non_null(c);
    return c;
}

/* ADDs of different sandboxes overlap (wall time about the longest, not the sum), never more
 * than the pool's threads at once; every pod gets its own result */
static void
test_concurrent_adds(void **state)
{
    const char *dir = *state;
    BSN_AUTOFREE char *bin = bsn_sprintf("%s/bin", dir);
    make_sleepy(bin, "0.5");
    struct bsn_loop *loop = bsn_loop_new();
    struct bsn_cni *c = sleepy_cni(dir, "n5", loop, 4);
    enum { N = 8 };
    struct add_result r[N];
    memset(r, 0, sizeof(r));
    struct bsn_sandbox_config cfg = {.namespace_ = "ns", .name = "p"};
    uint64_t t0 = bsn_mono_ms();
    for (int i = 0; i < N; i++) {
        char id[16], uid[16];
        snprintf(id, sizeof(id), "c%d", i + 10);
        snprintf(uid, sizeof(uid), "u%d", i);
        cfg.uid = uid;
        assert_int_equal(bsn_cni_attach_async(c, id, "", &cfg, add_done, &r[i]), 0);
    }
    bsn_cni_flush(c);
    uint64_t wall = bsn_mono_ms() - t0;
    int got = 0;
    for (int k = 0; k < 100 && got < N; k++) {
        bsn_loop_run_once(loop, 50);
        got = 0;
        for (int i = 0; i < N; i++)
            got += r[i].calls;
    }
    for (int i = 0; i < N; i++) {
        assert_int_equal(r[i].calls, 1);
        assert_int_equal(r[i].rc, 0);
        char want[32];
        snprintf(want, sizeof(want), "10.99.1.%d", i + 10);
        assert_string_equal(r[i].ip, want);
    }
    /* one at a time would take N * 0.5 s = 4 s; 4 threads: two rounds, about 1 s */
    print_message("%d ADDs of 0.5 s on 4 workers: %llu ms\n", N, (unsigned long long)wall);
    assert_true(wall >= 900);
    assert_true(wall < 3000);
    struct ev evs[4 * N];
    size_t n = read_events(bin, evs, 4 * N);
    assert_int_equal(n, 2 * N);
    int now = 0, peak = 0;
    for (size_t i = 0; i < n; i++) {
        now += evs[i].start == 'S' ? 1 : -1;
        if (now > peak)
            peak = now;
    }
    assert_int_equal(now, 0);
    assert_true(peak >= 2);
    assert_true(peak <= 4);
    bsn_cni_free(c);
    bsn_loop_free(loop);
}

/* One sandbox's jobs run in queue order, never side by side, while other sandboxes' jobs
 * run beside them; a DEL queued while the ADD runs comes after it; DEL releases once. */
static void
test_same_sandbox_order(void **state)
{
    const char *dir = *state;
    BSN_AUTOFREE char *bin = bsn_sprintf("%s/bin", dir);
    make_sleepy(bin, "0.8");
    struct bsn_loop *loop = bsn_loop_new();
    struct bsn_cni *c = sleepy_cni(dir, "n6", loop, 4);
    struct add_result ra = {0}, rb = {0}, ra2 = {0};
    struct bsn_sandbox_config cfg = {.namespace_ = "ns", .name = "p", .uid = "ua"};
    uint64_t t0 = bsn_mono_ms();
    assert_int_equal(bsn_cni_attach_async(c, "c21", "", &cfg, add_done, &ra), 0);
    cfg.uid = "ub";
    assert_int_equal(bsn_cni_attach_async(c, "c22", "", &cfg, add_done, &rb), 0);
    usleep(100 * 1000); /* both ADDs are running now */
    bsn_cni_detach(c, "c21", "");
    bsn_cni_detach(c, "c21", ""); /* twice: the second finds nothing to release */
    cfg.uid = "ua";
    assert_int_equal(bsn_cni_attach_async(c, "c21", "", &cfg, add_done, &ra2), 0);
    bsn_cni_detach(c, "c22", "");
    bsn_cni_flush(c);
    uint64_t wall = bsn_mono_ms() - t0;
    for (int k = 0; k < 100 && (ra.calls + rb.calls + ra2.calls) < 3; k++)
        bsn_loop_run_once(loop, 50);
    assert_int_equal(ra.rc, 0);
    assert_int_equal(rb.rc, 0);
    assert_int_equal(ra2.rc, 0);
    struct ev evs[32];
    size_t n = read_events(bin, evs, 32);
    /* c21: ADD, DEL, ADD (the second DEL had no record); c22: ADD, DEL */
    assert_int_equal(n, 10);
    const char *want21[] = {"ADD", "DEL", "ADD"};
    int k21 = 0, open21 = 0, k22 = 0;
    for (size_t i = 0; i < n; i++) {
        if (!strcmp(evs[i].id, "c21")) {
            assert_true(k21 < 6);
            assert_string_equal(evs[i].cmd, want21[k21 / 2]);
            assert_int_equal(evs[i].start, k21 % 2 == 0 ? 'S' : 'E');
            open21 += evs[i].start == 'S' ? 1 : -1;
            assert_true(open21 <= 1);
            k21++;
        } else {
            assert_string_equal(evs[i].id, "c22");
            k22++;
        }
    }
    assert_int_equal(k21, 6);
    assert_int_equal(k22, 4);
    /* c22's ADD and DEL ran beside c21's chain: about 3 x 0.8 s, not 5 x 0.8 s */
    print_message("c21 ADD+DEL+ADD beside c22 ADD+DEL: %llu ms\n", (unsigned long long)wall);
    assert_true(wall >= 2400);
    assert_true(wall < 3600);
    /* the attachment of the last ADD is recorded, c22's was released */
    BSN_AUTOFREE char *a21 = bsn_sprintf("%s/data/cni/nodes/n6/attachments/c21.json", dir);
    BSN_AUTOFREE char *a22 = bsn_sprintf("%s/data/cni/nodes/n6/attachments/c22.json", dir);
    assert_int_equal(access(a21, F_OK), 0);
    assert_int_not_equal(access(a22, F_OK), 0);
    /* the garbage pass and a queued DEL of the same sandbox: one DEL in all */
    bsn_cni_detach(c, "c21", "");
    int released = bsn_cni_gc(c, NULL, NULL); /* 1 if it won the race, 0 if the DEL did */
    assert_true(released == 0 || released == 1);
    bsn_cni_flush(c);
    assert_int_equal(bsn_cni_gc(c, NULL, NULL), 0);
    n = read_events(bin, evs, 32);
    int dels = 0;
    for (size_t i = 0; i < n; i++)
        dels += !strcmp(evs[i].id, "c21") && !strcmp(evs[i].cmd, "DEL") && evs[i].start == 'S';
    assert_int_equal(dels, 2);
    assert_int_not_equal(access(a21, F_OK), 0);
    bsn_cni_free(c);
    bsn_loop_free(loop);
}

int
main(void)
{
    /* as in bosun server and agent: a plugin that exits before reading its whole config must
     * not kill the process writing it */
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_conf_parse),
        cmocka_unit_test_setup_teardown(test_conf_find, setup, teardown),
        cmocka_unit_test(test_plugin_stdin),
        cmocka_unit_test(test_env_args),
        cmocka_unit_test(test_result_and_error),
        cmocka_unit_test(test_subnets_and_default),
        cmocka_unit_test_setup_teardown(test_exec_protocol, setup, teardown),
        cmocka_unit_test_setup_teardown(test_attach_detach, setup, teardown),
        cmocka_unit_test_setup_teardown(test_default_conf_and_gc_alive, setup, teardown),
        cmocka_unit_test_setup_teardown(test_async, setup, teardown),
        cmocka_unit_test_setup_teardown(test_concurrent_adds, setup, teardown),
        cmocka_unit_test_setup_teardown(test_same_sandbox_order, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
