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
--compare OTHER.so adds the rows without prefix and with the prefixes none
matching for another build of the module, interleaved with the others.

--callgrind counts instructions instead (noise-free on a shared machine):
each redsink row runs under valgrind --tool=callgrind and gets a fixed number
of misses at a low rate; written to build/bench/addresses-callgrind.md.

Every name outside example. goes, in the harness, to a root that NSD refuses:
the zone miss. gets its own stub, and the miss rcodes are printed, so that a
"miss" is a real resolution with an address to check.
"""

import argparse
import ipaddress
import random
import re
import statistics
import subprocess
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


def miss_stub(nsd_port):
    """A stub zone for miss. (the harness sends every name outside example. to a
    stub for the root that NSD refuses: without this, every miss is a SERVFAIL
    with no answer address to check)."""
    return f'\nstub-zone:\n    name: "miss."\n    stub-addr: 127.0.0.1@{nsd_port}\n'


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
    def __init__(self, label, tmp, nsd_port, nets=None, module_so=str(bench.MODULE)):
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
            module = module_so
        self.ub = bench.PinnedUnbound(d / "unbound", nsd_port, module_so=module, env=env,
                                      extra_conf=bench.unbound_conf_extra() + miss_stub(nsd_port), timeout=120)
        self.miss, self.hit = [], []
        self.rcodes = ""

    def stop(self):
        self.ub.stop()
        if self.redis:
            self.redis.stop()


# inclusive counts reported (functions of either version of the module: before and after the memo)
CG_FUNCS = ["first_visit", "cached_addr_blocked", "match_answer", "rs_list_match_addr_skip", "rs_addr_memo_get"]


def callgrind_misses(args, tmp, nsd_port, nets):
    """Instructions per cache miss under callgrind (noise-free), per configuration.

    Each configuration gets its own Unbound (2 worker threads, as in
    callgrind.py) under callgrind; --cg-warm misses first (delegations and
    infrastructure cached), then the counters are zeroed and --cg-queries
    misses (every one a new name) are sent once, at a low rate, and dumped.
    Reported: whole-process instructions per answered miss (worker threads,
    sync thread and all), the inclusive count of the module's address-check
    functions, and the functions whose inclusive count grew most against the
    row without prefixes."""
    import callgrind
    cfgs = [("redsink, no prefix", []),
            (f"redsink, {len(nets)} prefixes, none matching", nets),
            (f"redsink, {len(nets) + 2} prefixes, every miss blocked", nets + [MISS_A + "/32", MISS_AAAA + "/128"])]
    results = []
    for ci, (label, cnets) in enumerate(cfgs):
        d = tmp / f"cg{ci}"
        redis = harness.Redis(d / "redis")
        ub = None
        try:
            load_prefixes(redis.client(), cnets)
            conf = d / "redsink.conf"
            conf.write_text(f"read-redis: {redis.url}\nsinkhole-ipv4: {bench.SINK}\nresolver-name: bench\n")
            extra = bench.unbound_conf_extra(callgrind.THREADS) + miss_stub(nsd_port)
            ub = callgrind.CallgrindUnbound(d / "unbound", nsd_port, module_so=args.module,
                                            env={"REDSINK_CONF": str(conf)}, extra_conf=extra, timeout=300)
            # the list is loaded at init; check the row does what it says
            want = bench.SINK if MISS_A + "/32" in cnets else MISS_A
            for _ in range(10):  # the first recursions under valgrind may time out
                got = bench.first_a(ub.port, f"probe{ci}.miss", timeout=10)
                if got == want:
                    break
                time.sleep(1)
            if got != want:
                raise RuntimeError(f"{label}: probe{ci}.miss answered {got}, not {want}")
            warm = d / "warm.txt"
            bench.write_queries(warm, [f"w{ci}-{i}.miss" for i in range(args.cg_warm)])
            subprocess.run(["dnsperf", "-s", "127.0.0.1", "-p", str(ub.port), "-d", str(warm), "-n", "1", "-Q",
                            str(args.cg_rate), "-t", "10"], capture_output=True, text=True, check=True)
            time.sleep(1)
            subprocess.run(["callgrind_control", "--zero", str(ub.pid)], capture_output=True, check=True)
            qf = d / "miss.txt"
            bench.write_queries(qf, [f"m{ci}-{i}.miss" for i in range(args.cg_queries)])
            out = subprocess.run(["dnsperf", "-s", "127.0.0.1", "-p", str(ub.port), "-d", str(qf), "-n", "1", "-Q",
                                  str(args.cg_rate), "-t", "10"], capture_output=True, text=True, check=True).stdout
            done = int(re.search(r"Queries completed:\s+(\d+)", out).group(1))
            rcodes = re.search(r"Response codes:\s+(.*)", out).group(1).strip()
            subprocess.run(["callgrind_control", "--dump=misses", str(ub.pid)], capture_output=True, check=True)
            time.sleep(1)
        finally:
            if ub:
                ub.stop()
            redis.stop()
        f = d / "unbound" / "callgrind.out.1"
        txt = subprocess.run(["callgrind_annotate", "--auto=no", str(f)], capture_output=True, text=True).stdout
        total = int(re.search(r"([\d,]+)\s+(?:\([^)]*\)\s+)?PROGRAM TOTALS", txt).group(1).replace(",", ""))
        incl = {}
        for n, _, fn in callgrind.annotate(f, True):
            incl[fn] = max(incl.get(fn, 0), n)  # a function may be listed under two file names
        results.append((label, done, rcodes, total, incl))
        bench.log(f"{label}: {done} misses answered ({rcodes}): {total / max(done, 1):.0f} instructions/miss")
    base = results[0]
    per = lambda r, fn: r[4].get(fn, 0) / max(r[1], 1)  # noqa: E731
    lines = ["| configuration | misses | whole process, instructions per miss | × no prefix | `operate` inclusive "
             "| Δ `operate` | " + " | ".join(f"`{fn}`" for fn in CG_FUNCS) + " | upstream TCP (noise) |",
             "|---|---|---|---|---|---|" + "---|" * (len(CG_FUNCS) + 1)]
    for r in results:
        label, done, rcodes, total, incl = r
        whole = total / max(done, 1)
        lines.append(f"| {label} | {done} | {whole:.0f} | ×{whole / (base[3] / max(base[1], 1)):.4f} | "
                     f"{per(r, 'operate'):.0f} | {per(r, 'operate') - per(base, 'operate'):+.0f} | "
                     + " | ".join(f"{per(r, fn):.0f}" for fn in CG_FUNCS) + f" | {per(r, 'outnet_tcp_cb'):.0f} |")
    growth = []
    for label, done, rcodes, total, incl in results[1:]:
        diff = sorted(((incl.get(fn, 0) / max(done, 1) - base[4].get(fn, 0) / max(base[1], 1), fn)
                       for fn in set(incl) | set(base[4])), reverse=True)[:15]
        growth.append(f"\n{label}: inclusive instructions per miss grown most against no prefix:\n"
                      + "\n".join(f"    {dv:+8.0f}  {fn}" for dv, fn in diff))
    md = (f"Run {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} (callgrind, {args.cg_queries} misses after "
          f"{args.cg_warm} warm-up misses, 2 worker threads); {bench.versions()}.\n\n" + "\n".join(lines) + "\n"
          + "\n".join(growth) + "\n")
    print(md)
    (bench.OUT / "addresses-callgrind.md").write_text(md)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=bench.argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--prefixes", type=int, default=10000)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--duration", type=int, default=5)
    ap.add_argument("--quick", action="store_true", help="1,000 prefixes, 2 runs of 2 s")
    ap.add_argument("--module", default=str(bench.MODULE), help="redsink.so to load (default: %(default)s)")
    ap.add_argument("--compare", metavar="SO", help="another redsink.so (e.g. an older build): its rows without "
                    "prefix and with the prefixes none matching are interleaved with the others")
    ap.add_argument("--callgrind", action="store_true",
                    help="instructions per cache miss under valgrind --tool=callgrind instead of dnsperf timings")
    ap.add_argument("--cg-queries", type=int, default=1000, help="--callgrind: misses counted")
    ap.add_argument("--cg-warm", type=int, default=200, help="--callgrind: misses sent before counting")
    ap.add_argument("--cg-rate", type=int, default=50,
                    help="--callgrind: queries per second (more and Unbound under valgrind falls behind, times "
                         "its upstream out and retries over TCP, which swamps the difference measured)")
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
    if args.callgrind:
        try:
            callgrind_misses(args, tmp, nsd.port, nets)
        finally:
            nsd.stop()
            harness.stop_all()
        return
    try:
        rows.append(Row("plain Unbound", tmp, nsd.port))
        rows.append(Row("redsink, no prefix", tmp, nsd.port, nets=[], module_so=args.module))
        rows.append(Row(f"redsink, {len(nets)} prefixes, none matching", tmp, nsd.port, nets=nets,
                        module_so=args.module))
        rows.append(Row(f"redsink, {len(nets) + 2} prefixes, every miss blocked", tmp, nsd.port,
                        nets=nets + [MISS_A + "/32", MISS_AAAA + "/128"], module_so=args.module))
        if args.compare:
            rows.append(Row("compared module, no prefix", tmp, nsd.port, nets=[], module_so=args.compare))
            rows.append(Row(f"compared module, {len(nets)} prefixes, none matching", tmp, nsd.port, nets=nets,
                            module_so=args.compare))
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
                r.rcodes = rcodes
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
             "| × redsink no prefix | lost | miss rcodes (last run) |", "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r.label} | {med(r.miss, 0):.0f} | {med(r.miss, 1):.2f} | "
                     f"×{med(r.miss, 1) / med(base.miss, 1):.3f} | {med(r.hit, 0):.0f} | {med(r.hit, 1):.2f} | "
                     f"×{med(r.hit, 1) / med(base.hit, 1):.3f} | {sum(x[2] for x in r.miss + r.hit)} | {r.rcodes} |")
    md = (f"Run {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} on {bench.machine()}; {bench.versions()}; "
          f"median of {args.runs} interleaved runs of {args.duration} s per row and query kind.\n\n"
          + "\n".join(lines) + "\n")
    print(md)
    (bench.OUT / "addresses.md").write_text(md)


if __name__ == "__main__":
    main()
