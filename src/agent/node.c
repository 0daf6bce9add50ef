/*
 * node.c - this host as a Node: registration (capacity, allocatable, addresses, nodeInfo,
 * labels, conditions), the Lease in kube-node-lease renewed every 10 s, and a status refresh
 * (heartbeats) every minute, as kubelet does with node leases enabled.
 */
#include <ifaddrs.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "agent/agent_int.h"
#include "api/client.h"
#include "api/nodeproxy.h"
#include "base/log.h"
#include "base/hostaddr.h"
#include "base/mem.h"
#include "base/time.h"
#include "codec/json.h"

#define LEASE_RENEW_MS     10000
#define STATUS_EVERY_TICKS 6

static void
read_first_line(const char *path, char *out, size_t n)
{
    out[0] = '\0';
    FILE *f = fopen(path, "r");
    if (!f)
        return;
    if (fgets(out, (int)n, f))
        out[strcspn(out, "\r\n")] = '\0';
    fclose(f);
}

static long long
mem_total_ki(void)
{
    FILE *f = fopen("/proc/meminfo", "r");
    long long kb = 0;
    char line[256];
    while (f && fgets(line, sizeof(line), f))
        if (sscanf(line, "MemTotal: %lld kB", &kb) == 1)
            break;
    if (f)
        fclose(f);
    return kb;
}

static void
os_image(char *out, size_t n)
{
    snprintf(out, n, "Linux");
    FILE *f = fopen("/etc/os-release", "r");
    char line[512];
    while (f && fgets(line, sizeof(line), f)) {
        if (!strncmp(line, "PRETTY_NAME=", 12)) {
            char *v = line + 12;
            v[strcspn(v, "\r\n")] = '\0';
            if (*v == '"') {
                v++;
                char *q = strchr(v, '"');
                if (q)
                    *q = '\0';
            }
            snprintf(out, n, "%s", v);
            break;
        }
    }
    if (f)
        fclose(f);
}

static const char *
arch_name(const char *machine)
{
    if (!strcmp(machine, "x86_64"))
        return "amd64";
    if (!strcmp(machine, "aarch64"))
        return "arm64";
    if (!strncmp(machine, "arm", 3))
        return "arm";
    return machine;
}

static json_t *
node_status(struct bsn_agent *a)
{
    char now[40], cpu[32], mem[48], eph[48], osimg[256], machine_id[64], boot_id[64];
    bsn_time_format(bsn_time_now(), now, sizeof(now));
    snprintf(cpu, sizeof(cpu), "%ld", sysconf(_SC_NPROCESSORS_ONLN));
    snprintf(mem, sizeof(mem), "%lldKi", mem_total_ki());
    struct statvfs vfs;
    long long ephk = 0;
    if (statvfs(a->data_dir, &vfs) == 0)
        ephk = (long long)vfs.f_blocks * (long long)vfs.f_frsize / 1024;
    snprintf(eph, sizeof(eph), "%lldKi", ephk);
    os_image(osimg, sizeof(osimg));
    read_first_line("/etc/machine-id", machine_id, sizeof(machine_id));
    read_first_line("/proc/sys/kernel/random/boot_id", boot_id, sizeof(boot_id));
    struct utsname u;
    uname(&u);
    json_t *res = json_pack("{s:s,s:s,s:s,s:s}", "cpu", cpu, "memory", mem, "pods", "110",
                            "ephemeral-storage", eph);
    json_t *conds = json_array();
    static const char *const press[][3] = {
        {"MemoryPressure", "KubeletHasSufficientMemory", "kubelet has sufficient memory available"},
        {"DiskPressure", "KubeletHasNoDiskPressure", "kubelet has no disk pressure"},
        {"PIDPressure", "KubeletHasSufficientPID", "kubelet has sufficient PID available"},
    };
    for (size_t i = 0; i < 3; i++)
        json_array_append_new(conds,
                              json_pack("{s:s,s:s,s:s,s:s,s:s,s:s}", "type", press[i][0], "status",
                                        "False", "lastHeartbeatTime", now, "lastTransitionTime",
                                        now, "reason", press[i][1], "message", press[i][2]));
    json_array_append_new(conds,
                          json_pack("{s:s,s:s,s:s,s:s,s:s,s:s}", "type", "Ready", "status", "True",
                                    "lastHeartbeatTime", now, "lastTransitionTime", now, "reason",
                                    "KubeletReady", "message", "kubelet is posting ready status"));
    char rtv[64];
    snprintf(rtv, sizeof(rtv), "%s://0.1.0", bsn_runtime_name(a->rt));
    return json_pack(
        "{s:o,s:O,s:o,s:[{s:s,s:s},{s:s,s:s}],s:{s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s},"
        "s:{s:{s:i}}}",
        "capacity", res, "allocatable", res, "conditions", conds, "addresses", "type", "InternalIP",
        "address", a->node_ip, "type", "Hostname", "address", a->node, "nodeInfo", "machineID",
        machine_id, "systemUUID", machine_id, "bootID", boot_id, "kernelVersion", u.release,
        "osImage", osimg, "containerRuntimeVersion", rtv, "kubeletVersion", "v1.32.0-bosun",
        "kubeProxyVersion", "v1.32.0-bosun", "operatingSystem", "linux", "architecture",
        arch_name(u.machine), "daemonEndpoints", "kubeletEndpoint", "Port",
        a->kubelet ? agent_kubelet_port(a) : 10250);
}

static json_t *
node_labels(struct bsn_agent *a)
{
    struct utsname u;
    uname(&u);
    json_t *l =
        json_pack("{s:s,s:s,s:s,s:s,s:s}", "kubernetes.io/hostname", a->node, "kubernetes.io/os",
                  "linux", "kubernetes.io/arch", arch_name(u.machine), "beta.kubernetes.io/os",
                  "linux", "beta.kubernetes.io/arch", arch_name(u.machine));
    if (a->control_plane)
        json_object_set_new(l, "node-role.kubernetes.io/control-plane", json_string(""));
    return l;
}

/* metadata.annotations: a standalone agent says it serves its own kubelet endpoint */
static json_t *
node_annotations(struct bsn_agent *a)
{
    json_t *an = json_pack("{s:s}", "node.alpha.kubernetes.io/ttl", "0");
    if (a->kubelet)
        json_object_set_new(an, BSN_KUBELET_ANNOTATION, json_string("true"));
    return an;
}

/* spec: this node's slice of the pod network (podCIDR/podCIDRs), when the agent runs one */
static json_t *
node_spec(struct bsn_agent *a)
{
    if (!a->pod_cidr)
        return json_object();
    return json_pack("{s:s,s:[s]}", "podCIDR", a->pod_cidr, "podCIDRs", a->pod_cidr);
}

static void
write_done(int status, const char *body, size_t len, void *data)
{
    BSN_UNUSED(data);
    if (status >= 400 && status != 409)
        bsn_warn("agent", "node write: HTTP %d: %.*s", status, (int)BSN_MIN(len, 300), body);
}

static void
patch_status(struct bsn_agent *a)
{
    char path[400];
    snprintf(path, sizeof(path), "/api/v1/nodes/%s/status", a->node);
    json_t *patch =
        json_pack("{s:{s:o},s:o}", "metadata", "labels", node_labels(a), "status", node_status(a));
    bsn_client_request_json(a->cl, "PATCH", path, "application/merge-patch+json", patch, write_done,
                            a);
    json_decref(patch);
}

static void register_node(struct bsn_loop *loop, void *data);

static void
node_created(int status, const char *body, size_t len, void *data)
{
    struct bsn_agent *a = data;
    if (a->closing)
        return;
    if (status == 409) {
        /* registered by an earlier run: refresh labels and status */
        char path[400];
        snprintf(path, sizeof(path), "/api/v1/nodes/%s", a->node);
        json_t *patch = json_pack("{s:{s:o,s:o}}", "metadata", "labels", node_labels(a),
                                  "annotations", node_annotations(a));
        if (a->pod_cidr)
            json_object_set_new(patch, "spec", node_spec(a));
        bsn_client_request_json(a->cl, "PATCH", path, "application/merge-patch+json", patch,
                                write_done, a);
        json_decref(patch);
        patch_status(a);
    } else if (status >= 400) {
        bsn_warn("agent", "register node %s: HTTP %d: %.*s", a->node, status,
                 (int)BSN_MIN(len, 300), body);
        if (status >= 500 || status == 429)
            bsn_timer_start(a->loop, &a->register_timer, 2000, register_node, a);
    } else {
        patch_status(a); /* in case create dropped the status */
    }
}

/* Lease writes: a create or renewal that did not land (server unreachable, lease deleted) makes
 * the next tick create it again. */
static void
lease_done(int status, const char *body, size_t len, void *data)
{
    struct bsn_agent *a = data;
    if (status == 404 || status >= 500)
        a->lease_created = false;
    else
        write_done(status, body, len, data);
}

static void
renew(struct bsn_loop *loop, void *data)
{
    struct bsn_agent *a = data;
    char now[48], path[400];
    bsn_time_format_micro(bsn_time_now_us(), now, sizeof(now));
    if (!a->lease_created) {
        json_t *lease = json_pack("{s:s,s:s,s:{s:s,s:s},s:{s:s,s:i,s:s}}", "apiVersion",
                                  "coordination.k8s.io/v1", "kind", "Lease", "metadata", "name",
                                  a->node, "namespace", "kube-node-lease", "spec", "holderIdentity",
                                  a->node, "leaseDurationSeconds", 40, "renewTime", now);
        bsn_client_request_json(a->cl, "POST",
                                "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases",
                                NULL, lease, lease_done, a);
        json_decref(lease);
        a->lease_created = true;
    }
    snprintf(path, sizeof(path),
             "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/%s", a->node);
    json_t *patch = json_pack("{s:{s:s,s:s}}", "spec", "holderIdentity", a->node, "renewTime", now);
    bsn_client_request_json(a->cl, "PATCH", path, "application/merge-patch+json", patch, lease_done,
                            a);
    json_decref(patch);
    if (++a->lease_ticks % STATUS_EVERY_TICKS == 0)
        patch_status(a);
    bsn_timer_start(loop, &a->lease_timer, LEASE_RENEW_MS, renew, a);
}

void
agent_node_start(struct bsn_agent *a)
{
    if (!a->node_ip) {
        char ip[64];
        bsn_host_ipv4(ip, sizeof(ip));
        a->node_ip = bsn_strdup(ip);
    }
    register_node(a->loop, a);
    renew(a->loop, a);
}

static void
register_node(struct bsn_loop *loop, void *data)
{
    struct bsn_agent *a = data;
    BSN_UNUSED(loop);
    json_t *node =
        json_pack("{s:s,s:s,s:{s:s,s:o,s:o},s:o,s:o}", "apiVersion", "v1", "kind", "Node",
                  "metadata", "name", a->node, "labels", node_labels(a), "annotations",
                  node_annotations(a), "spec", node_spec(a), "status", node_status(a));
    bsn_client_request_json(a->cl, "POST", "/api/v1/nodes", NULL, node, node_created, a);
    json_decref(node);
}

void
agent_node_stop(struct bsn_agent *a)
{
    bsn_timer_stop(a->loop, &a->lease_timer);
    bsn_timer_stop(a->loop, &a->register_timer);
}
