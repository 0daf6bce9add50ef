#!/usr/bin/env python3
"""Pod startup latency: creates N pods bound to NODE (a long sleep, no probes) and measures
each from its creation request to the watch event that shows it Ready.
usage: podlat.py URL TOKEN CA NODE N"""
import http.client, json, ssl, sys, threading, time

url, token, ca, node, n = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5])
host, port = url.split("//")[1].split(":")
ctx = ssl.create_default_context(cafile=ca)
hdr = {"Authorization": "Bearer " + token, "Content-Type": "application/json"}
tag = "%d" % int(time.time())
created, ready = {}, {}
done = threading.Event()
ns = "default"


def watch():
    c = http.client.HTTPSConnection(host, int(port), context=ctx)
    c.request("GET", f"/api/v1/namespaces/{ns}/pods?watch=1&labelSelector=podlat%3D{tag}", headers=hdr)
    r = c.getresponse()
    while not done.is_set():
        line = r.readline()
        if not line:
            return
        obj = json.loads(line)["object"]
        name = obj["metadata"]["name"]
        for cond in obj.get("status", {}).get("conditions", []):
            if cond["type"] == "Ready" and cond["status"] == "True" and name not in ready:
                ready[name] = time.monotonic()
        if len(ready) >= n:
            done.set()


threading.Thread(target=watch, daemon=True).start()
time.sleep(0.5)
c = http.client.HTTPSConnection(host, int(port), context=ctx)
for i in range(n):
    name = f"podlat-{tag}-{i}"
    pod = {"apiVersion": "v1", "kind": "Pod",
           "metadata": {"name": name, "labels": {"podlat": tag}},
           "spec": {"nodeName": node, "terminationGracePeriodSeconds": 0,
                    "containers": [{"name": "c", "image": "host", "command": ["sleep", "3600"]}]}}
    created[name] = time.monotonic()
    c.request("POST", f"/api/v1/namespaces/{ns}/pods", body=json.dumps(pod), headers=hdr)
    resp = c.getresponse()
    resp.read()
    assert resp.status == 201, resp.status
    time.sleep(0.02)
done.wait(120)
lat = sorted((ready[k] - created[k]) * 1000 for k in ready)
if not lat:
    print("no pod became Ready")
    sys.exit(1)
pct = lambda p: lat[min(len(lat) - 1, int(len(lat) * p / 100))]
print(f"pod startup (create -> Ready via watch), {len(lat)}/{n} pods: p50 {pct(50):.1f} ms, "
      f"p99 {pct(99):.1f} ms, max {lat[-1]:.1f} ms (target p99 <= 100 ms process runtime)")
# clean up
c.request("DELETE", f"/api/v1/namespaces/{ns}/pods?labelSelector=podlat%3D{tag}", headers=hdr)
c.getresponse().read()
