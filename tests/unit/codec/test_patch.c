/*
 * test_patch.c - table-driven tests for JSON Patch (RFC 6902), JSON Merge Patch (RFC 7386)
 * and strategic merge patch, including the patches `kubectl apply` sends.
 *
 * Cases are written with single quotes for readability; they are turned into JSON by q().
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/mem.h"
#include "codec/json.h"
#include "codec/patch.h"

static json_t *
q(const char *s)
{
    char *t = bsn_strdup(s);
    for (char *p = t; *p; p++)
        if (*p == '\'')
            *p = '"';
    json_error_t je;
    json_t *v = json_loads(t, JSON_DECODE_ANY, &je);
    if (!v)
        printf("bad test JSON: %s: %s\n", t, je.text);
    free(t);
    assert_non_null(v);
    return v;
}

static void
expect_equal(const char *name, const json_t *got, const json_t *want)
{
    if (!bsn_json_equal(got, want)) {
        char *g = bsn_json_dump(got), *w = bsn_json_dump(want);
        printf("%s:\n  got  %s\n  want %s\n", name, g, w);
        free(g);
        free(w);
        fail();
    }
}

/* ---- JSON Patch ---- */

struct jp_case {
    const char *name, *doc, *patch, *want; /* want NULL: must fail */
    int code;                              /* expected error code when failing */
};

static const struct jp_case jp_cases[] = {
    {"add member", "{'foo':'bar'}", "[{'op':'add','path':'/baz','value':'qux'}]",
     "{'baz':'qux','foo':'bar'}", 0},
    {"add array element", "{'foo':['bar','baz']}", "[{'op':'add','path':'/foo/1','value':'qux'}]",
     "{'foo':['bar','qux','baz']}", 0},
    {"add at end with -", "{'a':[1]}", "[{'op':'add','path':'/a/-','value':2}]", "{'a':[1,2]}", 0},
    {"add at index == len", "{'a':[1]}", "[{'op':'add','path':'/a/1','value':2}]", "{'a':[1,2]}",
     0},
    {"add replaces member", "{'a':1}", "[{'op':'add','path':'/a','value':[2]}]", "{'a':[2]}", 0},
    {"add nested object", "{'m':{}}", "[{'op':'add','path':'/m/labels','value':{'x':'y'}}]",
     "{'m':{'labels':{'x':'y'}}}", 0},
    {"remove member", "{'baz':'qux','foo':'bar'}", "[{'op':'remove','path':'/baz'}]",
     "{'foo':'bar'}", 0},
    {"remove element", "{'foo':['bar','qux','baz']}", "[{'op':'remove','path':'/foo/1'}]",
     "{'foo':['bar','baz']}", 0},
    {"replace", "{'baz':'qux','foo':'bar'}", "[{'op':'replace','path':'/baz','value':'boo'}]",
     "{'baz':'boo','foo':'bar'}", 0},
    {"replace root", "{'a':1}", "[{'op':'replace','path':'','value':[1]}]", "[1]", 0},
    {"move member", "{'foo':{'bar':'baz','waldo':'fred'},'qux':{'corge':'grault'}}",
     "[{'op':'move','from':'/foo/waldo','path':'/qux/thud'}]",
     "{'foo':{'bar':'baz'},'qux':{'corge':'grault','thud':'fred'}}", 0},
    {"move element", "{'foo':['all','grass','cows','eat']}",
     "[{'op':'move','from':'/foo/1','path':'/foo/3'}]", "{'foo':['all','cows','eat','grass']}", 0},
    {"copy", "{'a':{'b':1}}", "[{'op':'copy','from':'/a','path':'/c'}]",
     "{'a':{'b':1},'c':{'b':1}}", 0},
    {"test ok then add", "{'baz':'qux','foo':['a',2,'c']}",
     "[{'op':'test','path':'/baz','value':'qux'},{'op':'test','path':'/foo/1','value':2.0},"
     "{'op':'add','path':'/x','value':1}]",
     "{'baz':'qux','foo':['a',2,'c'],'x':1}", 0},
    {"escapes ~0 ~1", "{'/':9,'~1':10,'a/b':1}",
     "[{'op':'test','path':'/~01','value':10},{'op':'replace','path':'/a~1b','value':2}]",
     "{'/':9,'~1':10,'a/b':2}", 0},
    {"empty key", "{'':1}", "[{'op':'replace','path':'/','value':2}]", "{'':2}", 0},
    {"metadata labels add", "{'metadata':{'name':'x'}}",
     "[{'op':'add','path':'/metadata/labels','value':{}},"
     "{'op':'add','path':'/metadata/labels/app.kubernetes.io~1name','value':'web'}]",
     "{'metadata':{'name':'x','labels':{'app.kubernetes.io/name':'web'}}}", 0},
    {"test fails", "{'baz':'qux'}", "[{'op':'test','path':'/baz','value':'bar'}]", NULL, 422},
    {"missing parent", "{'a':1}", "[{'op':'add','path':'/b/c','value':1}]", NULL, 422},
    {"remove missing", "{'a':1}", "[{'op':'remove','path':'/b'}]", NULL, 422},
    {"replace missing", "{'a':1}", "[{'op':'replace','path':'/b','value':1}]", NULL, 422},
    {"index out of range", "{'a':[1]}", "[{'op':'add','path':'/a/5','value':1}]", NULL, 422},
    {"leading zero index", "{'a':[1,2]}", "[{'op':'remove','path':'/a/01'}]", NULL, 422},
    {"move into child", "{'a':{'b':{}}}", "[{'op':'move','from':'/a','path':'/a/b/c'}]", NULL, 422},
    {"bad escape", "{'a':1}", "[{'op':'remove','path':'/a~2'}]", NULL, 400},
    {"unknown op", "{'a':1}", "[{'op':'frob','path':'/a'}]", NULL, 400},
    {"missing op", "{'a':1}", "[{'path':'/a'}]", NULL, 400},
    {"missing value", "{'a':1}", "[{'op':'add','path':'/b'}]", NULL, 400},
    {"not an array", "{'a':1}", "{'op':'add'}", NULL, 400},
    {"atomic: later op fails", "{'a':1}",
     "[{'op':'add','path':'/b','value':2},{'op':'remove','path':'/zzz'}]", NULL, 422},
};

static void
test_json_patch(void **state)
{
    for (size_t i = 0; i < BSN_ARRAY_LEN(jp_cases); i++) {
        const struct jp_case *c = &jp_cases[i];
        json_t *doc = q(c->doc), *orig = q(c->doc), *patch = q(c->patch);
        struct bsn_err err;
        bsn_err_clear(&err);
        int rc = bsn_json_patch_apply(&doc, patch, &err);
        if (c->want) {
            if (rc != 0)
                printf("%s: %s\n", c->name, err.msg);
            assert_int_equal(rc, 0);
            json_t *want = q(c->want);
            expect_equal(c->name, doc, want);
            json_decref(want);
        } else {
            if (rc == 0)
                printf("%s: expected failure\n", c->name);
            assert_int_equal(rc, -1);
            assert_int_equal(err.code, c->code);
            expect_equal(c->name, doc, orig); /* unchanged */
        }
        json_decref(doc);
        json_decref(orig);
        json_decref(patch);
    }
    json_t *doc = q("{'a':{'b':[1,{'c':2}]}}");
    assert_int_equal(json_integer_value(bsn_json_pointer_get(doc, "/a/b/1/c")), 2);
    assert_null(bsn_json_pointer_get(doc, "/a/b/2"));
    assert_ptr_equal(bsn_json_pointer_get(doc, ""), doc);
    json_decref(doc);
}

/* ---- Merge Patch: RFC 7386 appendix A plus a Kubernetes object ---- */

static const char *const mp_cases[][3] = {
    {"{'a':'b'}", "{'a':'c'}", "{'a':'c'}"},
    {"{'a':'b'}", "{'b':'c'}", "{'a':'b','b':'c'}"},
    {"{'a':'b'}", "{'a':null}", "{}"},
    {"{'a':'b','b':'c'}", "{'a':null}", "{'b':'c'}"},
    {"{'a':['b']}", "{'a':'c'}", "{'a':'c'}"},
    {"{'a':'c'}", "{'a':['b']}", "{'a':['b']}"},
    {"{'a':{'b':'c'}}", "{'a':{'b':'d','c':null}}", "{'a':{'b':'d'}}"},
    {"{'a':[{'b':'c'}]}", "{'a':[1]}", "{'a':[1]}"},
    {"['a','b']", "['c','d']", "['c','d']"},
    {"{'a':'b'}", "['c']", "['c']"},
    {"{'a':'foo'}", "null", "null"},
    {"{'a':'foo'}", "'bar'", "'bar'"},
    {"{'e':null}", "{'a':1}", "{'e':null,'a':1}"},
    {"[1,2]", "{'a':'b','c':null}", "{'a':'b'}"},
    {"{}", "{'a':{'bb':{'ccc':null}}}", "{'a':{'bb':{}}}"},
    {"{'metadata':{'labels':{'a':'1','b':'2'}},'spec':{'replicas':1,'template':{'x':[1,2]}}}",
     "{'metadata':{'labels':{'a':null,'c':'3'}},'spec':{'replicas':3,'template':{'x':[3]}}}",
     "{'metadata':{'labels':{'b':'2','c':'3'}},'spec':{'replicas':3,'template':{'x':[3]}}}"},
};

static void
test_merge_patch(void **state)
{
    for (size_t i = 0; i < BSN_ARRAY_LEN(mp_cases); i++) {
        json_t *t = q(mp_cases[i][0]), *p = q(mp_cases[i][1]), *w = q(mp_cases[i][2]);
        json_t *t_before = json_deep_copy(t);
        json_t *got = bsn_merge_patch_apply(t, p);
        char name[32];
        snprintf(name, sizeof(name), "merge case %zu", i);
        expect_equal(name, got, w);
        expect_equal(name, t, t_before); /* target not modified */
        json_decref(got);
        json_decref(t);
        json_decref(p);
        json_decref(w);
        json_decref(t_before);
    }
    json_t *p = q("{'a':1}");
    json_t *got = bsn_merge_patch_apply(NULL, p);
    expect_equal("null target", got, p);
    json_decref(got);
    json_decref(p);
}

/* ---- Strategic merge patch ---- */

#define DEPLOY                                                                                     \
    "{'apiVersion':'apps/v1','kind':'Deployment','metadata':{'name':'web','labels':{'app':'web'}," \
    "'finalizers':['a','b']},"                                                                     \
    "'spec':{'replicas':2,'strategy':{'type':'RollingUpdate','rollingUpdate':{'maxSurge':1}},"     \
    "'template':{'metadata':{'labels':{'app':'web','tier':'fe'}},'spec':{"                         \
    "'containers':[{'name':'app','image':'nginx:1.24','ports':[{'containerPort':80},"              \
    "{'containerPort':443}],'env':[{'name':'A','value':'1'},{'name':'B','value':'2'}],"            \
    "'args':['--x','--y'],'resources':{'limits':{'cpu':'1','memory':'1Gi'}}},"                     \
    "{'name':'sidecar','image':'envoy:1'}],"                                                       \
    "'tolerations':[{'key':'k1','operator':'Exists'}],"                                            \
    "'volumes':[{'name':'data','emptyDir':{}},{'name':'cfg','configMap':{'name':'c'}}]}}}}"

struct smp_case {
    const char *name, *group, *kind, *doc, *patch;
    /* checks: dotted-pointer -> expected JSON (NULL value: path must be absent) */
    const char *checks[6][2];
    int code; /* non-zero: must fail with this code */
};

static const struct smp_case smp_cases[] = {
    {"replicas",
     "apps",
     "Deployment",
     DEPLOY,
     "{'spec':{'replicas':5}}",
     {{"/spec/replicas", "5"},
      {"/spec/template/spec/containers/0/image", "'nginx:1.24'"},
      {"/spec/template/spec/containers/1/name", "'sidecar'"}},
     0},
    {"image by container name",
     "apps",
     "Deployment",
     DEPLOY,
     "{'spec':{'template':{'spec':{'containers':[{'name':'sidecar','image':'envoy:2'}]}}}}",
     {{"/spec/template/spec/containers/1/image", "'envoy:2'"},
      {"/spec/template/spec/containers/0/image", "'nginx:1.24'"},
      {"/spec/template/spec/containers/2", NULL}},
     0},
    {"env merged by name, args replaced, resources merged",
     "apps",
     "Deployment",
     DEPLOY,
     "{'spec':{'template':{'spec':{'containers':[{'name':'app','env':[{'name':'B','value':'3'},"
     "{'name':'C','value':'4'}],'args':['--z'],'resources':{'limits':{'cpu':'2'}}}]}}}}",
     {{"/spec/template/spec/containers/0/env",
       "[{'name':'A','value':'1'},{'name':'B','value':'3'},{'name':'C','value':'4'}]"},
      {"/spec/template/spec/containers/0/args", "['--z']"},
      {"/spec/template/spec/containers/0/resources/limits", "{'cpu':'2','memory':'1Gi'}"}},
     0},
    {"ports by containerPort",
     "apps",
     "Deployment",
     DEPLOY,
     "{'spec':{'template':{'spec':{'containers':[{'name':'app','ports':[{'containerPort':443,"
     "'name':'https'},{'containerPort':8080}]}]}}}}",
     {{"/spec/template/spec/containers/0/ports",
       "[{'containerPort':80},{'containerPort':443,'name':'https'},{'containerPort':8080}]"}},
     0},
    {"kubectl apply removes a container",
     "apps",
     "Deployment",
     DEPLOY,
     "{'spec':{'template':{'spec':{'$setElementOrder/containers':[{'name':'app'}],"
     "'containers':[{'$patch':'delete','name':'sidecar'}]}}}}",
     {{"/spec/template/spec/containers/1", NULL},
      {"/spec/template/spec/containers/0/name", "'app'"}},
     0},
    {"kubectl apply: image + new env + reorder",
     "apps",
     "Deployment",
     DEPLOY,
     "{'spec':{'template':{'spec':{'$setElementOrder/containers':[{'name':'sidecar'},"
     "{'name':'app'}],'containers':[{'$setElementOrder/env':[{'name':'A'},{'name':'D'},"
     "{'name':'B'}],'env':[{'name':'D','value':'9'}],'image':'nginx:1.25','name':'app'}]}}}}",
     {{"/spec/template/spec/containers/0/name", "'sidecar'"},
      {"/spec/template/spec/containers/1/image", "'nginx:1.25'"},
      {"/spec/template/spec/containers/1/env",
       "[{'name':'A','value':'1'},{'name':'D','value':'9'},{'name':'B','value':'2'}]"}},
     0},
    {"tolerations are atomic",
     "apps",
     "Deployment",
     DEPLOY,
     "{'spec':{'template':{'spec':{'tolerations':[{'key':'k2','operator':'Exists'}]}}}}",
     {{"/spec/template/spec/tolerations", "[{'key':'k2','operator':'Exists'}]"}},
     0},
    {"null deletes, labels map merges",
     "apps",
     "Deployment",
     DEPLOY,
     "{'metadata':{'labels':{'app':null,'v':'2'}},'spec':{'template':{'metadata':{'labels':"
     "{'tier':null}}}}}",
     {{"/metadata/labels", "{'v':'2'}"}, {"/spec/template/metadata/labels", "{'app':'web'}"}},
     0},
    {"$patch replace on a map",
     "apps",
     "Deployment",
     DEPLOY,
     "{'spec':{'template':{'metadata':{'labels':{'$patch':'replace','only':'me'}}}}}",
     {{"/spec/template/metadata/labels", "{'only':'me'}"}},
     0},
    {"$patch delete on a map",
     "apps",
     "Deployment",
     DEPLOY,
     "{'spec':{'strategy':{'$patch':'delete'}}}",
     {{"/spec/strategy", "{}"}},
     0},
    {"$retainKeys on strategy",
     "apps",
     "Deployment",
     DEPLOY,
     "{'spec':{'strategy':{'$retainKeys':['type'],'type':'Recreate'}}}",
     {{"/spec/strategy", "{'type':'Recreate'}"}},
     0},
    {"finalizers merge as a set and $deleteFromPrimitiveList",
     "apps",
     "Deployment",
     DEPLOY,
     "{'metadata':{'finalizers':['c','a'],'$deleteFromPrimitiveList/finalizers':['b']}}",
     {{"/metadata/finalizers", "['a','c']"}},
     0},
    {"$patch replace on a list",
     "apps",
     "Deployment",
     DEPLOY,
     "{'spec':{'template':{'spec':{'containers':[{'$patch':'replace'},{'name':'only',"
     "'image':'x'}]}}}}",
     {{"/spec/template/spec/containers", "[{'name':'only','image':'x'}]"}},
     0},
    {"volumes by name",
     "apps",
     "Deployment",
     DEPLOY,
     "{'spec':{'template':{'spec':{'volumes':[{'name':'cfg','$retainKeys':['name','secret'],"
     "'secret':{'secretName':'s'}},{'name':'new','emptyDir':{}}]}}}}",
     {{"/spec/template/spec/volumes",
       "[{'name':'data','emptyDir':{}},{'name':'cfg','secret':{'secretName':'s'}},"
       "{'name':'new','emptyDir':{}}]"}},
     0},
    {"missing merge key",
     "apps",
     "Deployment",
     DEPLOY,
     "{'spec':{'template':{'spec':{'containers':[{'image':'x'}]}}}}",
     {{NULL, NULL}},
     422},
    {"unknown $patch",
     "apps",
     "Deployment",
     DEPLOY,
     "{'spec':{'$patch':'frob'}}",
     {{NULL, NULL}},
     400},
    {"pod: containers, imagePullSecrets, hostAliases",
     "",
     "Pod",
     "{'metadata':{'name':'p','ownerReferences':[{'uid':'u1','name':'rs'}]},'spec':{"
     "'containers':[{'name':'a','image':'i','volumeMounts':[{'mountPath':'/d','name':'v'}]}],"
     "'imagePullSecrets':[{'name':'r1'}],'hostAliases':[{'ip':'1.1.1.1','hostnames':['a']}]}}",
     "{'metadata':{'ownerReferences':[{'uid':'u2','name':'rs2'}]},'spec':{'containers':[{"
     "'name':'a','volumeMounts':[{'mountPath':'/e','name':'w'}]}],'imagePullSecrets':[{'name':"
     "'r2'}],'hostAliases':[{'ip':'1.1.1.1','hostnames':['b']}]}}",
     {{"/metadata/ownerReferences", "[{'uid':'u1','name':'rs'},{'uid':'u2','name':'rs2'}]"},
      {"/spec/containers/0/volumeMounts",
       "[{'mountPath':'/d','name':'v'},{'mountPath':'/e','name':'w'}]"},
      {"/spec/imagePullSecrets", "[{'name':'r1'},{'name':'r2'}]"},
      {"/spec/hostAliases", "[{'ip':'1.1.1.1','hostnames':['b']}]"}},
     0},
    {"pod status conditions by type",
     "",
     "Pod",
     "{'status':{'conditions':[{'type':'Ready','status':'False'},{'type':'Scheduled',"
     "'status':'True'}]}}",
     "{'status':{'conditions':[{'type':'Ready','status':'True'}]}}",
     {{"/status/conditions",
       "[{'type':'Ready','status':'True'},{'type':'Scheduled','status':'True'}]"}},
     0},
    {"service ports by port",
     "",
     "Service",
     "{'spec':{'ports':[{'port':80,'targetPort':8080},{'port':443}],'selector':{'a':'b'}}}",
     "{'spec':{'ports':[{'port':80,'targetPort':9090}],'selector':{'c':'d'}}}",
     {{"/spec/ports", "[{'port':80,'targetPort':9090},{'port':443}]"},
      {"/spec/selector", "{'a':'b','c':'d'}"}},
     0},
    {"cronjob jobTemplate reaches PodSpec",
     "batch",
     "CronJob",
     "{'spec':{'schedule':'* * * * *','jobTemplate':{'spec':{'template':{'spec':{'containers':"
     "[{'name':'a','image':'1'},{'name':'b','image':'1'}]}}}}}}",
     "{'spec':{'jobTemplate':{'spec':{'template':{'spec':{'containers':[{'name':'b','image':"
     "'2'}]}}}}}}",
     {{"/spec/jobTemplate/spec/template/spec/containers",
       "[{'name':'a','image':'1'},{'name':'b','image':'2'}]"}},
     0},
    {"statefulset and daemonset templates",
     "apps",
     "StatefulSet",
     "{'spec':{'template':{'spec':{'containers':[{'name':'a','image':'1'}]}}}}",
     "{'spec':{'template':{'spec':{'initContainers':[{'name':'i','image':'x'}],'containers':"
     "[{'name':'z','image':'2'}]}}}}",
     {{"/spec/template/spec/containers", "[{'name':'a','image':'1'},{'name':'z','image':'2'}]"},
      {"/spec/template/spec/initContainers", "[{'name':'i','image':'x'}]"}},
     0},
    {"custom resource: maps merge, lists replace",
     "example.com",
     "Widget",
     "{'spec':{'items':[{'name':'a'}],'size':{'w':1,'h':2}}}",
     "{'spec':{'items':[{'name':'b'}],'size':{'w':3}}}",
     {{"/spec/items", "[{'name':'b'}]"}, {"/spec/size", "{'w':3,'h':2}"}},
     0},
    {"built-in kind without table row: metadata typed",
     "networking.k8s.io",
     "Ingress",
     "{'metadata':{'finalizers':['x']},'spec':{'rules':[{'host':'a'}]}}",
     "{'metadata':{'finalizers':['y']},'spec':{'rules':[{'host':'b'}]}}",
     {{"/metadata/finalizers", "['x','y']"}, {"/spec/rules", "[{'host':'b'}]"}},
     0},
    {"new subtree drops directives",
     "apps",
     "Deployment",
     "{'spec':{}}",
     "{'spec':{'template':{'spec':{'$setElementOrder/containers':[{'name':'a'}],'containers':["
     "{'name':'a','image':'x'},{'name':'gone','$patch':'delete'}]}}}}",
     {{"/spec/template/spec", "{'containers':[{'name':'a','image':'x'}]}"}},
     0},
    {"node spec podCIDRs and status addresses",
     "",
     "Node",
     "{'spec':{'podCIDRs':['10.42.0.0/24']},'status':{'addresses':[{'type':'InternalIP',"
     "'address':'1.2.3.4'}]}}",
     "{'spec':{'podCIDRs':['fd00::/64']},'status':{'addresses':[{'type':'Hostname','address':"
     "'n1'}]}}",
     {{"/spec/podCIDRs", "['10.42.0.0/24','fd00::/64']"},
      {"/status/addresses",
       "[{'type':'InternalIP','address':'1.2.3.4'},{'type':'Hostname','address':'n1'}]"}},
     0},
};

static void
test_smp(void **state)
{
    for (size_t i = 0; i < BSN_ARRAY_LEN(smp_cases); i++) {
        const struct smp_case *c = &smp_cases[i];
        json_t *doc = q(c->doc), *orig = q(c->doc), *patch = q(c->patch);
        json_t *held = json_incref(doc); /* someone else holding the old object */
        struct bsn_err err;
        bsn_err_clear(&err);
        int rc = bsn_smp_apply(&doc, patch, c->group, c->kind, &err);
        if (c->code) {
            if (rc == 0)
                printf("%s: expected failure\n", c->name);
            assert_int_equal(rc, -1);
            assert_int_equal(err.code, c->code);
            expect_equal(c->name, doc, orig);
        } else {
            if (rc != 0)
                printf("%s: %s\n", c->name, err.msg);
            assert_int_equal(rc, 0);
            for (int k = 0; k < 6 && c->checks[k][0]; k++) {
                json_t *got = bsn_json_pointer_get(doc, c->checks[k][0]);
                char name[256];
                snprintf(name, sizeof(name), "%s: %s", c->name, c->checks[k][0]);
                if (!c->checks[k][1]) {
                    if (got) {
                        char *g = bsn_json_dump(got);
                        printf("%s: expected absent, got %s\n", name, g);
                        free(g);
                        fail();
                    }
                    continue;
                }
                if (!got)
                    printf("%s: missing\n", name);
                assert_non_null(got);
                json_t *want = q(c->checks[k][1]);
                expect_equal(name, got, want);
                json_decref(want);
            }
            expect_equal(c->name, held, orig); /* the old object is never modified */
        }
        json_decref(held);
        json_decref(doc);
        json_decref(orig);
        json_decref(patch);
    }
}

static void
test_smp_supported(void **state)
{
    assert_true(bsn_smp_supported("", "Pod"));
    assert_true(bsn_smp_supported("apps", "Deployment"));
    assert_true(bsn_smp_supported("networking.k8s.io", "Ingress"));
    assert_false(bsn_smp_supported("example.com", "Widget"));
    assert_false(bsn_smp_supported("stable.example.com", "CronTab"));
}

static void
test_smp_large_list_linear(void **state)
{
    /* 20k containers merged with 20k patch items: must be fast (hash join, not n*m) */
    json_t *doc = json_object(), *patch = json_object();
    json_t *a = json_array(), *b = json_array(), *order = json_array();
    for (int i = 0; i < 20000; i++) {
        char n[32];
        snprintf(n, sizeof(n), "c%d", i);
        json_array_append_new(a, json_pack("{s:s,s:s}", "name", n, "image", "old"));
        json_array_append_new(b, json_pack("{s:s,s:s}", "name", n, "image", "new"));
        json_array_insert_new(order, 0, json_pack("{s:s}", "name", n)); /* reversed */
    }
    json_object_set_new(doc, "spec", json_pack("{s:o}", "containers", a));
    json_object_set_new(
        patch, "spec",
        json_pack("{s:o,s:o}", "containers", b, "$setElementOrder/containers", order));
    struct bsn_err err;
    assert_int_equal(bsn_smp_apply(&doc, patch, "", "Pod", &err), 0);
    json_t *l = bsn_json_pointer_get(doc, "/spec/containers");
    assert_int_equal(json_array_size(l), 20000);
    assert_string_equal(json_string_value(json_object_get(json_array_get(l, 19999), "image")),
                        "new");
    assert_string_equal(json_string_value(json_object_get(json_array_get(l, 19999), "name")), "c0");
    assert_string_equal(json_string_value(json_object_get(json_array_get(l, 0), "name")), "c19999");
    json_decref(doc);
    json_decref(patch);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_json_patch),
        cmocka_unit_test(test_merge_patch),
        cmocka_unit_test(test_smp),
        cmocka_unit_test(test_smp_supported),
        cmocka_unit_test(test_smp_large_list_linear),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
