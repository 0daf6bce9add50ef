#!/usr/bin/env python3
"""Pod startup latency of a node agent: creates N pods bound to NODE (IMAGE running COMMAND,
no probes, no pull: the image is already in the node's store) and measures each from its
creation request to the watch event that shows it Ready. With --rss PID it also prints that
process's RSS once all pods are Ready; the pods are deleted at the end and the script waits
until the watch has seen every one of them go.
usage: podlat.py URL TOKEN CA NODE N IMAGE [--rss PID] [--gap-ms 20] [--keep FILE]
  --keep FILE: leave the pods running and write their label selector to FILE"""
import argparse, http.client, json, ssl, sys, threading, time

ap = argparse.ArgumentParser()
for a in ("url", "token", "ca", "node"):
    ap.add_argument(a)
ap.add_argument("n", type=int)
ap.add_argument("image")
ap.add_argument("--rss", type=int, default=0)
ap.add_argument("--gap-ms", type=float, default=20)
ap.add_argument("--cmd", default="sleep 3600")
args = ap.parse_args()

host, port = args.url.split("//")[1].split(":")
ctx = ssl.create_default_context(cafile=args.ca)
hdr = {"Authorization": "Bearer " + args.token, "Content-Type": "application/json"}
tag = "%d" % int(time.time() * 1000)
ns = "default"
created, ready, gone = {}, {}, set()
all_ready, all_gone = threading.Event(), threading.Event()


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def watch():
    c = http.client.HTTPSConnection(host, int(port), context=ctx)
    c.request("GET", f"/api/v1/namespaces/{ns}/pods?watch=1&labelSelector=podlat%3D{tag}",
              headers=hdr)
    r = c.getresponse()
    while True:
        line = r.readline()
        if not line:
            return
        ev = json.loads(line)
        obj = ev["object"]
        name = obj["metadata"]["name"]
        if ev["type"] == "DELETED":
            gone.add(name)
            if len(gone) >= args.n:
                all_gone.set()
            continue
        for cond in obj.get("status", {}).get("conditions", []):
            if cond["type"] == "Ready" and cond["status"] == "True" and name not in ready:
                ready[name] = time.monotonic()
        if len(ready) >= args.n:
            all_ready.set()


threading.Thread(target=watch, daemon=True).start()
time.sleep(0.5)
c = http.client.HTTPSConnection(host, int(port), context=ctx)
t_post = time.monotonic()
for i in range(args.n):
    name = f"podlat-{tag}-{i}"
    pod = {"apiVersion": "v1", "kind": "Pod",
           "metadata": {"name": name, "labels": {"podlat": tag}},
           "spec": {"nodeName": args.node, "terminationGracePeriodSeconds": 1,
                    "containers": [{"name": "c", "image": args.image,
                                    "imagePullPolicy": "Never",
                                    "command": args.cmd.split()}]}}
    created[name] = time.monotonic()
    c.request("POST", f"/api/v1/namespaces/{ns}/pods", body=json.dumps(pod), headers=hdr)
    resp = c.getresponse()
    resp.read()
    assert resp.status == 201, resp.status
    time.sleep(args.gap_ms / 1000)
t_post = time.monotonic() - t_post
all_ready.wait(300)
lat = sorted((ready[k] - created[k]) * 1000 for k in ready)
if not lat:
    print("no pod became Ready")
    sys.exit(1)
pct = lambda p: lat[min(len(lat) - 1, int(len(lat) * p / 100))]
print(f"pod startup (create -> Ready via watch), {len(lat)}/{args.n} pods, image {args.image}: "
      f"p50 {pct(50):.1f} ms, p99 {pct(99):.1f} ms, max {lat[-1]:.1f} ms "
      f"(posted over {t_post:.1f} s)")
if args.rss:
    time.sleep(2)
    print(f"RSS with {len(lat)} pods running: {rss_kib(args.rss)} KiB (pid {args.rss})")
t0 = time.monotonic()
c.request("DELETE", f"/api/v1/namespaces/{ns}/pods?labelSelector=podlat%3D{tag}", headers=hdr)
c.getresponse().read()
all_gone.wait(300)
print(f"deleting {args.n} pods until all are gone: {(time.monotonic() - t0):.1f} s "
      f"({len(gone)}/{args.n} gone)")
sys.exit(0 if len(lat) == args.n and len(gone) == args.n else 1)
