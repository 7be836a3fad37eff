"""redsink benchmark: the cost of the answer-address check (issue 13).

An address trigger is checked at the module's moddone, that is on cache misses
only: a cache hit is answered by Unbound's worker before any module runs. This
measures both, side by side in one run, on loopback:

  - cache misses: every query a new name under a wildcard zone served by NSD
    (`*.miss.` A and AAAA), so each one costs a full recursion to NSD;
  - cache hits: the unblocked names of zones/example.zone, all cached.

Rows: plain Unbound; Unbound + redsink with an empty list; Unbound + redsink with
10,000 listed prefixes (IPv4 /24 and /32, IPv6 /48 and /128) that do not hold the
answers' addresses (the check runs, nothing is blocked); and the same with the
answers' address listed (every miss is blocked by address). The figure is the
resolver's CPU time per answered query (utime+stime around the run), median of
--runs runs; the runs of all rows are interleaved so that each ratio compares
neighbours in time. Results: printed and written to build/bench/addresses.md.
"""

import argparse
import ipaddress
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import bench  # noqa: E402
from bench import harness  # noqa: E402

MISS_A = "198.51.100.77"
MISS_AAAA = "2001:db8:1::77"


def miss_zone(path):
    path.write_text("$TTL 3600\n@ SOA ns.miss. hostmaster.miss. 1 3600 900 604800 300\n@ NS ns.miss.\n"
                    "ns A 127.0.0.1\n"
                    f"* A {MISS_A}\n* AAAA {MISS_AAAA}\n")


def prefixes(n, seed=13):
    """n distinct prefixes, none holding MISS_A or MISS_AAAA."""
    rnd = random.Random(seed)
    out = set()
    avoid4 = ipaddress.ip_address(MISS_A)
    avoid6 = ipaddress.ip_address(MISS_AAAA)
    while len(out) < n:
        k = rnd.random()
        if k < 0.4:
            p = ipaddress.ip_network((rnd.getrandbits(32) & 0xFFFFFF00, 24))
        elif k < 0.7:
            p = ipaddress.ip_network((rnd.getrandbits(32), 32))
        elif k < 0.9:
            p = ipaddress.ip_network((rnd.getrandbits(128) & ~((1 << 80) - 1), 48))
        else:
            p = ipaddress.ip_network((rnd.getrandbits(128), 128))
        if avoid4 in p if p.version == 4 else avoid6 in p:
            continue
        out.add(str(p))
    return sorted(out)


def load_prefixes(client, nets, oid="bench"):
    p = client.pipeline(transaction=False)
    p.hset("redsink:order:" + oid, mapping={"authority": "Bench Court", "reference": "BENCH-IP", "scope": "*",
                                            "action": "sinkhole", "reason": "benchmark"})
    p.sadd("redsink:orders", oid)
    for i in range(0, len(nets), 5000):
        p.sadd("redsink:order:" + oid + ":ips", *nets[i:i + 5000])
    p.execute()


class Row:
    def __init__(self, label, tmp, nsd_port, nets=None):
        self.label = label
        self.redis = None
        env = module = None
        d = tmp / label.replace(" ", "-").replace(",", "")
        if nets is not None:
            self.redis = harness.Redis(d / "redis")
            load_prefixes(self.redis.client(), nets)
            conf = d / "redsink.conf"
            conf.write_text(f"read-redis: {self.redis.url}\nsinkhole-ipv4: {bench.SINK}\nresolver-name: bench\n")
            env = {"REDSINK_CONF": str(conf)}
            module = str(bench.MODULE)
        self.ub = bench.PinnedUnbound(d / "unbound", nsd_port, module_so=module, env=env,
                                      extra_conf=bench.unbound_conf_extra(), timeout=120)
        self.miss, self.hit = [], []

    def stop(self):
        self.ub.stop()
        if self.redis:
            self.redis.stop()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=bench.argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--prefixes", type=int, default=10000)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--duration", type=int, default=5)
    ap.add_argument("--quick", action="store_true", help="1,000 prefixes, 2 runs of 2 s")
    args = ap.parse_args()
    if args.quick:
        args.prefixes, args.runs, args.duration = 1000, 2, 2
    tmp = Path(tempfile.mkdtemp(prefix="redsink-bench-addr-"))
    bench.OUT.mkdir(parents=True, exist_ok=True)
    zone = tmp / "miss.zone"
    miss_zone(zone)
    nets = prefixes(args.prefixes)
    rows = []
    nsd = harness.Nsd(tmp / "nsd", zones={"example.": harness.ZONE_FILE, "miss.": zone})
    try:
        rows.append(Row("plain Unbound", tmp, nsd.port))
        rows.append(Row("redsink, no prefix", tmp, nsd.port, nets=[]))
        rows.append(Row(f"redsink, {len(nets)} prefixes, none matching", tmp, nsd.port, nets=nets))
        rows.append(Row(f"redsink, {len(nets) + 2} prefixes, every miss blocked", tmp, nsd.port,
                        nets=nets + [MISS_A + "/32", MISS_AAAA + "/128"]))
        hits = tmp / "hits.txt"
        bench.write_queries(hits, bench.UNBLOCKED * 1000)
        for r in rows:
            for n in bench.UNBLOCKED:
                bench.first_a(r.ub.port, n)
        time.sleep(1.0)
        serial = 0
        for run in range(args.runs):
            for r in rows:
                serial += 1
                qf = tmp / f"miss-{serial}.txt"
                # more unique names than one run can send: every query is a miss
                bench.write_queries(qf, [f"r{serial}-{i}.miss" for i in range(60000 * args.duration)])
                qps, done, cpu, lost, rcodes = bench.dnsperf(r.ub.port, qf, args.duration, r.ub.pid)
                r.miss.append((qps, cpu, lost))
                qps, done, cpu, lost, _ = bench.dnsperf(r.ub.port, hits, args.duration, r.ub.pid)
                r.hit.append((qps, cpu, lost))
                qf.unlink()
            bench.log(f"run {run + 1}/{args.runs} done")
    finally:
        for r in rows:
            r.stop()
        nsd.stop()
        harness.stop_all()
    base = rows[1]
    med = lambda v, i: statistics.median(x[i] for x in v)  # noqa: E731
    lines = ["| configuration | miss QPS | miss µs CPU/query | × redsink no prefix | hit QPS | hit µs CPU/query "
             "| × redsink no prefix | lost |", "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r.label} | {med(r.miss, 0):.0f} | {med(r.miss, 1):.2f} | "
                     f"×{med(r.miss, 1) / med(base.miss, 1):.3f} | {med(r.hit, 0):.0f} | {med(r.hit, 1):.2f} | "
                     f"×{med(r.hit, 1) / med(base.hit, 1):.3f} | {sum(x[2] for x in r.miss + r.hit)} |")
    md = (f"Run {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} on {bench.machine()}; {bench.versions()}; "
          f"median of {args.runs} interleaved runs of {args.duration} s per row and query kind.\n\n"
          + "\n".join(lines) + "\n")
    print(md)
    (bench.OUT / "addresses.md").write_text(md)


if __name__ == "__main__":
    main()
