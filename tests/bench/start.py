#!/usr/bin/env python3
"""Start -> first blocked answer (issue 15, "Start as fast as a memory-mapped store").

For a list of N generated names (gen.py, as bench.py): redsink loads it from Redis and
writes its snapshot; then, Redis stopped, Unbound is started again and again from the
snapshot, and plain Unbound (no module) as the reference. Each start is timed from
spawning the process to the first answer (the sinkhole address for a listed name; for
plain Unbound any answer), polled every millisecond with a 3 ms query timeout: the
harness's own readiness wait (0.5 s query timeouts) would hide what is measured here.
Unbound runs with one thread pinned to CPU 0, as in bench.py. With --dnsdist, the issue's
memory-mapped peer is timed the same way: dnsdist (dnsdist.py's configuration, CPU 0) with
the same names in an LMDB suffix store, to its first spoofed answer for the listed name.
The starts are spawned from this (large: it holds the names) Python process; a small
process spawns plain Unbound about 10 ms faster on this machine: all rows carry that.

Usage: tests/bench/start.py [--names N] [--runs R] [--dnsdist]   (default 1,000,000 names, 7 runs)
"""

import argparse
import re
import statistics
import sys
import time
import types

import bench


def time_start(ub, name, want):
    """Spawn ub and poll until name answers want (None: any answer); seconds."""
    ub._mark = (len(ub.log()), len(ub.stderr()))
    t0 = time.monotonic()
    ub._spawn()
    while time.monotonic() - t0 < 60:
        if ub.proc.poll() is not None:
            raise RuntimeError(f"unbound exited:\n{ub.diagnostics()}")
        try:
            got = bench.first_a(ub.port, name, timeout=0.003)
            if want is None or got == want:
                return time.monotonic() - t0
        except Exception:  # noqa: BLE001 - not up yet
            pass
        time.sleep(0.001)
    raise RuntimeError(f"{name} never answered {want}")


def logged(ub, pattern):
    """The figures of the module's log lines matching pattern (one per start)."""
    return [float(m) for m in re.findall(pattern, ub.log())]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--names", type=int, default=1_000_000)
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--dnsdist", action="store_true", help="also time dnsdist with an LMDB suffix store")
    a = ap.parse_args()
    b = bench.Bench(types.SimpleNamespace(sizes=[a.names], runs=1, duration=1, update_trials=1, quick=True,
                                          publish=False))
    listed = "www." + b.names[0]
    try:
        snap = b.tmp / "start.snap"
        ub, redis, first = b.start_resolver("redsink", a.names, snapshot=snap)
        deadline = time.monotonic() + 60
        while not snap.exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        time.sleep(1.0)
        ub.stop()
        redis.stop()
        rss = []
        ts = []
        for _ in range(a.runs):
            ts.append(time_start(ub, listed, bench.SINK))
            rss.append(bench.mem_kb(ub.pid) / 1024)
            ub.stop()
        loads = logged(ub, r"loaded the snapshot \S+ in ([0-9.]+) s")
        checks = logged(ub, r"checked the snapshot's table in ([0-9]+) ms")
        plain, _, _ = b.start_resolver("plain", 0)
        plain.stop()
        ps = []
        for _ in range(a.runs):
            ps.append(time_start(plain, "ok.example", None))
            plain.stop()
        ds = []
        if a.dnsdist:
            import dnsdist
            dnsdist.ensure_installed()
            kvs = b.tmp / "names.lmdb"
            dnsdist.write_lmdb(kvs, b.names[:a.names])
            backend, _, _ = b.start_resolver("plain", 0)
            dd = dnsdist.Dnsdist(b.tmp / "dnsdist", backend.port, kvs)
            try:
                for _ in range(a.runs):
                    ds.append(time_start(dd, listed, bench.SINK))
                    dd.stop()
            finally:
                dd.stop()
                backend.stop()
        print(f"{a.names} names, snapshot {snap.stat().st_size / 1e6:.1f} MB")
        print(f"  from Redis (harness start, first blocked answer): {first:.2f} s")
        print(f"  from the snapshot, first blocked answer: median {statistics.median(ts):.3f} s "
              f"(runs: {' '.join(f'{t:.3f}' for t in ts)})")
        print(f"  plain Unbound, first answer:             median {statistics.median(ps):.3f} s "
              f"(runs: {' '.join(f'{t:.3f}' for t in ps)})")
        if ds:
            print(f"  dnsdist, LMDB suffix store, first spoofed answer: median {statistics.median(ds):.3f} s "
                  f"(runs: {' '.join(f'{t:.3f}' for t in ds)})")
        print(f"  the module's snapshot load in init: median {statistics.median(loads[-a.runs:]):.3f} s; "
              f"the check in the background: median {statistics.median(checks[-a.runs:]):.0f} ms")
        print(f"  RSS right after the first answer: median {statistics.median(rss):.0f} MB")
    finally:
        b.nsd.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
