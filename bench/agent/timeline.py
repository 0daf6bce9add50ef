#!/usr/bin/env python3
"""Where a burst's pod start time goes, from an agent's debug log (LOG_LEVEL=debug
KEEP_LOGS=DIR bench/agent/run.sh, then: bench/agent/timeline.py DIR/agent-oci.log).
Per sandbox: the pod seen -> sandbox made, waiting for a CNI worker, the ADD (and each
plugin), ADD result -> bundle made (loop turns, image check, environment), `runc run`, and the
pod's status writes (count, time each took on the API client, runc's end -> the Ready write
answered). Prints p50 / p90 / max in ms over the sandboxes that got as far as `runc run`."""
import datetime
import re
import sys


def ms(stamp):
    return datetime.datetime.strptime(stamp[:23], "%Y-%m-%dT%H:%M:%S.%f").timestamp() * 1000


def pct(xs):
    if not xs:
        return "(none)"
    xs = sorted(xs)
    return "p50 %6.0f  p90 %6.0f  max %6.0f" % (xs[len(xs) // 2], xs[int(len(xs) * 0.9)], xs[-1])


sb, pods = {}, {}
plugins = []
for line in open(sys.argv[1]):
    m = re.match(r"(\S+) debug (?:runtime|cni): sandbox (\w{12})(?: container \S+)?: (.*)", line)
    if m:
        t, d, rest = ms(m.group(1)), sb.setdefault(m.group(2), {}), m.group(3)
        if rest.startswith("network namespace"):
            d["ns"] = t
        elif rest.startswith("ADD starts"):
            d["queued"] = t
        elif rest.startswith("bundle"):
            d["bundle"], d["bundle_ms"] = t, int(rest.split()[1])
        elif " run " in rest:
            took = int(rest.split(" run ")[1].split()[0])
            d["run_end"], d["run_start"] = t, t - took
        else:
            p = re.match(r"([\w-]+) ADD (\d+) ms", rest)
            if p:
                d["add_end"] = t
                d["pl_" + p.group(1)] = int(p.group(2))
                if p.group(1) not in plugins:
                    plugins.append(p.group(1))
        continue
    m = re.match(r"(\S+) debug agent: pod (\S+): sandbox (\w{12}) \((\d+) ms after", line)
    if m:
        pods[m.group(2)] = {"sb": m.group(3), "seen": int(m.group(4)), "writes": []}
        continue
    m = re.match(r"(\S+) debug agent: pod (\S+): status write \d+: HTTP \d+ in (\d+) ms", line)
    if m and m.group(2) in pods:
        pods[m.group(2)]["writes"].append((ms(m.group(1)), int(m.group(3))))

need = ("ns", "queued", "add_end", "bundle", "run_end")
rows = [d for d in sb.values() if all(k in d for k in need)]
print("%d sandboxes with the whole path" % len(rows))
print("CNI queue        ", pct([d["queued"] - d["ns"] for d in rows]))
print("ADD              ", pct([d["add_end"] - d["queued"] for d in rows]))
for p in plugins:
    print("  %-15s" % p, pct([d["pl_" + p] for d in rows if "pl_" + p in d]))
print("ADD -> bundle    ", pct([d["bundle"] - d["add_end"] for d in rows]))
print("bundle itself    ", pct([d["bundle_ms"] for d in rows]))
print("bundle -> runc   ", pct([d["run_start"] - d["bundle"] for d in rows]))
print("runc run         ", pct([d["run_end"] - d["run_start"] for d in rows]))
print("netns -> runc end", pct([d["run_end"] - d["ns"] for d in rows]))
ok = [p for p in pods.values() if p["sb"] in sb and "run_end" in sb[p["sb"]]]
print("seen -> sandbox  ", pct([p["seen"] for p in ok]))
print("status writes/pod", pct([len(p["writes"]) for p in ok]))
print("status write     ", pct([w[1] for p in ok for w in p["writes"]]))
ready = []
for p in ok:
    end = sb[p["sb"]]["run_end"]
    after = [w for w in p["writes"] if w[0] - w[1] >= end - 1]
    if after:
        ready.append(after[0][0] - end)
print("runc end -> Ready write answered", pct(ready))
