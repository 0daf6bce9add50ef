/*
 * oci_spec.h - builds an OCI runtime spec (config.json) for one container.
 *
 * A pure function of its input so it can be unit-tested: defaults follow containerd/runc
 * (capability set, masked and read-only paths, standard mounts), securityContext maps onto
 * process.user, capabilities, noNewPrivileges, root.readonly, seccomp and privileged.
 */
#ifndef BSN_RUNTIME_OCI_SPEC_H
#define BSN_RUNTIME_OCI_SPEC_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "runtime/runtime.h"

struct bsn_oci_spec_in {
    const char *const *argv; /* resolved */
    const char *const *env;  /* final env */
    const char *cwd;
    uint32_t uid, gid;
    const char *hostname;
    const char *rootfs; /* path relative to the bundle or absolute */
    bool host_image;    /* rootfs is the host's root: add tmpfs on /tmp, /var/tmp, /run */
    const char *netns_path;
    const char *cgroups_path;
    bool cgroup_v2;
    const char *hosts_path, *resolv_path, *hostname_path;
    const struct bsn_mount *mounts;
    size_t nmounts;
    struct bsn_resources resources;
    struct bsn_security security;
    bool swap_accounting;            /* v1 memory.memsw present: set swap = memory limit */
    const char *const *extra_masked; /* more maskedPaths (host image: secrets of the node) */
    bool terminal;                   /* process.terminal (container tty) */
};

/* Returns a new JSON object (caller decrefs) or NULL with err (bad capability name). */
json_t *bsn_oci_spec(const struct bsn_oci_spec_in *in, struct bsn_err *err);

/* The default capability set (containerd's), NULL-terminated. */
extern const char *const bsn_oci_default_caps[];

#endif
