/*
 * podspec.c - PodSpec defaulting and validation, shared by Pod and every kind with a pod
 * template (Deployment, ReplicaSet, ReplicationController, StatefulSet, DaemonSet, Job, CronJob).
 *
 * Defaults follow upstream's core/v1 SetDefaults_PodSpec/Container/Probe/Volume. The extra
 * pod-only defaults (tolerations for not-ready/unreachable, priority, serviceAccountName,
 * requests copied from limits) come from upstream admission plugins and SetDefaults_Pod; they
 * are applied here for Pods only.
 */
#include "api/kinds/kinds.h"

#include <stdio.h>
#include <string.h>

#include "base/mem.h"

#define F(buf, ...) snprintf(buf, sizeof(buf), __VA_ARGS__)

/* ---- defaults ---- */

static void
default_http_get(json_t *h)
{
    if (!json_is_object(h))
        return;
    kj_def_str(h, "path", "/");
    kj_def_str(h, "scheme", "HTTP");
}

static void
default_probe(json_t *p)
{
    if (!json_is_object(p))
        return;
    kj_def_int(p, "timeoutSeconds", 1);
    kj_def_int(p, "periodSeconds", 10);
    kj_def_int(p, "successThreshold", 1);
    kj_def_int(p, "failureThreshold", 3);
    default_http_get(json_object_get(p, "httpGet"));
}

static void
default_env(json_t *env)
{
    size_t i;
    json_t *e;
    json_array_foreach(env, i, e)
    {
        json_t *fr = kj_get(e, "valueFrom.fieldRef");
        if (json_is_object(fr))
            kj_def_str(fr, "apiVersion", "v1");
    }
}

/* Image tag: ":latest" or no tag (and no digest) means Always. */
static const char *
pull_policy_for(const char *image)
{
    if (!image)
        return "IfNotPresent";
    if (strchr(image, '@'))
        return "IfNotPresent";
    const char *slash = strrchr(image, '/');
    const char *colon = strrchr(slash ? slash : image, ':');
    if (!colon || strcmp(colon + 1, "latest") == 0)
        return "Always";
    return "IfNotPresent";
}

static void
default_container(json_t *c, bool host_network)
{
    if (!json_is_object(c))
        return;
    kj_def_str(c, "imagePullPolicy", pull_policy_for(kj_str(c, "image")));
    kj_def_str(c, "terminationMessagePath", "/dev/termination-log");
    kj_def_str(c, "terminationMessagePolicy", "File");
    if (!json_object_get(c, "resources"))
        json_object_set_new(c, "resources", json_object());
    kq_canonicalize(kj_get(c, "resources.requests"));
    kq_canonicalize(kj_get(c, "resources.limits"));
    size_t i;
    json_t *p;
    json_array_foreach(json_object_get(c, "ports"), i, p)
    {
        kj_def_str(p, "protocol", "TCP");
        if (host_network && json_is_integer(json_object_get(p, "containerPort")))
            kj_def_int(p, "hostPort", json_integer_value(json_object_get(p, "containerPort")));
    }
    default_probe(json_object_get(c, "livenessProbe"));
    default_probe(json_object_get(c, "readinessProbe"));
    default_probe(json_object_get(c, "startupProbe"));
    default_http_get(kj_get(c, "lifecycle.postStart.httpGet"));
    default_http_get(kj_get(c, "lifecycle.preStop.httpGet"));
    default_env(json_object_get(c, "env"));
}

static const char *const volume_sources[] = {"hostPath",
                                             "emptyDir",
                                             "gcePersistentDisk",
                                             "awsElasticBlockStore",
                                             "gitRepo",
                                             "secret",
                                             "nfs",
                                             "iscsi",
                                             "glusterfs",
                                             "persistentVolumeClaim",
                                             "rbd",
                                             "flexVolume",
                                             "cinder",
                                             "cephfs",
                                             "flocker",
                                             "downwardAPI",
                                             "fc",
                                             "azureFile",
                                             "configMap",
                                             "vsphereVolume",
                                             "quobyte",
                                             "azureDisk",
                                             "photonPersistentDisk",
                                             "projected",
                                             "portworxVolume",
                                             "scaleIO",
                                             "storageos",
                                             "csi",
                                             "ephemeral",
                                             "image",
                                             NULL};

static void
default_items_fieldref(json_t *items)
{
    size_t i;
    json_t *it;
    json_array_foreach(items, i, it)
    {
        json_t *fr = json_object_get(it, "fieldRef");
        if (json_is_object(fr))
            kj_def_str(fr, "apiVersion", "v1");
    }
}

static void
default_volume(json_t *v)
{
    if (!json_is_object(v))
        return;
    bool any = false;
    for (int i = 0; volume_sources[i]; i++)
        if (json_is_object(json_object_get(v, volume_sources[i])))
            any = true;
    if (!any)
        json_object_set_new(v, "emptyDir", json_object());
    json_t *s;
    if ((s = json_object_get(v, "configMap")) && json_is_object(s))
        kj_def_int(s, "defaultMode", 420);
    if ((s = json_object_get(v, "secret")) && json_is_object(s))
        kj_def_int(s, "defaultMode", 420);
    if ((s = json_object_get(v, "projected")) && json_is_object(s)) {
        kj_def_int(s, "defaultMode", 420);
        size_t i;
        json_t *src;
        json_array_foreach(json_object_get(s, "sources"), i, src)
        {
            default_items_fieldref(kj_get(src, "downwardAPI.items"));
            json_t *tok = json_object_get(src, "serviceAccountToken");
            if (json_is_object(tok))
                kj_def_int(tok, "expirationSeconds", 3600);
        }
    }
    if ((s = json_object_get(v, "downwardAPI")) && json_is_object(s)) {
        kj_def_int(s, "defaultMode", 420);
        default_items_fieldref(json_object_get(s, "items"));
    }
    if ((s = json_object_get(v, "hostPath")) && json_is_object(s))
        kj_def_str(s, "type", "");
    if ((s = json_object_get(v, "emptyDir")) && json_is_object(s) &&
        json_object_get(s, "sizeLimit")) {
        /* canonical quantity, like resources */
        json_t *tmp = json_pack("{s:O}", "q", json_object_get(s, "sizeLimit"));
        kq_canonicalize(tmp);
        json_object_set(s, "sizeLimit", json_object_get(tmp, "q"));
        json_decref(tmp);
    }
}

static bool
has_toleration(const json_t *tols, const char *key)
{
    size_t i;
    json_t *t;
    json_array_foreach(tols, i, t)
    {
        const char *k = kj_str(t, "key"), *eff = kj_str(t, "effect");
        const char *op = kj_str_or(t, "operator", "Equal");
        bool key_ok = (k && strcmp(k, key) == 0) || ((!k || !*k) && strcmp(op, "Exists") == 0);
        bool eff_ok = !eff || !*eff || strcmp(eff, "NoExecute") == 0;
        if (key_ok && eff_ok)
            return true;
    }
    return false;
}

static void
add_default_toleration(json_t *spec, const char *key)
{
    json_t *tols = json_object_get(spec, "tolerations");
    if (!json_is_array(tols)) {
        tols = json_array();
        json_object_set_new(spec, "tolerations", tols);
    }
    if (has_toleration(tols, key))
        return;
    json_array_append_new(tols,
                          json_pack("{s:s, s:s, s:s, s:I}", "key", key, "operator", "Exists",
                                    "effect", "NoExecute", "tolerationSeconds", (json_int_t)300));
}

/* SetDefaults_Pod: a container's missing requests come from its limits. */
static void
requests_from_limits(json_t *c)
{
    json_t *limits = kj_get(c, "resources.limits");
    if (!json_is_object(limits) || json_object_size(limits) == 0)
        return;
    json_t *req = kj_obj(kj_obj(c, "resources"), "requests");
    const char *k;
    json_t *v;
    json_object_foreach(limits, k, v)
    {
        if (!json_object_get(req, k))
            json_object_set_new(req, k, json_deep_copy(v));
    }
}

void
kp_default_podspec(json_t *spec, bool is_pod)
{
    if (!json_is_object(spec))
        return;
    bool host_net = kj_true(spec, "hostNetwork");
    kj_def_str(spec, "restartPolicy", "Always");
    kj_def_str(spec, "dnsPolicy", "ClusterFirst");
    kj_def_int(spec, "terminationGracePeriodSeconds", 30);
    if (!json_is_object(json_object_get(spec, "securityContext")))
        json_object_set_new(spec, "securityContext", json_object());
    kj_def_str(spec, "schedulerName", "default-scheduler");
    /* SetDefaults_Pod (not PodSpec): only pods get these, templates do not */
    if (is_pod)
        kj_def_bool(spec, "enableServiceLinks", true);
    static const char *const lists[] = {"containers", "initContainers", "ephemeralContainers"};
    for (size_t l = 0; l < BSN_ARRAY_LEN(lists); l++) {
        size_t i;
        json_t *c;
        json_array_foreach(json_object_get(spec, lists[l]), i, c)
        {
            default_container(c, is_pod && host_net && l < 2);
            if (is_pod && l < 2)
                requests_from_limits(c);
        }
    }
    size_t i;
    json_t *v;
    json_array_foreach(json_object_get(spec, "volumes"), i, v) default_volume(v);
    if (is_pod) {
        /* ServiceAccount admission: the deprecated serviceAccount field mirrors the name. */
        const char *sa = kj_str(spec, "serviceAccountName");
        if (!sa || !*sa)
            sa = kj_str(spec, "serviceAccount");
        if (!sa || !*sa)
            sa = "default";
        char *sacopy = bsn_strdup(sa);
        json_object_set_new(spec, "serviceAccountName", json_string(sacopy));
        json_object_set_new(spec, "serviceAccount", json_string(sacopy));
        free(sacopy);
        /* Priority admission (no PriorityClass objects resolve here: value 0). */
        if (!json_object_get(spec, "priority")) {
            json_object_set_new(spec, "priority", json_integer(0));
            kj_def_str(spec, "preemptionPolicy", "PreemptLowerPriority");
        }
        /* DefaultTolerationSeconds admission. */
        add_default_toleration(spec, "node.kubernetes.io/not-ready");
        add_default_toleration(spec, "node.kubernetes.io/unreachable");
    }
}

void
kp_default_template(json_t *tmpl)
{
    if (!json_is_object(tmpl))
        return;
    kp_default_podspec(kj_obj(tmpl, "spec"), false);
}

/* ---- validation ---- */

static const char *const pull_policies[] = {"Always", "IfNotPresent", "Never", NULL};
static const char *const restart_policies[] = {"Always", "OnFailure", "Never", NULL};
static const char *const dns_policies[] = {"ClusterFirst", "ClusterFirstWithHostNet", "Default",
                                           "None", NULL};
static const char *const protocols[] = {"SCTP", "TCP", "UDP", NULL};
static const char *const term_msg_policies[] = {"File", "FallbackToLogsOnError", NULL};

static int
validate_port_num(struct bsn_err *err, const json_t *v, const char *field, bool required)
{
    if (!v || json_is_null(v) || (json_is_integer(v) && json_integer_value(v) == 0))
        return required ? kv_required(err, field, NULL) : 0;
    if (!json_is_integer(v) || json_integer_value(v) < 1 || json_integer_value(v) > 65535)
        return kv_invalid_j(err, field, v, "must be between 1 and 65535, inclusive");
    return 0;
}

/* IntOrString port: number 1..65535 or an IANA_SVC_NAME. */
static int
validate_named_port(struct bsn_err *err, const json_t *v, const char *field)
{
    if (!v || json_is_null(v))
        return kv_required(err, field, NULL);
    if (json_is_string(v)) {
        const char *msg = kn_port_name(json_string_value(v));
        return msg ? kv_invalid_s(err, field, json_string_value(v), msg) : 0;
    }
    return validate_port_num(err, v, field, true);
}

static int
validate_handler(struct bsn_err *err, const json_t *h, const char *field, bool probe)
{
    static const char *const kinds[] = {"exec", "httpGet", "tcpSocket", "grpc", "sleep"};
    char f[200];
    int n = 0, rc = 0;
    for (size_t i = 0; i < BSN_ARRAY_LEN(kinds); i++) {
        json_t *k = json_object_get(h, kinds[i]);
        if (!k || json_is_null(k))
            continue;
        if (++n > 1) {
            F(f, "%s.%s", field, kinds[i]);
            rc |= kv_forbidden(err, f, "may not specify more than 1 handler type");
        }
    }
    if (n == 0)
        return kv_required(err, field, "must specify a handler type");
    json_t *hg = json_object_get(h, "httpGet");
    if (hg) {
        F(f, "%s.httpGet.port", field);
        rc |= validate_named_port(err, json_object_get(hg, "port"), f);
        static const char *const schemes[] = {"HTTP", "HTTPS", NULL};
        F(f, "%s.httpGet.scheme", field);
        rc |= kv_enum(err, hg, "scheme", f, schemes, false);
    }
    json_t *ts = json_object_get(h, "tcpSocket");
    if (ts) {
        F(f, "%s.tcpSocket.port", field);
        rc |= validate_named_port(err, json_object_get(ts, "port"), f);
    }
    json_t *ex = json_object_get(h, "exec");
    if (ex && kj_len(ex, "command") == 0) {
        F(f, "%s.exec.command", field);
        rc |= kv_required(err, f, NULL);
    }
    json_t *g = json_object_get(h, "grpc");
    if (g) {
        F(f, "%s.grpc.port", field);
        rc |= validate_port_num(err, json_object_get(g, "port"), f, true);
    }
    (void)probe;
    return rc ? -1 : 0;
}

static int
validate_probe(struct bsn_err *err, const json_t *p, const char *field, bool liveness)
{
    static const char *const nonneg[] = {"initialDelaySeconds", "timeoutSeconds", "periodSeconds",
                                         "successThreshold", "failureThreshold"};
    char f[200];
    int rc = 0;
    if (!p || json_is_null(p))
        return 0;
    for (size_t i = 0; i < BSN_ARRAY_LEN(nonneg); i++) {
        F(f, "%s.%s", field, nonneg[i]);
        rc |= kv_nonneg(err, p, nonneg[i], f);
    }
    json_int_t st = kj_int(p, "successThreshold", 1);
    if (liveness && st != 1) {
        F(f, "%s.successThreshold", field);
        rc |= kv_invalid_i(err, f, st, "must be 1");
    }
    rc |= validate_handler(err, p, field, true);
    return rc ? -1 : 0;
}

/* Resource names as upstream's validateContainerResourceName. */
static bool
is_native_resource(const char *name)
{
    return !strchr(name, '/') || strstr(name, "kubernetes.io/") != NULL;
}

static bool
is_hugepages(const char *name)
{
    return strncmp(name, "hugepages-", 10) == 0;
}

/* Extended resources and huge pages cannot be overcommitted: requests must equal limits. */
static bool
overcommit_allowed(const char *name)
{
    return is_native_resource(name) && !is_hugepages(name);
}

static int
validate_resource_name(struct bsn_err *err, const char *name, const char *field)
{
    const char *msg = kn_qualified_name(name);
    if (msg)
        return kv_invalid_s(err, field, name, msg);
    if (!strchr(name, '/')) {
        if (strcmp(name, "cpu") && strcmp(name, "memory") && strcmp(name, "ephemeral-storage") &&
            !is_hugepages(name))
            return kv_invalid_s(err, field, name, "must be a standard resource for containers");
    } else if (!is_native_resource(name) && strncmp(name, "requests.", 9) == 0) {
        return kv_invalid_s(err, field, name, "doesn't follow extended resource name standard");
    }
    return 0;
}

int
kp_validate_resources(struct bsn_err *err, const json_t *res, const char *prefix)
{
    char f[200];
    int rc = 0;
    const char *k;
    json_t *v;
    const char *sect[] = {"limits", "requests"};
    for (int s = 0; s < 2; s++) {
        json_object_foreach(json_object_get(res, sect[s]), k, v)
        {
            double q;
            F(f, "%s.%s[%s]", prefix, sect[s], k);
            rc |= validate_resource_name(err, k, f);
            if (kq_parse(v, &q) < 0) {
                rc |= kv_invalid_j(err, f, v,
                                   "quantities must match the regular expression "
                                   "'^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'");
                continue;
            }
            if (q < 0)
                rc |= kv_invalid_j(err, f, v, "must be greater than or equal to 0");
        }
    }
    const json_t *limits = json_object_get(res, "limits");
    json_object_foreach(json_object_get(res, "requests"), k, v)
    {
        json_t *lim = json_object_get(limits, k);
        int cmp;
        if (!lim) {
            if (!overcommit_allowed(k)) {
                F(f, "%s.limits", prefix);
                rc |= kv_required(err, f, "Limit must be set for non overcommitable resources");
            }
            continue;
        }
        if (kq_cmp(v, lim, &cmp) < 0)
            continue;
        char d[200], lt[64];
        kq_text(lim, lt, sizeof(lt));
        F(f, "%s.requests", prefix);
        if (cmp != 0 && !overcommit_allowed(k)) {
            F(d, "must be equal to %s limit of %s", k, lt);
            rc |= kv_invalid_j(err, f, v, d);
        } else if (cmp > 0) {
            F(d, "must be less than or equal to %s limit of %s", k, lt);
            rc |= kv_invalid_j(err, f, v, d);
        }
    }
    return rc ? -1 : 0;
}

/* valueFrom: exactly one source, each well formed (upstream validateEnvVarValueFrom). */
static int
validate_env_source(struct bsn_err *err, const json_t *vf, const char *field)
{
    /* subscripted metadata.labels['k'] / metadata.annotations['k'] are accepted too */
    static const char *const field_paths[] = {"metadata.name",
                                              "metadata.namespace",
                                              "metadata.uid",
                                              "spec.nodeName",
                                              "spec.serviceAccountName",
                                              "status.hostIP",
                                              "status.hostIPs",
                                              "status.podIP",
                                              "status.podIPs",
                                              NULL};
    static const char *const resources[] = {"limits.cpu",
                                            "limits.ephemeral-storage",
                                            "limits.memory",
                                            "requests.cpu",
                                            "requests.ephemeral-storage",
                                            "requests.memory",
                                            NULL};
    static const char *const kinds[] = {"fieldRef", "resourceFieldRef", "configMapKeyRef",
                                        "secretKeyRef", "fileKeyRef"};
    char f[240];
    int n = 0, rc = 0;
    for (size_t k = 0; k < BSN_ARRAY_LEN(kinds); k++) {
        json_t *s = json_object_get(vf, kinds[k]);
        if (s && !json_is_null(s))
            n++;
    }
    if (n == 0)
        return kv_required(err, field,
                           "must specify one of: `fieldRef`, `resourceFieldRef`, "
                           "`configMapKeyRef` or `secretKeyRef`");
    if (n > 1)
        return kv_invalid_raw(err, field, "\"\"",
                              "may not have more than one field specified at a time");
    const json_t *fr = json_object_get(vf, "fieldRef");
    if (fr) {
        const char *fp = kj_str(fr, "fieldPath");
        F(f, "%s.fieldRef.fieldPath", field);
        if (!fp || !*fp) {
            rc |= kv_required(err, f, NULL);
        } else {
            /* metadata.labels['key'] / metadata.annotations['key'] subscripts are allowed */
            char base[128];
            snprintf(base, sizeof(base), "%s", fp);
            char *br = strchr(base, '[');
            bool ok = br && (strncmp(base, "metadata.labels[", 16) == 0 ||
                             strncmp(base, "metadata.annotations[", 21) == 0);
            for (int k = 0; field_paths[k]; k++)
                if (strcmp(base, field_paths[k]) == 0)
                    ok = true;
            if (!ok)
                rc |= kv_unsupported(err, f, fp, field_paths);
        }
    }
    const json_t *rf = json_object_get(vf, "resourceFieldRef");
    if (rf) {
        const char *r = kj_str(rf, "resource");
        F(f, "%s.resourceFieldRef.resource", field);
        bool ok = false;
        for (int k = 0; r && resources[k]; k++)
            if (strcmp(r, resources[k]) == 0)
                ok = true;
        if (r && (strncmp(r, "limits.hugepages-", 17) == 0 ||
                  strncmp(r, "requests.hugepages-", 19) == 0))
            ok = true;
        if (!r || !*r)
            rc |= kv_required(err, f, NULL);
        else if (!ok)
            rc |= kv_unsupported(err, f, r, resources);
    }
    static const char *const refs[] = {"configMapKeyRef", "secretKeyRef"};
    for (int k = 0; k < 2; k++) {
        const json_t *ref = json_object_get(vf, refs[k]);
        if (!ref)
            continue;
        const char *key = kj_str(ref, "key");
        F(f, "%s.%s.key", field, refs[k]);
        if (!key || !*key)
            rc |= kv_required(err, f, NULL);
        else if (kn_config_key(key))
            rc |= kv_invalid_s(err, f, key, kn_config_key(key));
        F(f, "%s.%s.name", field, refs[k]);
        const char *nm = kj_str(ref, "name");
        if (!nm || !*nm)
            rc |= kv_required(err, f, NULL);
    }
    return rc ? -1 : 0;
}

/* A relative path without '..' elements (upstream validateLocalDescendingPath). */
static int
validate_local_path(struct bsn_err *err, const char *path, const char *field)
{
    if (path[0] == '/')
        return kv_invalid_s(err, field, path, "must be a relative path");
    const char *p = path;
    while (*p) {
        const char *slash = strchr(p, '/');
        size_t len = slash ? (size_t)(slash - p) : strlen(p);
        if (len == 2 && p[0] == '.' && p[1] == '.')
            return kv_invalid_s(err, field, path, "must not contain '..'");
        if (!slash)
            break;
        p = slash + 1;
    }
    return 0;
}

/* keyToPath items of configMap/secret/downwardAPI volumes. */
static int
validate_volume_items(struct bsn_err *err, const json_t *items, const char *field, bool keyed)
{
    char f[240];
    int rc = 0;
    size_t i;
    json_t *it;
    json_array_foreach(items, i, it)
    {
        if (keyed) {
            F(f, "%s[%zu].key", field, i);
            if (!*kj_str_or(it, "key", ""))
                rc |= kv_required(err, f, NULL);
        }
        F(f, "%s[%zu].path", field, i);
        const char *path = kj_str(it, "path");
        if (!path || !*path) {
            rc |= kv_required(err, f, NULL);
        } else {
            rc |= validate_local_path(err, path, f);
            if (strncmp(path, "..", 2) == 0)
                rc |= kv_invalid_s(err, f, path, "must not start with '..'");
        }
        json_t *mode = json_object_get(it, "mode");
        if (json_is_integer(mode) &&
            (json_integer_value(mode) < 0 || json_integer_value(mode) > 0777)) {
            F(f, "%s[%zu].mode", field, i);
            rc |= kv_invalid_i(err, f, json_integer_value(mode),
                               "must be a number between 0 and 0777 (octal), both inclusive");
        }
    }
    return rc;
}

struct names_seen {
    const char *names[64];
    size_t n;
};

static bool
seen(struct names_seen *s, const char *name)
{
    for (size_t i = 0; i < s->n; i++)
        if (strcmp(s->names[i], name) == 0)
            return true;
    if (s->n < BSN_ARRAY_LEN(s->names))
        s->names[s->n++] = name;
    return false;
}

static int
validate_container(struct bsn_err *err, const json_t *c, const char *field, bool init,
                   const json_t *volumes, struct names_seen *cnames)
{
    char f[200];
    int rc = 0;
    const char *name = kj_str(c, "name");
    F(f, "%s.name", field);
    if (!name || !*name)
        rc |= kv_required(err, f, NULL);
    else if (kn_dns1123_label(name))
        rc |= kv_invalid_s(err, f, name, kn_dns1123_label(name));
    else if (seen(cnames, name))
        rc |= kv_duplicate(err, f, name);
    const char *image = kj_str(c, "image");
    F(f, "%s.image", field);
    if (!image || !*image)
        rc |= kv_required(err, f, NULL);
    else if (image[0] == ' ' || image[strlen(image) - 1] == ' ')
        rc |= kv_invalid_s(err, f, image, "must not have leading or trailing whitespace");
    F(f, "%s.imagePullPolicy", field);
    rc |= kv_enum(err, c, "imagePullPolicy", f, pull_policies, false);
    F(f, "%s.terminationMessagePolicy", field);
    rc |= kv_enum(err, c, "terminationMessagePolicy", f, term_msg_policies, false);

    struct names_seen pnames = {.n = 0};
    size_t i;
    json_t *p;
    json_array_foreach(json_object_get(c, "ports"), i, p)
    {
        F(f, "%s.ports[%zu].containerPort", field, i);
        rc |= validate_port_num(err, json_object_get(p, "containerPort"), f, true);
        F(f, "%s.ports[%zu].hostPort", field, i);
        rc |= validate_port_num(err, json_object_get(p, "hostPort"), f, false);
        F(f, "%s.ports[%zu].protocol", field, i);
        rc |= kv_enum(err, p, "protocol", f, protocols, false);
        const char *pn = kj_str(p, "name");
        if (pn && *pn) {
            F(f, "%s.ports[%zu].name", field, i);
            if (kn_port_name(pn))
                rc |= kv_invalid_s(err, f, pn, kn_port_name(pn));
            else if (seen(&pnames, pn))
                rc |= kv_duplicate(err, f, pn);
        }
    }
    json_t *e;
    json_array_foreach(json_object_get(c, "env"), i, e)
    {
        const char *en = kj_str(e, "name");
        F(f, "%s.env[%zu].name", field, i);
        if (!en || !*en)
            rc |= kv_required(err, f, NULL);
        else if (strchr(en, '='))
            rc |= kv_invalid_s(err, f, en,
                               "a valid environment variable name must consist only of printable "
                               "ASCII characters other than '='");
        json_t *vf = json_object_get(e, "valueFrom");
        if (vf && json_object_get(e, "value") && *kj_str_or(e, "value", "")) {
            F(f, "%s.env[%zu].valueFrom", field, i);
            rc |= kv_invalid_raw(err, f, "\"\"", "may not be specified when `value` is not empty");
        }
        if (json_is_object(vf)) {
            F(f, "%s.env[%zu].valueFrom", field, i);
            rc |= validate_env_source(err, vf, f);
        }
    }
    F(f, "%s.resources", field);
    rc |= kp_validate_resources(err, json_object_get(c, "resources"), f);

    bool sidecar = init && strcmp(kj_str_or(c, "restartPolicy", ""), "Always") == 0;
    static const char *const probes[] = {"livenessProbe", "readinessProbe", "startupProbe"};
    for (size_t k = 0; k < 3; k++) {
        json_t *pr = json_object_get(c, probes[k]);
        if (!pr || json_is_null(pr))
            continue;
        F(f, "%s.%s", field, probes[k]);
        if (init && (!sidecar || k == 1))
            rc |= kv_forbidden(err, f,
                               "may not be set for init containers without restartPolicy=Always");
        else
            rc |= validate_probe(err, pr, f, k != 1);
    }
    if (init && json_object_get(c, "lifecycle") && !sidecar) {
        F(f, "%s.lifecycle", field);
        rc |=
            kv_forbidden(err, f, "may not be set for init containers without restartPolicy=Always");
    }
    json_t *rp = json_object_get(c, "restartPolicy");
    if (rp && !json_is_null(rp)) {
        F(f, "%s.restartPolicy", field);
        static const char *const always[] = {"Always", NULL};
        if (!init)
            rc |= kv_forbidden(err, f, "may not be set for non-init containers");
        else
            rc |= kv_enum(err, c, "restartPolicy", f, always, false);
    }
    static const char *const hooks[] = {"postStart", "preStop"};
    for (size_t k = 0; k < 2; k++) {
        json_t *h =
            kj_get(c, "lifecycle") ? json_object_get(kj_get(c, "lifecycle"), hooks[k]) : NULL;
        if (h && !json_is_null(h)) {
            F(f, "%s.lifecycle.%s", field, hooks[k]);
            rc |= validate_handler(err, h, f, false);
        }
    }

    struct names_seen paths = {.n = 0};
    json_t *m;
    json_array_foreach(json_object_get(c, "volumeMounts"), i, m)
    {
        const char *mn = kj_str(m, "name"), *mp = kj_str(m, "mountPath");
        F(f, "%s.volumeMounts[%zu].name", field, i);
        if (!mn || !*mn) {
            rc |= kv_required(err, f, NULL);
        } else {
            bool found = false;
            size_t j;
            json_t *v;
            json_array_foreach(volumes, j, v)
            {
                if (strcmp(kj_str_or(v, "name", ""), mn) == 0)
                    found = true;
            }
            if (!found) {
                char q[160];
                snprintf(q, sizeof(q), "Not found: \"%s\"", mn);
                rc |= bsn_invalid(err, "FieldValueNotFound", f, "%s", q);
            }
        }
        F(f, "%s.volumeMounts[%zu].mountPath", field, i);
        if (!mp || !*mp)
            rc |= kv_required(err, f, NULL);
        else if (seen(&paths, mp))
            rc |= kv_invalid_s(err, f, mp, "must be unique");
        const char *sp = kj_str(m, "subPath");
        if (sp && *sp) {
            F(f, "%s.volumeMounts[%zu].subPath", field, i);
            rc |= validate_local_path(err, sp, f);
        }
    }
    return rc ? -1 : 0;
}

static int
validate_volumes(struct bsn_err *err, const json_t *vols, const char *prefix)
{
    char f[200];
    int rc = 0;
    struct names_seen names = {.n = 0};
    size_t i;
    json_t *v;
    json_array_foreach(vols, i, v)
    {
        const char *name = kj_str(v, "name");
        F(f, "%s.volumes[%zu].name", prefix, i);
        if (!name || !*name)
            rc |= kv_required(err, f, NULL);
        else if (kn_dns1123_label(name))
            rc |= kv_invalid_s(err, f, name, kn_dns1123_label(name));
        else if (seen(&names, name))
            rc |= kv_duplicate(err, f, name);
        int n = 0;
        for (int k = 0; volume_sources[k]; k++) {
            json_t *s = json_object_get(v, volume_sources[k]);
            if (!s || json_is_null(s))
                continue;
            if (++n > 1) {
                F(f, "%s.volumes[%zu].%s", prefix, i, volume_sources[k]);
                rc |= kv_forbidden(err, f, "may not specify more than 1 volume type");
            }
        }
        if (n == 0) {
            F(f, "%s.volumes[%zu]", prefix, i);
            rc |= kv_required(err, f, "must specify a volume type");
        }
        json_t *s;
        if ((s = json_object_get(v, "configMap")) && json_is_object(s)) {
            F(f, "%s.volumes[%zu].configMap.name", prefix, i);
            if (!*kj_str_or(s, "name", ""))
                rc |= kv_required(err, f, NULL);
        }
        if ((s = json_object_get(v, "secret")) && json_is_object(s)) {
            F(f, "%s.volumes[%zu].secret.secretName", prefix, i);
            if (!*kj_str_or(s, "secretName", ""))
                rc |= kv_required(err, f, NULL);
        }
        if ((s = json_object_get(v, "hostPath")) && json_is_object(s)) {
            F(f, "%s.volumes[%zu].hostPath.path", prefix, i);
            if (!*kj_str_or(s, "path", ""))
                rc |= kv_required(err, f, NULL);
        }
        if ((s = json_object_get(v, "persistentVolumeClaim")) && json_is_object(s)) {
            F(f, "%s.volumes[%zu].persistentVolumeClaim.claimName", prefix, i);
            if (!*kj_str_or(s, "claimName", ""))
                rc |= kv_required(err, f, NULL);
        }
        static const char *const itemized[] = {"configMap", "secret", "downwardAPI"};
        for (size_t k = 0; k < BSN_ARRAY_LEN(itemized); k++) {
            json_t *items = kj_get(json_object_get(v, itemized[k]), "items");
            if (!items)
                continue;
            F(f, "%s.volumes[%zu].%s.items", prefix, i, itemized[k]);
            rc |= validate_volume_items(err, items, f, k < 2);
        }
        if ((s = json_object_get(v, "projected")) && json_is_object(s)) {
            size_t j;
            json_t *src;
            json_array_foreach(json_object_get(s, "sources"), j, src)
            {
                static const char *const kinds[] = {"secret", "downwardAPI", "configMap",
                                                    "serviceAccountToken", "clusterTrustBundle"};
                int nsrc = 0;
                for (size_t k = 0; k < BSN_ARRAY_LEN(kinds); k++)
                    if (json_object_get(src, kinds[k]) &&
                        !json_is_null(json_object_get(src, kinds[k])))
                        nsrc++;
                F(f, "%s.volumes[%zu].projected.sources[%zu]", prefix, i, j);
                if (nsrc != 1)
                    rc |=
                        kv_forbidden(err, f, "may not specify more than 1 volume type per source");
                json_t *tok = json_object_get(src, "serviceAccountToken");
                json_int_t exp = kj_int(tok, "expirationSeconds", 3600);
                if (tok && exp < 600) {
                    F(f,
                      "%s.volumes[%zu].projected.sources[%zu].serviceAccountToken."
                      "expirationSeconds",
                      prefix, i, j);
                    rc |= kv_invalid_i(err, f, exp,
                                       "may not specify a duration less than 10 minutes");
                }
            }
        }
        static const char *const moded[] = {"configMap", "secret", "projected", "downwardAPI"};
        for (size_t k = 0; k < BSN_ARRAY_LEN(moded); k++) {
            json_t *dm = kj_get(json_object_get(v, moded[k]), "defaultMode");
            if (dm && json_is_integer(dm) &&
                (json_integer_value(dm) < 0 || json_integer_value(dm) > 0777)) {
                F(f, "%s.volumes[%zu].%s.defaultMode", prefix, i, moded[k]);
                rc |= kv_invalid_i(err, f, json_integer_value(dm),
                                   "must be a number between 0 and 0777 (octal), both inclusive");
            }
        }
    }
    return rc ? -1 : 0;
}

static int
validate_tolerations(struct bsn_err *err, const json_t *tols, const char *prefix)
{
    static const char *const ops[] = {"Equal", "Exists", NULL};
    static const char *const effects[] = {"NoExecute", "NoSchedule", "PreferNoSchedule", NULL};
    char f[200];
    int rc = 0;
    size_t i;
    json_t *t;
    json_array_foreach(tols, i, t)
    {
        const char *key = kj_str(t, "key"), *op = kj_str_or(t, "operator", "Equal");
        F(f, "%s.tolerations[%zu].key", prefix, i);
        if (key && *key && kn_qualified_name(key))
            rc |= kv_invalid_s(err, f, key, kn_qualified_name(key));
        if ((!key || !*key) && strcmp(op, "Exists") != 0)
            rc |= kv_invalid_s(err, f, "",
                               "operator must be Exists when `key` is empty, which means \"match "
                               "all values and all keys\"");
        F(f, "%s.tolerations[%zu].operator", prefix, i);
        rc |= kv_enum(err, t, "operator", f, ops, false);
        if (strcmp(op, "Exists") == 0 && *kj_str_or(t, "value", "")) {
            F(f, "%s.tolerations[%zu].operator", prefix, i);
            rc |= kv_invalid_s(err, f, kj_str(t, "value"),
                               "value must be empty when `operator` is 'Exists'");
        }
        F(f, "%s.tolerations[%zu].effect", prefix, i);
        rc |= kv_enum(err, t, "effect", f, effects, false);
        if (json_object_get(t, "tolerationSeconds") &&
            strcmp(kj_str_or(t, "effect", ""), "NoExecute") != 0) {
            F(f, "%s.tolerations[%zu].effect", prefix, i);
            rc |= kv_invalid_s(err, f, kj_str_or(t, "effect", ""),
                               "effect must be 'NoExecute' when `tolerationSeconds` is set");
        }
    }
    return rc ? -1 : 0;
}

int
kp_validate_podspec(struct bsn_err *err, const json_t *spec, const char *prefix)
{
    char f[200];
    int rc = 0;
    if (!json_is_object(spec)) {
        F(f, "%s.containers", prefix);
        return kv_required(err, f, NULL);
    }
    const json_t *vols = json_object_get(spec, "volumes");
    rc |= validate_volumes(err, vols, prefix);
    struct names_seen cnames = {.n = 0};
    size_t i;
    json_t *c;
    if (kj_len(spec, "containers") == 0) {
        F(f, "%s.containers", prefix);
        rc |= kv_required(err, f, NULL);
    }
    json_array_foreach(json_object_get(spec, "containers"), i, c)
    {
        F(f, "%s.containers[%zu]", prefix, i);
        rc |= validate_container(err, c, f, false, vols, &cnames);
    }
    json_array_foreach(json_object_get(spec, "initContainers"), i, c)
    {
        F(f, "%s.initContainers[%zu]", prefix, i);
        rc |= validate_container(err, c, f, true, vols, &cnames);
    }
    F(f, "%s.restartPolicy", prefix);
    rc |= kv_enum(err, spec, "restartPolicy", f, restart_policies, false);
    F(f, "%s.dnsPolicy", prefix);
    rc |= kv_enum(err, spec, "dnsPolicy", f, dns_policies, false);
    if (strcmp(kj_str_or(spec, "dnsPolicy", ""), "None") == 0 &&
        !json_is_object(json_object_get(spec, "dnsConfig"))) {
        F(f, "%s.dnsConfig", prefix);
        rc |= kv_required(err, f, "must provide `dnsConfig` when `dnsPolicy` is None");
    }
    F(f, "%s.terminationGracePeriodSeconds", prefix);
    rc |= kv_nonneg(err, spec, "terminationGracePeriodSeconds", f);
    json_t *ads = json_object_get(spec, "activeDeadlineSeconds");
    if (ads && !json_is_null(ads) &&
        (!json_is_integer(ads) || json_integer_value(ads) < 1 ||
         json_integer_value(ads) > 2147483647)) {
        F(f, "%s.activeDeadlineSeconds", prefix);
        rc |= kv_invalid_j(err, f, ads, "must be between 1 and 2147483647, inclusive");
    }
    F(f, "%s.nodeSelector", prefix);
    rc |= ks_validate_labels(err, json_object_get(spec, "nodeSelector"), f);
    rc |= validate_tolerations(err, json_object_get(spec, "tolerations"), prefix);
    rc |= kp_validate_scheduling(err, spec, prefix);
    const char *sa = kj_str(spec, "serviceAccountName");
    if (sa && *sa && kn_dns1123_subdomain(sa)) {
        F(f, "%s.serviceAccountName", prefix);
        rc |= kv_invalid_s(err, f, sa, kn_dns1123_subdomain(sa));
    }
    const char *hn = kj_str(spec, "hostname");
    if (hn && *hn && kn_dns1123_label(hn)) {
        F(f, "%s.hostname", prefix);
        rc |= kv_invalid_s(err, f, hn, kn_dns1123_label(hn));
    }
    const char *sd = kj_str(spec, "subdomain");
    if (sd && *sd && kn_dns1123_label(sd)) {
        F(f, "%s.subdomain", prefix);
        rc |= kv_invalid_s(err, f, sd, kn_dns1123_label(sd));
    }
    return rc ? -1 : 0;
}

int
kp_validate_template(struct bsn_err *err, const json_t *tmpl, const char *prefix,
                     const char *const *restart_allowed)
{
    char f[200];
    int rc = 0;
    if (!json_is_object(tmpl)) {
        return kv_required(err, prefix, NULL);
    }
    F(f, "%s.metadata.labels", prefix);
    rc |= ks_validate_labels(err, kj_get(tmpl, "metadata.labels"), f);
    F(f, "%s.spec", prefix);
    rc |= kp_validate_podspec(err, json_object_get(tmpl, "spec"), f);
    if (restart_allowed) {
        F(f, "%s.spec.restartPolicy", prefix);
        const char *rp = kj_str(tmpl, "spec.restartPolicy");
        bool ok = false;
        for (int i = 0; rp && restart_allowed[i]; i++)
            if (strcmp(rp, restart_allowed[i]) == 0)
                ok = true;
        if (rp && !ok)
            rc |= kv_unsupported(err, f, rp, restart_allowed);
    }
    return rc ? -1 : 0;
}

/* ---- QoS ---- */

static bool
nonzero(const json_t *res, const char *sect, const char *name)
{
    json_t *v = kj_get(json_object_get(res, sect), name);
    double q;
    return v && kq_parse(v, &q) == 0 && q != 0;
}

const char *
kp_qos_class(const json_t *spec)
{
    static const char *const lists[] = {"containers", "initContainers"};
    static const char *const names[] = {"cpu", "memory"};
    bool any = false, guaranteed = true;
    for (size_t l = 0; l < 2; l++) {
        size_t i;
        json_t *c;
        json_array_foreach(json_object_get(spec, lists[l]), i, c)
        {
            json_t *res = json_object_get(c, "resources");
            for (size_t k = 0; k < 2; k++) {
                bool req = nonzero(res, "requests", names[k]);
                bool lim = nonzero(res, "limits", names[k]);
                if (req || lim)
                    any = true;
                if (!lim) {
                    guaranteed = false;
                    continue;
                }
                int cmp;
                json_t *rv = kj_get(json_object_get(res, "requests"), names[k]);
                json_t *lv = kj_get(json_object_get(res, "limits"), names[k]);
                if (rv && kq_cmp(rv, lv, &cmp) == 0 && cmp != 0)
                    guaranteed = false;
            }
        }
    }
    if (!any)
        return "BestEffort";
    return guaranteed ? "Guaranteed" : "Burstable";
}
