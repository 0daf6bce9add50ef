/*
 * oci_spec.c - OCI runtime spec generation (see oci_spec.h).
 */
#include "runtime/oci_spec.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "base/mem.h"

const char *const bsn_oci_default_caps[] = {
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_FSETID",
    "CAP_FOWNER",
    "CAP_MKNOD",
    "CAP_NET_RAW",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETFCAP",
    "CAP_SETPCAP",
    "CAP_NET_BIND_SERVICE",
    "CAP_SYS_CHROOT",
    "CAP_KILL",
    "CAP_AUDIT_WRITE",
    NULL,
};

static const char *const all_caps[] = {
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_DAC_READ_SEARCH",
    "CAP_FOWNER",
    "CAP_FSETID",
    "CAP_KILL",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETPCAP",
    "CAP_LINUX_IMMUTABLE",
    "CAP_NET_BIND_SERVICE",
    "CAP_NET_BROADCAST",
    "CAP_NET_ADMIN",
    "CAP_NET_RAW",
    "CAP_IPC_LOCK",
    "CAP_IPC_OWNER",
    "CAP_SYS_MODULE",
    "CAP_SYS_RAWIO",
    "CAP_SYS_CHROOT",
    "CAP_SYS_PTRACE",
    "CAP_SYS_PACCT",
    "CAP_SYS_ADMIN",
    "CAP_SYS_BOOT",
    "CAP_SYS_NICE",
    "CAP_SYS_RESOURCE",
    "CAP_SYS_TIME",
    "CAP_SYS_TTY_CONFIG",
    "CAP_MKNOD",
    "CAP_LEASE",
    "CAP_AUDIT_WRITE",
    "CAP_AUDIT_CONTROL",
    "CAP_SETFCAP",
    "CAP_MAC_OVERRIDE",
    "CAP_MAC_ADMIN",
    "CAP_SYSLOG",
    "CAP_WAKE_ALARM",
    "CAP_BLOCK_SUSPEND",
    "CAP_AUDIT_READ",
    "CAP_PERFMON",
    "CAP_BPF",
    "CAP_CHECKPOINT_RESTORE",
    NULL,
};

/* runc's defaults. */
static const char *const masked_paths[] = {
    "/proc/acpi",
    "/proc/asound",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/sys/firmware",
    NULL,
};
static const char *const readonly_paths[] = {
    "/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger", NULL,
};

/* RuntimeDefault: allow everything except the syscalls Docker's and containerd's default
 * profiles refuse to unprivileged containers (kernel modules, kexec, reboot, clock and
 * accounting changes, keyrings, BPF and perf, mount and namespace tricks, NUMA policy).
 * ptrace, process_vm_* and personality stay allowed, as in Docker on kernels >= 4.8. */
static const char *const seccomp_denied[] = {
    "acct",
    "add_key",
    "bpf",
    "clock_adjtime",
    "clock_settime",
    "create_module",
    "delete_module",
    "finit_module",
    "fsconfig",
    "fsmount",
    "fsopen",
    "fspick",
    "get_kernel_syms",
    "get_mempolicy",
    "init_module",
    "ioperm",
    "iopl",
    "kcmp",
    "kexec_file_load",
    "kexec_load",
    "keyctl",
    "lookup_dcookie",
    "mbind",
    "mount",
    "mount_setattr",
    "move_mount",
    "move_pages",
    "name_to_handle_at",
    "nfsservctl",
    "open_by_handle_at",
    "open_tree",
    "perf_event_open",
    "pivot_root",
    "query_module",
    "quotactl",
    "quotactl_fd",
    "reboot",
    "request_key",
    "set_mempolicy",
    "setns",
    "settimeofday",
    "stime",
    "swapoff",
    "swapon",
    "sysfs",
    "_sysctl",
    "umount",
    "umount2",
    "unshare",
    "uselib",
    "userfaultfd",
    "ustat",
    "vm86",
    "vm86old",
    NULL,
};

static json_t *
strv(const char *const *v)
{
    json_t *a = json_array();
    for (size_t i = 0; v && v[i]; i++)
        json_array_append_new(a, json_string(v[i]));
    return a;
}

static json_t *
mount(const char *dest, const char *type, const char *src, const char *opts)
{
    json_t *m = json_pack("{s:s,s:s,s:s}", "destination", dest, "type", type, "source", src);
    json_t *o = json_array();
    char buf[256];
    snprintf(buf, sizeof(buf), "%s", opts);
    char *save = NULL;
    for (char *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save))
        json_array_append_new(o, json_string(t));
    json_object_set_new(m, "options", o);
    return m;
}

/* "net_admin" / "CAP_NET_ADMIN" -> "CAP_NET_ADMIN", validated against the known list. */
static int
cap_name(const char *in, char *out, size_t n)
{
    if (!strncasecmp(in, "CAP_", 4))
        in += 4;
    snprintf(out, n, "CAP_%s", in);
    for (char *p = out; *p; p++)
        *p = (char)(*p >= 'a' && *p <= 'z' ? *p - 32 : *p);
    for (size_t i = 0; all_caps[i]; i++)
        if (!strcmp(all_caps[i], out))
            return 0;
    return -1;
}

static bool
has(json_t *set, const char *cap)
{
    size_t i;
    json_t *v;
    json_array_foreach(set, i, v) if (!strcmp(json_string_value(v), cap)) return true;
    return false;
}

static json_t *
capability_set(const struct bsn_security *sec, struct bsn_err *err)
{
    if (sec->privileged)
        return strv(all_caps);
    bool drop_all = false;
    for (size_t i = 0; sec->cap_drop && sec->cap_drop[i]; i++)
        drop_all |= !strcasecmp(sec->cap_drop[i], "ALL");
    json_t *set = drop_all ? json_array() : strv(bsn_oci_default_caps);
    char name[64];
    for (size_t i = 0; sec->cap_drop && sec->cap_drop[i]; i++) {
        if (!strcasecmp(sec->cap_drop[i], "ALL"))
            continue;
        if (cap_name(sec->cap_drop[i], name, sizeof(name)) < 0)
            goto bad_drop;
        for (size_t j = 0; j < json_array_size(set); j++)
            if (!strcmp(json_string_value(json_array_get(set, j)), name))
                json_array_remove(set, j--);
    }
    for (size_t i = 0; sec->cap_add && sec->cap_add[i]; i++) {
        if (!strcasecmp(sec->cap_add[i], "ALL")) {
            json_decref(set);
            set = strv(all_caps);
            break;
        }
        if (cap_name(sec->cap_add[i], name, sizeof(name)) < 0) {
            bsn_err_set(err, 400, "Invalid",
                        "securityContext.capabilities.add: unknown capability '%s'",
                        sec->cap_add[i]);
            json_decref(set);
            return NULL;
        }
        if (!has(set, name))
            json_array_append_new(set, json_string(name));
    }
    return set;
bad_drop:
    for (size_t i = 0; sec->cap_drop[i]; i++)
        if (cap_name(sec->cap_drop[i], name, sizeof(name)) < 0 &&
            strcasecmp(sec->cap_drop[i], "ALL")) {
            bsn_err_set(err, 400, "Invalid",
                        "securityContext.capabilities.drop: unknown capability '%s'",
                        sec->cap_drop[i]);
            break;
        }
    json_decref(set);
    return NULL;
}

static json_t *
seccomp_profile(void)
{
    json_t *names = strv(seccomp_denied);
    return json_pack("{s:s,s:[s,s,s],s:[{s:o,s:s,s:i}]}", "defaultAction", "SCMP_ACT_ALLOW",
                     "architectures", "SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32",
                     "syscalls", "names", names, "action", "SCMP_ACT_ERRNO", "errnoRet", 1);
}

static json_t *
resources(const struct bsn_oci_spec_in *in)
{
    const struct bsn_resources *r = &in->resources;
    json_t *res = json_object();
    json_t *devices = in->security.privileged
                          ? json_pack("[{s:b,s:s}]", "allow", 1, "access", "rwm")
                          : json_pack("[{s:b,s:s}]", "allow", 0, "access", "rwm");
    json_object_set_new(res, "devices", devices);
    if (r->memory_limit_bytes > 0) {
        json_t *mem = json_pack("{s:I}", "limit", (json_int_t)r->memory_limit_bytes);
        if (in->swap_accounting || in->cgroup_v2)
            json_object_set_new(mem, "swap", json_integer(r->memory_limit_bytes));
        json_object_set_new(res, "memory", mem);
    }
    /* Kubernetes' conversions: shares from the request (minimum 2), CFS quota from the limit
     * with a 100 ms period. */
    int64_t shares = r->cpu_request_millis > 0 ? r->cpu_request_millis * 1024 / 1000 : 2;
    if (shares < 2)
        shares = 2;
    json_t *cpu = json_pack("{s:I}", "shares", (json_int_t)shares);
    if (r->cpu_limit_millis > 0) {
        int64_t quota = r->cpu_limit_millis * 100000 / 1000;
        json_object_set_new(cpu, "quota", json_integer(quota < 1000 ? 1000 : quota));
        json_object_set_new(cpu, "period", json_integer(100000));
    }
    json_object_set_new(res, "cpu", cpu);
    if (r->pids_limit > 0)
        json_object_set_new(res, "pids", json_pack("{s:I}", "limit", (json_int_t)r->pids_limit));
    return res;
}

json_t *
bsn_oci_spec(const struct bsn_oci_spec_in *in, struct bsn_err *err)
{
    const struct bsn_security *sec = &in->security;
    json_t *caps = capability_set(sec, err);
    if (!caps)
        return NULL;
    json_t *process = json_pack(
        "{s:b,s:{s:i,s:i},s:o,s:o,s:s,s:{s:O,s:O,s:O},s:b}", "terminal", in->terminal, "user",
        "uid", (int)in->uid, "gid", (int)in->gid, "args", strv(in->argv), "env", strv(in->env),
        "cwd", in->cwd && *in->cwd ? in->cwd : "/", "capabilities", "bounding", caps, "effective",
        caps, "permitted", caps, "noNewPrivileges", sec->no_new_privs && !sec->privileged);
    json_decref(caps);

    json_t *mounts = json_array();
    json_array_append_new(mounts, mount("/proc", "proc", "proc", "nosuid,noexec,nodev"));
    json_array_append_new(
        mounts, mount("/dev", "tmpfs", "tmpfs", "nosuid,strictatime,mode=755,size=65536k"));
    json_array_append_new(mounts, mount("/dev/pts", "devpts", "devpts",
                                        "nosuid,noexec,newinstance,ptmxmode=0666,mode=0620,gid=5"));
    json_array_append_new(
        mounts, mount("/dev/shm", "tmpfs", "shm", "nosuid,noexec,nodev,mode=1777,size=65536k"));
    json_array_append_new(mounts, mount("/dev/mqueue", "mqueue", "mqueue", "nosuid,noexec,nodev"));
    json_array_append_new(
        mounts, mount("/sys", "sysfs", "sysfs",
                      sec->privileged ? "nosuid,noexec,nodev" : "nosuid,noexec,nodev,ro"));
    json_array_append_new(mounts, mount("/sys/fs/cgroup", "cgroup", "cgroup",
                                        sec->privileged ? "nosuid,noexec,nodev,relatime"
                                                        : "nosuid,noexec,nodev,relatime,ro"));
    if (in->host_image) {
        json_array_append_new(mounts, mount("/tmp", "tmpfs", "tmpfs", "nosuid,nodev,mode=1777"));
        json_array_append_new(mounts,
                              mount("/var/tmp", "tmpfs", "tmpfs", "nosuid,nodev,mode=1777"));
        json_array_append_new(mounts, mount("/run", "tmpfs", "tmpfs", "nosuid,nodev,mode=755"));
    }
    if (in->hosts_path)
        json_array_append_new(mounts,
                              mount("/etc/hosts", "bind", in->hosts_path, "rbind,rprivate"));
    if (in->resolv_path)
        json_array_append_new(mounts,
                              mount("/etc/resolv.conf", "bind", in->resolv_path, "rbind,rprivate"));
    if (in->hostname_path)
        json_array_append_new(mounts,
                              mount("/etc/hostname", "bind", in->hostname_path, "rbind,rprivate"));
    bool propagated = false;
    for (size_t i = 0; i < in->nmounts; i++) {
        const struct bsn_mount *m = &in->mounts[i];
        if (!m->host_path || !m->container_path || m->container_path[0] != '/') {
            bsn_err_set(err, 400, "Invalid",
                        "volume mount %zu: need a host path and an "
                        "absolute container path",
                        i);
            json_decref(process);
            json_decref(mounts);
            return NULL;
        }
        const char *prop = m->propagation == BSN_PROP_BIDIRECTIONAL       ? "rshared"
                           : m->propagation == BSN_PROP_HOST_TO_CONTAINER ? "rslave"
                                                                          : "rprivate";
        propagated |= m->propagation != BSN_PROP_PRIVATE;
        char opts[64];
        snprintf(opts, sizeof(opts), "rbind,%s%s", prop, m->readonly ? ",ro" : "");
        json_array_append_new(mounts, mount(m->container_path, "bind", m->host_path, opts));
    }

    json_t *ns = json_pack("[{s:s},{s:s},{s:s},{s:s}]", "type", "pid", "type", "ipc", "type", "uts",
                           "type", "mount");
    if (in->netns_path && *in->netns_path)
        json_array_append_new(ns,
                              json_pack("{s:s,s:s}", "type", "network", "path", in->netns_path));
    else
        json_array_append_new(ns, json_pack("{s:s}", "type", "network"));
    if (in->cgroup_v2)
        json_array_append_new(ns, json_pack("{s:s}", "type", "cgroup"));

    json_t *linux_ =
        json_pack("{s:o,s:s,s:o}", "namespaces", ns, "cgroupsPath",
                  in->cgroups_path ? in->cgroups_path : "", "resources", resources(in));
    if (!sec->privileged) {
        json_t *masked = strv(masked_paths);
        for (size_t i = 0; in->extra_masked && in->extra_masked[i]; i++)
            json_array_append_new(masked, json_string(in->extra_masked[i]));
        json_object_set_new(linux_, "maskedPaths", masked);
        json_object_set_new(linux_, "readonlyPaths", strv(readonly_paths));
        if (sec->seccomp_runtime_default)
            json_object_set_new(linux_, "seccomp", seccomp_profile());
    }
    if (propagated)
        json_object_set_new(linux_, "rootfsPropagation", json_string("rslave"));

    json_t *spec = json_pack("{s:s,s:o,s:{s:s,s:b},s:s,s:o,s:o}", "ociVersion", "1.0.2", "process",
                             process, "root", "path", in->rootfs, "readonly",
                             in->security.readonly_rootfs || in->host_image, "hostname",
                             in->hostname ? in->hostname : "", "mounts", mounts, "linux", linux_);
    return spec;
}
