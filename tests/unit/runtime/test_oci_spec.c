/*
 * test_oci_spec.c - config.json generation: process, mounts, namespaces, resources,
 * capabilities (defaults, add, drop, ALL), privileged, seccomp, masked paths.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "runtime/oci_spec.h"

static bool
arr_has(json_t *a, const char *s)
{
    size_t i;
    json_t *v;
    json_array_foreach(a, i, v)
    {
        if (json_is_string(v) && !strcmp(json_string_value(v), s))
            return true;
    }
    return false;
}

static json_t *
find_mount(json_t *spec, const char *dest)
{
    size_t i;
    json_t *m;
    json_array_foreach(json_object_get(spec, "mounts"), i, m)
    {
        if (!strcmp(json_string_value(json_object_get(m, "destination")), dest))
            return m;
    }
    return NULL;
}

static json_t *
roundtrip(const struct bsn_oci_spec_in *in)
{
    struct bsn_err err = {0};
    json_t *spec = bsn_oci_spec(in, &err);
    assert_non_null(spec);
    /* Serialize and parse back, as runc will read it. */
    char *s = json_dumps(spec, 0);
    json_decref(spec);
    json_t *back = json_loads(s, 0, NULL);
    free(s);
    assert_non_null(back);
    return back;
}

static void
base_in(struct bsn_oci_spec_in *in)
{
    static const char *argv[] = {"/bin/sh", "-c", "echo hi", NULL};
    static const char *env[] = {"PATH=/bin", "A=1", NULL};
    memset(in, 0, sizeof(*in));
    in->argv = argv;
    in->env = env;
    in->cwd = "/work";
    in->uid = 1000;
    in->gid = 2000;
    in->hostname = "web-0";
    in->rootfs = "/b/rootfs";
    in->netns_path = "/run/bosun/netns/abc";
    in->cgroups_path = "bosun/pod-1/c1";
    in->hosts_path = "/s/hosts";
    in->resolv_path = "/s/resolv.conf";
    in->hostname_path = "/s/hostname";
    in->security.no_new_privs = true;
    in->security.seccomp_runtime_default = true;
}

static void
test_defaults(void **state)
{
    struct bsn_oci_spec_in in;
    base_in(&in);
    json_t *s = roundtrip(&in);
    json_t *p = json_object_get(s, "process");
    assert_false(json_is_true(json_object_get(p, "terminal")));
    assert_string_equal(json_string_value(json_array_get(json_object_get(p, "args"), 2)),
                        "echo hi");
    assert_true(arr_has(json_object_get(p, "env"), "A=1"));
    assert_string_equal(json_string_value(json_object_get(p, "cwd")), "/work");
    assert_int_equal(json_integer_value(json_object_get(json_object_get(p, "user"), "uid")), 1000);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(p, "user"), "gid")), 2000);
    assert_true(json_is_true(json_object_get(p, "noNewPrivileges")));
    json_t *bound = json_object_get(json_object_get(p, "capabilities"), "bounding");
    assert_int_equal(json_array_size(bound), 14);
    assert_true(arr_has(bound, "CAP_NET_BIND_SERVICE"));
    assert_true(arr_has(bound, "CAP_AUDIT_WRITE"));
    assert_false(arr_has(bound, "CAP_SYS_ADMIN"));
    assert_false(arr_has(bound, "CAP_NET_ADMIN"));
    assert_string_equal(json_string_value(json_object_get(s, "hostname")), "web-0");
    json_t *root = json_object_get(s, "root");
    assert_string_equal(json_string_value(json_object_get(root, "path")), "/b/rootfs");
    assert_false(json_is_true(json_object_get(root, "readonly")));

    const char *dests[] = {
        "/proc", "/dev",           "/dev/pts",   "/dev/shm",         "/dev/mqueue",
        "/sys",  "/sys/fs/cgroup", "/etc/hosts", "/etc/resolv.conf", "/etc/hostname"};
    for (size_t i = 0; i < sizeof(dests) / sizeof(dests[0]); i++)
        assert_non_null(find_mount(s, dests[i]));
    assert_null(find_mount(s, "/tmp"));
    json_t *hosts = find_mount(s, "/etc/hosts");
    assert_string_equal(json_string_value(json_object_get(hosts, "source")), "/s/hosts");
    assert_true(arr_has(json_object_get(hosts, "options"), "rbind"));
    assert_true(arr_has(json_object_get(find_mount(s, "/sys"), "options"), "ro"));

    json_t *lx = json_object_get(s, "linux");
    assert_string_equal(json_string_value(json_object_get(lx, "cgroupsPath")), "bosun/pod-1/c1");
    json_t *ns = json_object_get(lx, "namespaces");
    bool seen_net = false, seen_pid = false, seen_cgroup = false;
    size_t i;
    json_t *n;
    json_array_foreach(ns, i, n)
    {
        const char *t = json_string_value(json_object_get(n, "type"));
        if (!strcmp(t, "network")) {
            seen_net = true;
            assert_string_equal(json_string_value(json_object_get(n, "path")),
                                "/run/bosun/netns/abc");
        }
        seen_pid |= !strcmp(t, "pid");
        seen_cgroup |= !strcmp(t, "cgroup");
    }
    assert_true(seen_net && seen_pid);
    assert_false(seen_cgroup);
    assert_true(arr_has(json_object_get(lx, "maskedPaths"), "/proc/kcore"));
    assert_true(arr_has(json_object_get(lx, "readonlyPaths"), "/proc/sys"));
    json_t *sc = json_object_get(lx, "seccomp");
    assert_string_equal(json_string_value(json_object_get(sc, "defaultAction")), "SCMP_ACT_ALLOW");
    json_t *rule = json_array_get(json_object_get(sc, "syscalls"), 0);
    assert_string_equal(json_string_value(json_object_get(rule, "action")), "SCMP_ACT_ERRNO");
    assert_true(arr_has(json_object_get(rule, "names"), "kexec_load"));
    assert_true(arr_has(json_object_get(rule, "names"), "mount"));
    assert_false(arr_has(json_object_get(rule, "names"), "read"));
    json_t *res = json_object_get(lx, "resources");
    assert_null(json_object_get(res, "memory"));
    assert_int_equal(json_integer_value(json_object_get(json_object_get(res, "cpu"), "shares")), 2);
    json_t *dev0 = json_array_get(json_object_get(res, "devices"), 0);
    assert_false(json_is_true(json_object_get(dev0, "allow")));
    json_decref(s);
}

static void
test_resources_and_mounts(void **state)
{
    struct bsn_oci_spec_in in;
    base_in(&in);
    in.resources = (struct bsn_resources){.cpu_request_millis = 250,
                                          .cpu_limit_millis = 1500,
                                          .memory_limit_bytes = 64 << 20,
                                          .pids_limit = 100};
    in.swap_accounting = true;
    struct bsn_mount m[] = {
        {"/data/vol", "/var/lib/app", true, BSN_PROP_PRIVATE},
        {"/mnt/shared", "/shared", false, BSN_PROP_BIDIRECTIONAL},
    };
    in.mounts = m;
    in.nmounts = 2;
    in.host_image = true;
    in.cgroup_v2 = true;
    json_t *s = roundtrip(&in);
    json_t *res = json_object_get(json_object_get(s, "linux"), "resources");
    json_t *mem = json_object_get(res, "memory");
    assert_int_equal(json_integer_value(json_object_get(mem, "limit")), 64 << 20);
    assert_int_equal(json_integer_value(json_object_get(mem, "swap")), 64 << 20);
    json_t *cpu = json_object_get(res, "cpu");
    assert_int_equal(json_integer_value(json_object_get(cpu, "shares")), 256);
    assert_int_equal(json_integer_value(json_object_get(cpu, "quota")), 150000);
    assert_int_equal(json_integer_value(json_object_get(cpu, "period")), 100000);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(res, "pids"), "limit")),
                     100);
    json_t *vol = find_mount(s, "/var/lib/app");
    assert_string_equal(json_string_value(json_object_get(vol, "source")), "/data/vol");
    assert_true(arr_has(json_object_get(vol, "options"), "ro"));
    assert_true(arr_has(json_object_get(vol, "options"), "rprivate"));
    json_t *sh = find_mount(s, "/shared");
    assert_true(arr_has(json_object_get(sh, "options"), "rshared"));
    assert_false(arr_has(json_object_get(sh, "options"), "ro"));
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(s, "linux"), "rootfsPropagation")),
        "rslave");
    /* host image: read-only root with private /tmp, /var/tmp and /run */
    assert_true(json_is_true(json_object_get(json_object_get(s, "root"), "readonly")));
    assert_non_null(find_mount(s, "/tmp"));
    assert_non_null(find_mount(s, "/run"));
    json_t *ns = json_object_get(json_object_get(s, "linux"), "namespaces");
    assert_string_equal(json_string_value(json_object_get(json_array_get(ns, 5), "type")),
                        "cgroup");
    json_decref(s);

    struct bsn_mount bad = {"/x", "relative/path", false, BSN_PROP_PRIVATE};
    in.mounts = &bad;
    in.nmounts = 1;
    struct bsn_err err = {0};
    assert_null(bsn_oci_spec(&in, &err));
    assert_int_equal(err.code, 400);
}

static void
test_capabilities(void **state)
{
    struct bsn_oci_spec_in in;
    base_in(&in);
    const char *add[] = {"NET_ADMIN", "cap_sys_time", NULL}, *drop[] = {"CAP_KILL", "chown", NULL};
    in.security.cap_add = add;
    in.security.cap_drop = drop;
    json_t *s = roundtrip(&in);
    json_t *caps = json_object_get(json_object_get(s, "process"), "capabilities");
    json_t *eff = json_object_get(caps, "effective");
    assert_true(arr_has(eff, "CAP_NET_ADMIN"));
    assert_true(arr_has(eff, "CAP_SYS_TIME"));
    assert_false(arr_has(eff, "CAP_KILL"));
    assert_false(arr_has(eff, "CAP_CHOWN"));
    assert_int_equal(json_array_size(eff), 14);
    json_decref(s);

    const char *drop_all[] = {"ALL", NULL}, *add_one[] = {"NET_BIND_SERVICE", NULL};
    in.security.cap_drop = drop_all;
    in.security.cap_add = add_one;
    s = roundtrip(&in);
    caps = json_object_get(json_object_get(s, "process"), "capabilities");
    assert_int_equal(json_array_size(json_object_get(caps, "bounding")), 1);
    assert_true(arr_has(json_object_get(caps, "permitted"), "CAP_NET_BIND_SERVICE"));
    json_decref(s);

    const char *bogus[] = {"NOT_A_CAP", NULL};
    in.security.cap_add = bogus;
    struct bsn_err err = {0};
    assert_null(bsn_oci_spec(&in, &err));
    assert_non_null(strstr(err.msg, "NOT_A_CAP"));

    /* privileged: every capability, all devices, no seccomp or masked paths, rw sysfs */
    in.security.cap_add = NULL;
    in.security.cap_drop = NULL;
    in.security.privileged = true;
    s = roundtrip(&in);
    caps = json_object_get(json_object_get(s, "process"), "capabilities");
    assert_true(arr_has(json_object_get(caps, "bounding"), "CAP_SYS_ADMIN"));
    json_t *lx = json_object_get(s, "linux");
    assert_null(json_object_get(lx, "seccomp"));
    assert_null(json_object_get(lx, "maskedPaths"));
    assert_false(arr_has(json_object_get(find_mount(s, "/sys"), "options"), "ro"));
    json_t *dev0 = json_array_get(json_object_get(json_object_get(lx, "resources"), "devices"), 0);
    assert_true(json_is_true(json_object_get(dev0, "allow")));
    assert_false(json_is_true(json_object_get(json_object_get(s, "process"), "noNewPrivileges")));
    json_decref(s);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_resources_and_mounts),
        cmocka_unit_test(test_capabilities),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
