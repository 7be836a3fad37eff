#!/usr/bin/env python3
"""Blocked answers against cache hits, hot and distinct (issue 15, "Blocked answers at cache-hit cost").

bench.py compares blocked names with cache hits of a handful of unblocked names: every one of
those hits is served from the CPU caches, while 10,000 distinct blocked names miss them in
Unbound's message and RRset caches and in the list. This runs the four cases side by side on one
Unbound with the module and N listed names (gen.py), each after a warm-up pass, so that every
query of the measured runs is a message-cache hit:

  hot unblocked       8 names of zones/example.zone, repeated
  distinct unblocked  10,000 names under *.wild.example (the zone's wildcard)
  hot blocked         8 listed names, repeated
  distinct blocked    10,000 listed names (half as www. subdomains)

and reports QPS and CPU per query (µs, the resolver's utime+stime per answered query; Unbound
pinned to CPU 0, dnsperf to CPU 1), the median of --runs runs of --duration seconds, runs of the
four cases interleaved.

Usage: tests/bench/blocked.py [--names N] [--runs R] [--duration S]
"""

import argparse
import statistics
import sys
import types

import bench


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--names", type=int, default=100_000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--duration", type=int, default=10)
    a = ap.parse_args()
    b = bench.Bench(types.SimpleNamespace(sizes=[a.names], runs=a.runs, duration=a.duration, update_trials=1,
                                          quick=True, publish=False))
    listed = b.names[:a.names]
    step = max(1, len(listed) // 10000)
    sample = listed[::step][:10000]
    cases = {
        "hot unblocked": bench.UNBLOCKED[:8],
        "distinct unblocked": [f"n{i}.wild.example" for i in range(10000)],
        "hot blocked": sample[:8],
        "distinct blocked": [n if i % 2 == 0 else "www." + n for i, n in enumerate(sample)],
    }
    files = {}
    for k, names in cases.items():
        files[k] = b.tmp / f"q-{k.replace(' ', '-')}.txt"
        bench.write_queries(files[k], names * max(1, 10000 // len(names)))
    try:
        ub, redis, _ = b.start_resolver("redsink", a.names)
        try:
            for k, names in cases.items():       # warm-up: every measured query is a cache hit
                for n in names:
                    for attempt in range(3):
                        try:
                            bench.first_a(ub.port, n, timeout=2.0)
                            break
                        except Exception:  # noqa: BLE001 - a lost packet on a loaded machine
                            pass
            res = {k: [] for k in cases}
            for _ in range(a.runs):
                for k in cases:
                    res[k].append(bench.dnsperf(ub.port, files[k], a.duration, ub.pid))
        finally:
            ub.stop()
            redis.stop()
        base = statistics.median(r[2] for r in res["hot unblocked"])
        dbase = statistics.median(r[2] for r in res["distinct unblocked"])
        print(f"{a.names} listed names, {a.runs} runs of {a.duration} s each")
        print("| case | QPS | µs CPU per query | × hot unblocked | × distinct unblocked | rcodes |")
        print("|---|---|---|---|---|---|")
        for k in cases:
            qps = statistics.median(r[0] for r in res[k])
            cpu = statistics.median(r[2] for r in res[k])
            print(f"| {k} | {qps:,.0f} | {cpu:.2f} | ×{cpu / base:.2f} | ×{cpu / dbase:.2f} | {res[k][-1][4]} |")
    finally:
        b.nsd.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
