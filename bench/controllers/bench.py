#!/usr/bin/env python3
"""Controllers and scheduler benchmark on simulated nodes (see run.sh).

Talks plain HTTP to a `bosun server --insecure-http --simulate-nodes N` and measures:
  sched    scheduler throughput: a ReplicaSet's pods are created while every node is cordoned,
           then all nodes are uncordoned at once; pods/s = pods / time until all are bound
  deploy   a Deployment of R replicas from apply to availableReplicas == R
  rolling  `set image` on it until the rollout is complete (maxSurge 25%)
  rss      server RSS with P pods running
  idle     server CPU over 30 s with nothing changing (after 10 s to settle)
Each timed figure also prints the server's CPU time (utime + stime) over the measured window:
on a shared machine that is steadier than the wall-clock figure.
"""
import http.client
import json
import os
import sys
import threading
import time

HOST, PORT = "127.0.0.1", int(os.environ.get("PORT", "18443"))
PID = int(os.environ.get("SERVER_PID", "0"))
_local = threading.local()


def conn():
    c = getattr(_local, "c", None)
    if c is None:
        c = http.client.HTTPConnection(HOST, PORT, timeout=600)
        _local.c = c
    return c


def req(method, path, body=None, ctype="application/json"):
    data = json.dumps(body).encode() if body is not None else None
    for attempt in range(3):
        try:
            c = conn()
            c.request(method, path, body=data, headers={"Content-Type": ctype} if data else {})
            r = c.getresponse()
            raw = r.read()
            return r.status, (json.loads(raw) if raw and raw[:1] == b"{" else None)
        except (ConnectionError, http.client.HTTPException):
            _local.c = None
    raise RuntimeError("request failed: %s %s" % (method, path))


def ensure_ns(ns):
    req("POST", "/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}})


def nodes():
    st, body = req("GET", "/api/v1/nodes")
    return [n["metadata"]["name"] for n in body["items"]]


def set_cordon(names, on):
    def work(chunk):
        for n in chunk:
            req("PATCH", "/api/v1/nodes/" + n, {"spec": {"unschedulable": on}}, "application/merge-patch+json")
    chunks = [names[i::8] for i in range(8)]
    ts = [threading.Thread(target=work, args=(c,)) for c in chunks]
    [t.start() for t in ts]
    [t.join() for t in ts]


def count_pods(ns, field=None):
    path = "/api/v1/namespaces/%s/pods" % ns
    if field:
        path += "?fieldSelector=" + field
    st, body = req("GET", path)
    return len(body["items"])


def template(app, image, cpu="10m"):
    return {"metadata": {"labels": {"app": app}},
            "spec": {"containers": [{"name": "c", "image": image,
                                     "resources": {"requests": {"cpu": cpu, "memory": "16Mi"}}}]}}


def wait(pred, timeout=300, step=0.02):
    t0 = time.time()
    while time.time() - t0 < timeout:
        if pred():
            return time.time() - t0
        time.sleep(step)
    raise RuntimeError("timeout")


def bench_sched(n):
    ns = "bench-sched"
    ensure_ns(ns)
    names = nodes()
    set_cordon(names, True)
    time.sleep(0.5)
    rs = {"apiVersion": "apps/v1", "kind": "ReplicaSet", "metadata": {"name": "s", "namespace": ns},
          "spec": {"replicas": n, "selector": {"matchLabels": {"app": "s"}}, "template": template("s", "x")}}
    req("POST", "/apis/apps/v1/namespaces/%s/replicasets" % ns, rs)
    wait(lambda: count_pods(ns) >= n, step=0.2)
    time.sleep(1.0)  # let the scheduler mark them all unschedulable
    t0, c0 = time.time(), cpu_ticks()
    set_cordon(names, False)
    wait(lambda: count_pods(ns, "spec.nodeName=") == 0, step=0.01)
    dt = time.time() - t0
    return n / dt, dt, (cpu_ticks() - c0) / os.sysconf("SC_CLK_TCK")


def deploy_status(ns, name):
    st, d = req("GET", "/apis/apps/v1/namespaces/%s/deployments/%s" % (ns, name))
    return d


def rolled_out(ns, name, r):
    d = deploy_status(ns, name)
    s = d.get("status", {})
    return (s.get("observedGeneration", 0) >= d["metadata"].get("generation", 1) and
            s.get("updatedReplicas", 0) == r and s.get("replicas", 0) == r and
            s.get("availableReplicas", 0) == r)


def bench_deploy(r):
    ns = "bench-deploy"
    ensure_ns(ns)
    d = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "namespace": ns},
         "spec": {"replicas": r, "selector": {"matchLabels": {"app": "web"}},
                  "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}},
                  "template": template("web", "web:1")}}
    t0, c0 = time.time(), cpu_ticks()
    req("POST", "/apis/apps/v1/namespaces/%s/deployments" % ns, d)
    wait(lambda: rolled_out(ns, "web", r), step=0.05)
    t_create = time.time() - t0
    t0 = time.time()
    req("PATCH", "/apis/apps/v1/namespaces/%s/deployments/web" % ns,
        {"spec": {"template": {"spec": {"containers": [{"name": "c", "image": "web:2"}]}}}},
        "application/strategic-merge-patch+json")
    time.sleep(0.05)
    wait(lambda: rolled_out(ns, "web", r), step=0.05)
    t_roll = time.time() - t0
    return t_create, t_roll, (cpu_ticks() - c0) / os.sysconf("SC_CLK_TCK")


def rss_kb():
    with open("/proc/%d/status" % PID) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def cpu_ticks():
    with open("/proc/%d/stat" % PID) as f:
        parts = f.read().rsplit(")", 1)[1].split()
    return int(parts[11]) + int(parts[12])


def bench_rss(p):
    ns = "bench-rss"
    ensure_ns(ns)
    d = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "big", "namespace": ns},
         "spec": {"replicas": p, "selector": {"matchLabels": {"app": "big"}}, "template": template("big", "big:1", "1m")}}
    t0 = time.time()
    req("POST", "/apis/apps/v1/namespaces/%s/deployments" % ns, d)
    wait(lambda: rolled_out(ns, "big", p), timeout=900, step=1.0)
    t = time.time() - t0
    time.sleep(2)
    return rss_kb(), t


def bench_idle(secs=30):
    time.sleep(10)  # let the last rollout's events and status writes settle
    hz = os.sysconf("SC_CLK_TCK")
    c0 = cpu_ticks()
    time.sleep(secs)
    return (cpu_ticks() - c0) / hz / secs * 100.0


if __name__ == "__main__":
    what = sys.argv[1]
    if what == "sched":
        rate, dt, cpu = bench_sched(int(sys.argv[2]))
        print("scheduler: %d pods bound in %.2f s = %.0f pods/s (server CPU %.2f s)" %
              (int(sys.argv[2]), dt, rate, cpu))
    elif what == "deploy":
        tc, tr, cpu = bench_deploy(int(sys.argv[2]))
        print("deployment %s replicas: all available in %.2f s; rolling update complete in %.2f s "
              "(server CPU %.2f s for both)" % (sys.argv[2], tc, tr, cpu))
    elif what == "rss":
        kb, t = bench_rss(int(sys.argv[2]))
        print("%s pods running (%.1f s to available): server RSS %.1f MB" % (sys.argv[2], t, kb / 1024))
    elif what == "idle":
        print("idle CPU over 30 s: %.2f%% of one core" % bench_idle())
