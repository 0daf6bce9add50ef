#!/usr/bin/env python3
"""gen.py - generates equivalent record sets for the DNS benchmark.

Writes into DIR: records.json (Kubernetes List for `bosun dns`), dnsmasq.conf (host-record,
srv-host), unbound.conf (local-data) and queries.txt (dnsperf input: a fixed mix of A queries
for ClusterIP and headless services, per-pod A queries, SRV queries and NXDOMAINs).
usage: gen.py DIR N_SERVICES DNSMASQ_PORT UNBOUND_PORT
"""
import json
import random
import sys

out, n, dm_port, ub_port = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
zone = "cluster.local"
items, dm, ub, names = [], [], [], {"a": [], "pod": [], "srv": []}
n_headless = n // 5
for i in range(n):
    ns = "ns%d" % (i % 20)
    name = "svc-%d" % i
    fq = "%s.%s.svc.%s" % (name, ns, zone)
    if i < n - n_headless:
        ip = "10.43.%d.%d" % (i // 250, i % 250 + 1)
        items.append({"kind": "Service", "metadata": {"name": name, "namespace": ns},
                      "spec": {"clusterIP": ip, "ports": [{"name": "http", "port": 80}]}})
        dm.append("host-record=%s,%s" % (fq, ip))
        dm.append("srv-host=_http._tcp.%s,%s,80,0,100" % (fq, fq))
        ub.append('local-data: "%s. 5 IN A %s"' % (fq, ip))
        ub.append('local-data: "_http._tcp.%s. 5 IN SRV 0 100 80 %s."' % (fq, fq))
        ub.append('local-data-ptr: "%s %s"' % (ip, fq))
        names["a"].append(fq)
        names["srv"].append("_http._tcp." + fq)
    else:
        items.append({"kind": "Service", "metadata": {"name": name, "namespace": ns},
                      "spec": {"clusterIP": "None", "ports": [{"name": "http", "port": 80}]}})
        addrs = []
        for k in range(3):
            ip = "10.42.%d.%d" % (i // 80, (i % 80) * 3 + k + 1)
            pod = "web-%d" % k
            addrs.append({"ip": ip, "hostname": pod})
            pfq = "%s.%s" % (pod, fq)
            dm.append("host-record=%s,%s" % (fq, ip))
            dm.append("host-record=%s,%s" % (pfq, ip))
            ub.append('local-data: "%s. 5 IN A %s"' % (fq, ip))
            ub.append('local-data: "%s. 5 IN A %s"' % (pfq, ip))
            names["pod"].append(pfq)
        items.append({"kind": "Endpoints", "metadata": {"name": name, "namespace": ns},
                      "subsets": [{"addresses": addrs,
                                   "ports": [{"name": "http", "port": 80, "protocol": "TCP"}]}]})
        names["a"].append(fq)

with open(out + "/records.json", "w") as f:
    json.dump({"apiVersion": "v1", "kind": "List", "items": items}, f)
with open(out + "/dnsmasq.conf", "w") as f:
    f.write("port=%d\nlisten-address=127.0.0.1\nbind-interfaces\nno-resolv\nno-hosts\n"
            "no-negcache\nlocal=/%s/\nlocal-ttl=5\n" % (dm_port, zone))
    f.write("\n".join(dm) + "\n")
with open(out + "/unbound.conf", "w") as f:
    f.write('server:\n  interface: 127.0.0.1@%d\n  port: %d\n  num-threads: 1\n'
            '  do-daemonize: no\n  username: ""\n  chroot: ""\n  directory: "%s"\n'
            '  pidfile: "%s/unbound.pid"\n  use-syslog: no\n  logfile: ""\n  verbosity: 0\n'
            '  do-ip6: no\n  access-control: 127.0.0.0/8 allow\n  module-config: "iterator"\n'
            '  local-zone: "%s." static\n  local-zone: "42.10.in-addr.arpa." static\n'
            '  local-zone: "43.10.in-addr.arpa." static\n' % (ub_port, ub_port, out, out, zone))
    for line in ub:
        f.write("  " + line + "\n")
    f.write("remote-control:\n  control-enable: no\n")
rnd = random.Random(42)
with open(out + "/queries.txt", "w") as f:
    for _ in range(20000):
        r = rnd.random()
        if r < 0.6:
            f.write("%s A\n" % rnd.choice(names["a"]))
        elif r < 0.8:
            f.write("%s A\n" % rnd.choice(names["pod"]))
        elif r < 0.95:
            f.write("%s SRV\n" % rnd.choice(names["srv"]))
        else:
            f.write("missing-%d.ns1.svc.%s A\n" % (rnd.randrange(10000), zone))
print("%d services, %d records for dnsmasq, %d for unbound" % (n, len(dm), len(ub)))
