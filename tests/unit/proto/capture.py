#!/usr/bin/env python3
"""capture.py - a tiny fake API server that records request bodies, used to capture the
protobuf bodies real kubectl sends (tests/unit/proto/data/*.pb).

Usage: capture.py PORT OUTDIR; point a kubeconfig at http://127.0.0.1:PORT and run e.g.
`kubectl create configmap cm1 --from-literal=a=b`. Discovery (/api, /apis, resource lists) is
answered with just enough for kubectl create/run/expose/autoscale/drain/create token; each
POST/PUT/PATCH/DELETE body is written to OUTDIR/NN_METHOD_path.bin and echoed back."""
import http.server, json, sys, os, itertools
OUT = sys.argv[2]
os.makedirs(OUT, exist_ok=True)
cnt = itertools.count()
GROUPS = ["apps/v1","batch/v1","networking.k8s.io/v1","policy/v1","autoscaling/v1","autoscaling/v2","scheduling.k8s.io/v1","discovery.k8s.io/v1","coordination.k8s.io/v1","authentication.k8s.io/v1"]
def res(name, kind, ns=True, verbs=("create","get","list","delete","patch","update"), sub=()):
    return {"name": name, "singularName": "", "namespaced": ns, "kind": kind, "verbs": list(verbs)}
RL = {
 "/api/v1": {"kind":"APIResourceList","groupVersion":"v1","resources":[res("pods","Pod"),dict(res("pods/eviction","Eviction",verbs=("create",)), group="policy", version="v1"),res("services","Service"),res("configmaps","ConfigMap"),res("secrets","Secret"),res("namespaces","Namespace",False),res("nodes","Node",False),res("serviceaccounts","ServiceAccount"),res("serviceaccounts/token","TokenRequest",verbs=("create",)),res("resourcequotas","ResourceQuota"),res("replicationcontrollers","ReplicationController")]},
 "/apis/apps/v1": {"kind":"APIResourceList","groupVersion":"apps/v1","resources":[res("deployments","Deployment"),res("deployments/scale","Scale",verbs=("get","update","patch")),res("replicasets","ReplicaSet"),res("statefulsets","StatefulSet"),res("daemonsets","DaemonSet")]},
 "/apis/autoscaling/v2": {"kind":"APIResourceList","groupVersion":"autoscaling/v2","resources":[res("horizontalpodautoscalers","HorizontalPodAutoscaler")]},
 "/apis/autoscaling/v1": {"kind":"APIResourceList","groupVersion":"autoscaling/v1","resources":[res("horizontalpodautoscalers","HorizontalPodAutoscaler")]},
 "/apis/batch/v1": {"kind":"APIResourceList","groupVersion":"batch/v1","resources":[res("jobs","Job"),res("cronjobs","CronJob")]},
 "/apis/policy/v1": {"kind":"APIResourceList","groupVersion":"policy/v1","resources":[res("poddisruptionbudgets","PodDisruptionBudget")]},
 "/apis/authentication.k8s.io/v1": {"kind":"APIResourceList","groupVersion":"authentication.k8s.io/v1","resources":[res("tokenreviews","TokenReview",False,("create",))]},
}
for gv in GROUPS:
    RL.setdefault("/apis/" + gv, {"kind":"APIResourceList","groupVersion":gv,"resources":[]})
DEP = {"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"web","namespace":"default","uid":"u1","resourceVersion":"5"},
       "spec":{"replicas":1,"selector":{"matchLabels":{"app":"web"}},"template":{"metadata":{"labels":{"app":"web"}},"spec":{"containers":[{"name":"nginx","image":"nginx","ports":[{"containerPort":80,"protocol":"TCP"}]}]}}}}
POD = {"apiVersion":"v1","kind":"Pod","metadata":{"name":"p1","namespace":"default","uid":"pu1","resourceVersion":"7","ownerReferences":[{"apiVersion":"apps/v1","kind":"ReplicaSet","name":"web-1","uid":"rs1","controller":True}]},"spec":{"nodeName":"n1","containers":[{"name":"c","image":"nginx"}]},"status":{"phase":"Running"}}
CANNED = {
 "/apis/apps/v1/namespaces/default/deployments/web": DEP,
 "/api/v1/nodes/n1": {"apiVersion":"v1","kind":"Node","metadata":{"name":"n1","resourceVersion":"3"},"spec":{}},
 "/api/v1/pods": {"apiVersion":"v1","kind":"PodList","metadata":{"resourceVersion":"9"},"items":[POD]},
 "/api/v1/namespaces/default/serviceaccounts/sa1": {"apiVersion":"v1","kind":"ServiceAccount","metadata":{"name":"sa1","namespace":"default"}},
}
class H(http.server.BaseHTTPRequestHandler):
    def log_message(self, *a):
        sys.stderr.write("%s %s %s\n" % (self.command, self.path, self.headers.get('Content-Type')))
    def send(self, code, body, ct="application/json"):
        self.send_response(code); self.send_header("Content-Type", ct)
        self.send_header("Content-Length", str(len(body))); self.end_headers(); self.wfile.write(body)
    def do_GET(self):
        p = self.path.split('?')[0]
        if p == "/api":
            return self.send(200, json.dumps({"kind":"APIVersions","versions":["v1"],"serverAddressByClientCIDRs":[{"clientCIDR":"0.0.0.0/0","serverAddress":"127.0.0.1"}]}).encode())
        if p == "/apis":
            gs = []
            for gv in GROUPS:
                g, v = gv.split('/')
                gs.append({"name": g, "versions":[{"groupVersion":gv,"version":v}], "preferredVersion":{"groupVersion":gv,"version":v}})
            # merge autoscaling
            m = {}
            for x in gs:
                if x["name"] in m: m[x["name"]]["versions"].append(x["versions"][0])
                else: m[x["name"]] = x
            for x in m.values(): x["preferredVersion"] = x["versions"][-1]
            return self.send(200, json.dumps({"kind":"APIGroupList","apiVersion":"v1","groups":list(m.values())}).encode())
        if p in CANNED:
            return self.send(200, json.dumps(CANNED[p]).encode())
        if p in RL:
            return self.send(200, json.dumps(RL[p]).encode())
        self.send(404, json.dumps({"kind":"Status","apiVersion":"v1","status":"Failure","reason":"NotFound","code":404}).encode())
    def body(self):
        n = int(self.headers.get('Content-Length') or 0)
        b = self.rfile.read(n)
        i = next(cnt)
        name = "%02d_%s_%s" % (i, self.command, self.path.split('?')[0].strip('/').replace('/', '_'))
        with open(os.path.join(OUT, name + ".bin"), "wb") as f: f.write(b)
        with open(os.path.join(OUT, name + ".hdr"), "w") as f: f.write(str(self.headers))
        return b
    def do_POST(self):
        b = self.body()
        self.send(201, b, self.headers.get('Content-Type') or "application/json")
    do_PUT = do_POST
    def do_PATCH(self):
        b = self.body(); self.send(200, b, "application/json")
    def do_DELETE(self):
        b = self.body(); self.send(200, json.dumps({"kind":"Status","apiVersion":"v1","status":"Success"}).encode())
http.server.ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
