#!/usr/bin/env python3
"""Watch fan-out latency: N watchers on one resource; the time from a write's acknowledgement
to each watcher receiving the event. Prints p50/p99/max over all (watcher, event) pairs."""
import json, os, socket, ssl, sys, threading, time, http.client

host, port, token, ca = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
nwatch = int(sys.argv[5]) if len(sys.argv) > 5 else 100
nevents = int(sys.argv[6]) if len(sys.argv) > 6 else 20
ctx = ssl.create_default_context(cafile=ca)
ns = "default"
seen = {}  # name -> list of receive times
lock = threading.Lock()
ready = threading.Barrier(nwatch + 1)

def conn():
    return http.client.HTTPSConnection(host, port, context=ctx, timeout=30)

def watcher():
    c = conn()
    c.request("GET", f"/api/v1/namespaces/{ns}/configmaps?watch=1&labelSelector=wl%3D1&resourceVersion={rv}",
              headers={"Authorization": f"Bearer {token}"})
    r = c.getresponse()
    ready.wait()
    got = 0
    buf = b""
    while got < nevents:
        chunk = r.readline()
        if not chunk:
            break
        t = time.perf_counter()
        try:
            ev = json.loads(chunk)
        except ValueError:
            continue
        name = ev["object"]["metadata"].get("name", "")
        with lock:
            seen.setdefault(name, []).append(t)
        got += 1

c0 = conn()
c0.request("GET", f"/api/v1/namespaces/{ns}/configmaps?limit=1", headers={"Authorization": f"Bearer {token}"})
rv = json.loads(c0.getresponse().read())["metadata"]["resourceVersion"]
ths = [threading.Thread(target=watcher, daemon=True) for _ in range(nwatch)]
for t in ths:
    t.start()
ready.wait()
time.sleep(0.5)
acks = {}
w = conn()
for i in range(nevents):
    name = f"wl-{os.getpid()}-{i}"
    body = json.dumps({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "labels": {"wl": "1"}}})
    w.request("POST", f"/api/v1/namespaces/{ns}/configmaps", body=body,
              headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    resp = w.getresponse()
    resp.read()
    acks[name] = time.perf_counter()
    time.sleep(0.05)
for t in ths:
    t.join(timeout=10)
lat = sorted((t - acks[n]) * 1000 for n, ts in seen.items() if n in acks for t in ts)
if not lat:
    print("no events received"); sys.exit(1)
p = lambda q: lat[min(len(lat) - 1, int(q * len(lat)))]
print(f"watch fan-out: {nwatch} watchers x {nevents} events = {len(lat)} deliveries; "
      f"after-ack latency p50 {p(0.5):.2f} ms, p99 {p(0.99):.2f} ms, max {lat[-1]:.2f} ms")
