"""10 million names (issue 15): redsink with a 10M list against plain Unbound, same run.

  tests/bench/run --big            # 10M names, with a 1M row and plain Unbound alongside (≈ 25 min)
  /usr/bin/python3 tests/bench/big.py --names 10000000 --ref 1000000 [--runs 3] [--duration 10] [--perf]

The rows are measured as in bench.py (same servers, same query files, same
interleaving: a plain Unbound run precedes every run of a row, and each ratio
compares the row with those neighbours): plain Unbound, redsink with an empty
list, redsink with --ref names (the 1M row, for its ratios in the same run; 0
to skip) and redsink with --names names. On top of bench.py:

- the names are generated once, streamed into a file (gen.iter_domains), and
  read from it in batches: Redis gets them with pipelined SADDs of 10,000;
  only the 10,000-name query samples are kept in memory;
- load from Redis: the module's own time ("redsink: loaded ... in X s") and
  process start to the first blocked answer; Redis's own memory;
- the snapshot: a resolver with a snapshot-file loads from Redis and writes
  it (time to the file, size, VmHWM meanwhile); --snap-trials changes are
  timed while later writes run; then Redis is stopped and the resolver is
  started --cold times from the file (start to the first blocked answer, the
  module's "loaded the snapshot ... in X s"; with format 7 also the sync
  thread's check and copy of the mapped file, and RSS after it and 10 s
  later), with a plain Unbound started as often beside it (Unbound's own
  start to its first answer); --perf also
  records one start loading from Redis (the resolver, and redis-server
  attached) and one cold start with `perf record -g` (reports in build/bench/);
- Unbound RPZ is not run: at 1M it took 2.2 GB and 19 s to load, so 10M would
  need about 22 GB and minutes on this 24 GiB machine beside Redis.

Output: printed, and build/bench/big.md and big.csv. Every server started is
stopped, and the temporary directory (names, snapshots) removed at the end.
"""

import argparse
import csv
import datetime
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
TOP = HERE.parent.parent
sys.path.insert(0, str(TOP / "tests" / "integration"))
sys.path.insert(0, str(HERE))

import bench  # noqa: E402
import gen  # noqa: E402
import harness  # noqa: E402

log = bench.log
LOADED = re.compile(r"redsink: loaded \d+ orders, (\d+) domains.* in ([0-9.]+) s")
SNAP_LOADED = re.compile(r"redsink: loaded the snapshot \S+ in ([0-9.]+) s: \d+ orders, (\d+) domains")
CHECKED = re.compile(r"checked the snapshot's table in ([0-9]+) ms")
SAMPLE = 10000


class Unbound(bench.PinnedUnbound):
    """PinnedUnbound whose readiness poll asks every 20 ms. The harness's asks with a 0.5 s
    timeout: a query sent before Unbound's sockets exist is lost and costs the whole 0.5 s,
    so its start times are 0.56 s whatever Unbound does (the 0.56 s of the 1M table)."""

    def _wait_ready(self, deadline):
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                return False
            if self._answers(timeout=0.02):
                return True
        return False


class PerfUnbound(Unbound):
    """Unbound under `perf record -g` (the start profile); pid is perf's."""

    perf_data = None

    def _argv(self):
        return ["perf", "record", "-q", "-F", "1000", "-m", "1024", "-g", "-o", str(self.perf_data), "--"] + super()._argv()


def perf_report(data, name):
    """Self time by symbol, then time with callees (inclusive), of one perf.data."""
    rep = bench.OUT / name
    with open(rep, "w") as f:
        for mode in ("--no-children", "--children"):
            subprocess.run(["perf", "report", "-i", str(data), mode, "--sort", "comm,dso,sym", "--stdio",
                            "-g", "none", "--percent-limit", "0.5"], stdout=f, stderr=subprocess.DEVNULL, check=False)
    return rep


class Names:
    """The list, in a file: generated once, read in batches."""

    def __init__(self, path, n, sizes):
        self.path, self.n = path, n
        steps = {s: max(1, s // SAMPLE) for s in sizes}
        self.sample = {s: [] for s in sizes}
        self.octets = {s: 0 for s in sizes}
        t0 = time.monotonic()
        with open(path, "w") as f:
            for i, name in enumerate(gen.iter_domains(n)):
                f.write(name + "\n")
                for s in sizes:
                    if i < s:
                        self.octets[s] += len(name)
                        if i % steps[s] == 0 and len(self.sample[s]) < SAMPLE:
                            self.sample[s].append(name)
        self.first = self.sample[sizes[0]][0]
        log(f"generated {n} names in {time.monotonic() - t0:.1f} s ({path.stat().st_size / 1e6:.0f} MB)")

    def batches(self, size, per=10000):
        with open(self.path) as f:
            batch = []
            for i, line in enumerate(f):
                if i >= size:
                    break
                batch.append(line.rstrip("\n"))
                if len(batch) == per:
                    yield batch
                    batch = []
            if batch:
                yield batch


def load_redis(redis, names, size, oid="bench"):
    """The order and its first `size` names, pipelined SADDs of 10,000: (seconds, Redis RSS MB)."""
    c = redis.client(socket_timeout=300)
    t0 = time.monotonic()
    c.hset("redsink:order:" + oid, mapping={"authority": "Bench Court", "reference": "BENCH-1", "scope": "*",
                                            "action": "sinkhole", "reason": "benchmark", "url": "https://b.example/1"})
    c.sadd("redsink:orders", oid)
    p = c.pipeline(transaction=False)
    for k, batch in enumerate(names.batches(size)):
        p.sadd("redsink:order:" + oid + ":domains", *batch)
        if k % 20 == 19:
            p.execute()
    p.execute()
    secs = time.monotonic() - t0
    got = c.scard("redsink:order:" + oid + ":domains")
    if got != size:
        raise RuntimeError(f"Redis holds {got} names, not {size}")
    rss = int(c.info("memory")["used_memory_rss"]) / 1048576
    log(f"   Redis: {size} names loaded in {secs:.1f} s, RSS {rss:.0f} MB")
    return secs, rss


class Big:
    def __init__(self, args):
        self.args = args
        self.tmp = Path(tempfile.mkdtemp(prefix="redsink-bench-big-"))
        self.sizes = [s for s in (args.names, args.ref) if s]
        self.names = None
        self.nsd = None
        self.plain = None
        self.qfiles = {}
        self.rows = []
        self.extra = {}   # size -> figures beyond the table's columns
        self.loads = []   # 1-minute load average at the start of each row's queries

    # -- helpers --------------------------------------------------------------

    def qfile(self, kind, size):
        if (kind, size) in self.qfiles:
            return self.qfiles[(kind, size)]
        sample = self.names.sample[size] if size else []
        if kind == "unblocked":
            q = bench.UNBLOCKED * 1000
        elif kind == "blocked":
            q = [n if i % 2 == 0 else "www." + n for i, n in enumerate(sample)]
        else:
            q = [sample[i % len(sample)] if i % 100 == 0 else bench.UNBLOCKED[i % len(bench.UNBLOCKED)]
                 for i in range(10000)]
        path = self.tmp / f"q-{kind}-{size}.txt"
        bench.write_queries(path, q)
        self.qfiles[(kind, size)] = path
        return path

    def unbound(self, tag, redis=None, snapshot=None, cls=Unbound, verbosity=1):
        d = self.tmp / f"{tag}-{time.monotonic_ns()}"
        d.mkdir(parents=True)
        module, env = None, None
        if redis:
            conf = d / "redsink.conf"
            conf.write_text(f"read-redis: {redis.url}\nsinkhole-ipv4: {bench.SINK}\nresolver-name: bench\n"
                            + (f"snapshot-file: {snapshot}\n" if snapshot else ""))
            module, env = str(bench.MODULE), {"REDSINK_CONF": str(conf)}
        extra = bench.unbound_conf_extra().replace("verbosity: 0", f"verbosity: {verbosity}")
        ub = cls(d / "unbound", self.nsd.port, module_so=module, env=env, extra_conf=extra, start=False,
                 timeout=900)
        ub.stop_timeout = 300   # the module writes the snapshot at stop
        return ub

    def start_timed(self, ub, size):
        """Start; seconds from the start to the first blocked answer (to the first answer without a list)."""
        t0 = time.monotonic()
        ub.start()
        if size:
            bench.wait_answer(ub.port, "www." + self.names.first, bench.SINK, timeout=900)
        return time.monotonic() - t0

    def queries(self, ub, row, size, plain=False):
        self.loads.append(os.getloadavg()[0])
        for n in bench.UNBLOCKED:   # warm the cache with the unblocked names
            bench.first_a(ub.port, n)
        time.sleep(0.5)
        row["rss_mb"] = bench.mem_kb(ub.pid) / 1024
        base = None if plain else (self.plain.port, self.qfile("unblocked", 0), self.plain.pid)
        for kind in ("unblocked", "blocked", "mix"):
            if kind != "unblocked" and not size:
                continue
            qps, cpu, lost, rcodes, bq, bc = bench.median_runs(ub.port, self.qfile(kind, size), self.args.duration,
                                                               ub.pid, self.args.runs, base)
            row[f"{kind}_qps"], row[f"{kind}_cpu_us"], row[f"{kind}_lost"] = qps, cpu, lost
            if bq:
                row[f"{kind}_base_qps"], row[f"{kind}_base_cpu_us"] = bq, bc
            log(f"   {kind}: {qps:.0f} qps, {cpu:.2f} us/query, lost {lost}, {rcodes}"
                + (f"; plain alongside: {bq:.0f} qps, {bc:.2f} us/query ({qps / bq:.1%}, ×{cpu / bc:.3f})"
                   if bq else ""))

    # -- scenarios ------------------------------------------------------------

    def row_plain(self):
        log("== plain Unbound")
        self.plain = self.unbound("plain")
        row = {"row": "plain Unbound", "domains": 0, "plain_start_s": self.start_timed(self.plain, 0)}
        self.queries(self.plain, row, 0, plain=True)
        self.rows.append(row)

    def row_redsink(self, size):
        label = "redsink, empty list" if not size else f"redsink, {size / 1e6:g}M"
        log(f"== {label}")
        redis = harness.Redis(self.tmp / f"redis-{size}")
        ex = self.extra.setdefault(size, {})
        try:
            if size:
                ex["redis_load_s"], ex["redis_rss_mb"] = load_redis(redis, self.names, size)
            ub = self.unbound(f"redsink-{size}", redis)
            try:
                row = {"row": label, "domains": size}
                rcpu = bench.cpu_seconds(redis.pid)
                first = self.start_timed(ub, size)
                if size:
                    # CPU seconds to the first blocked answer: the resolver's (all its threads) and
                    # Redis's; on a loaded machine the wall time also holds the wait for a core
                    ex["load_cpu_s"] = bench.cpu_seconds(ub.pid)
                    ex["load_redis_cpu_s"] = bench.cpu_seconds(redis.pid) - rcpu
                    row["start_to_first_block_s"] = first
                    m = LOADED.search(ub.log())
                    if not m or int(m.group(1)) != size:
                        raise RuntimeError(f"no load line for {size} names: {ub.log()[-2000:]}")
                    ex["module_load_s"] = float(m.group(2))
                    log(f"   module load {ex['module_load_s']:.2f} s, start to first block {first:.2f} s "
                        f"(CPU: resolver {ex['load_cpu_s']:.2f} s, Redis {ex['load_redis_cpu_s']:.2f} s)")
                self.queries(ub, row, size)
                if size:
                    row.update(bench.Bench.update_time(self, "redsink", ub, redis))
                    log(f"   add->enforced p50 {row['update_p50_ms']:.2f} ms, p99 {row['update_p99_ms']:.2f} ms")
                self.rows.append(row)
            finally:
                ub.stop()
            if size == self.args.names:
                self.snapshot(redis, size, ex)
        finally:
            redis.stop()

    def snapshot(self, redis, size, ex):
        """Write the snapshot with Redis up, then cold starts from it with Redis down."""
        log(f"== redsink, {size / 1e6:g}M: the snapshot")
        snap = self.tmp / "big.snap"
        if self.args.perf:
            self.perf_load(redis, size, ex)
        ub = self.unbound("snapwrite", redis, snapshot=snap)
        try:
            t0 = time.monotonic()
            ub.start()
            bench.wait_answer(ub.port, "www." + self.names.first, bench.SINK, timeout=900)
            while not snap.exists():
                if time.monotonic() - t0 > 900:
                    raise RuntimeError("no snapshot written")
                time.sleep(0.05)
            ex["snapshot_written_s"] = time.monotonic() - t0
            ex["snapshot_mb"] = snap.stat().st_size / 1e6
            time.sleep(2)
            ex["snapshot_hwm_mb"] = bench.mem_kb(ub.pid, "VmHWM") / 1024
            log(f"   snapshot on disk {ex['snapshot_written_s']:.1f} s after the start, "
                f"{ex['snapshot_mb']:.0f} MB, VmHWM {ex['snapshot_hwm_mb']:.0f} MB")
            if self.args.snap_trials:   # changes while the snapshot is rewritten (every 5 s after a change)
                c = redis.client()
                times = []
                for i in range(self.args.snap_trials):
                    dom = f"snap{i}.bench-add.example"
                    t1 = time.monotonic()
                    p = c.pipeline(transaction=True)
                    p.sadd("redsink:order:bench:domains", dom)
                    p.xadd("redsink:changes", {"op": "add", "order": "bench", "domain": dom, "by": "bench"})
                    p.execute()
                    bench.wait_answer(ub.port, dom, bench.SINK, timeout=300)
                    times.append(time.monotonic() - t1)
                    time.sleep(self.args.snap_pace)
                s = sorted(times)
                ex["snap_update_p50_ms"] = statistics.median(s) * 1000
                ex["snap_update_p99_ms"] = s[min(len(s) - 1, int(round(0.99 * (len(s) - 1))))] * 1000
                ex["snap_update_max_ms"] = s[-1] * 1000
                ex["snap_update_hwm_mb"] = bench.mem_kb(ub.pid, "VmHWM") / 1024
                log(f"   {len(s)} changes with snapshot writes: p50 {ex['snap_update_p50_ms']:.2f} ms, "
                    f"p99 {ex['snap_update_p99_ms']:.2f} ms, max {ex['snap_update_max_ms']:.1f} ms, "
                    f"VmHWM {ex['snap_update_hwm_mb']:.0f} MB")
        finally:
            t1 = time.monotonic()
            ub.stop()
            ex["stop_s"] = time.monotonic() - t1
        redis.stop()
        ex["snapshot_mb"] = snap.stat().st_size / 1e6
        log(f"   stopped in {ex['stop_s']:.1f} s (the final write); Redis stopped; snapshot {ex['snapshot_mb']:.0f} MB")
        cold, module, plain_start, rss, cpu, plain_cpu = [], [], [], [], [], []
        check, rss_after, cpu_after, rss_later = [], [], [], []
        for k in range(self.args.cold):
            pl = self.unbound(f"plainstart{k}")   # Unbound's own start, alongside
            try:
                plain_start.append(self.start_timed(pl, 0))
                plain_cpu.append(bench.cpu_seconds(pl.pid))
            finally:
                pl.stop()
            ub = self.unbound(f"cold{k}", redis, snapshot=snap)
            try:
                cold.append(self.start_timed(ub, size))
                cpu.append(bench.cpu_seconds(ub.pid))
                m = SNAP_LOADED.search(ub.log())
                if not m or int(m.group(2)) < size:
                    raise RuntimeError(f"no snapshot load line for {size} names: {ub.log()[-2000:]}")
                module.append(float(m.group(1)))
                rss.append(bench.mem_kb(ub.pid) / 1024)
                # snapshot format 7: the names are served from the mapped file while the sync thread
                # checks and copies them ("checked the snapshot's table in N ms"); older modules
                # copy everything before the first answer and log no such line
                t1 = time.monotonic()
                while time.monotonic() - t1 < self.args.check_wait:
                    c = CHECKED.search(ub.log())
                    if c:
                        check.append(float(c.group(1)) / 1000)
                        rss_after.append(bench.mem_kb(ub.pid) / 1024)
                        cpu_after.append(bench.cpu_seconds(ub.pid))
                        time.sleep(10)   # the mapping is retired like list memory: RSS settles
                        rss_later.append(bench.mem_kb(ub.pid) / 1024)
                        break
                    time.sleep(0.05)
            finally:
                ub.stop()
            log(f"   cold start {k + 1}: first blocked answer {cold[-1]:.3f} s, {cpu[-1]:.2f} s CPU (module's "
                f"snapshot load {module[-1]:.3f} s; plain Unbound's start {plain_start[-1]:.3f} s, "
                f"{plain_cpu[-1]:.2f} s CPU), RSS {rss[-1]:.0f} MB"
                + (f"; the check after it: {check[-1]:.2f} s, then RSS {rss_after[-1]:.0f} MB, CPU {cpu_after[-1]:.2f} s, "
                   f"RSS 10 s later {rss_later[-1]:.0f} MB"
                   if len(check) == k + 1 else ""))
        ex.update(cold_s=cold, cold_module_s=module, plain_start_s=plain_start, cold_rss_mb=rss, cold_cpu_s=cpu,
                  plain_cpu_s=plain_cpu)
        if check and len(check) == len(cold):
            ex.update(check_s=check, check_rss_mb=rss_after, check_cpu_s=cpu_after, check_rss_later_mb=rss_later)
        if self.args.perf:
            ub = self.unbound("perf", redis, snapshot=snap, cls=PerfUnbound)
            ub.perf_data = self.tmp / "start.perf"
            try:
                ex["perf_cold_s"] = self.start_timed(ub, size)
            finally:
                ub.stop()
            rep = perf_report(ub.perf_data, "big-start-perf.txt")
            log(f"   perf: one cold start ({ex['perf_cold_s']:.2f} s under perf), report in {rep}")

    def perf_load(self, redis, size, ex):
        """perf record of one start loading from Redis: the resolver and redis-server."""
        ub = self.unbound("perfload", redis, cls=PerfUnbound)
        ub.perf_data = self.tmp / "load.perf"
        rp = subprocess.Popen(["perf", "record", "-q", "-F", "1000", "-m", "1024", "-g", "-p", str(redis.pid), "-o",
                               str(self.tmp / "redis.perf")], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            time.sleep(1)   # perf attached
            ex["perf_load_s"] = self.start_timed(ub, size)
        finally:
            ub.stop()
            rp.send_signal(signal.SIGINT)
            rp.wait(timeout=60)
        a = perf_report(ub.perf_data, "big-load-perf.txt")
        b = perf_report(self.tmp / "redis.perf", "big-load-redis-perf.txt")
        log(f"   perf: one start loading from Redis ({ex['perf_load_s']:.2f} s under perf), reports in {a}, {b}")

    def run(self):
        self.names = Names(self.tmp / "names.txt", self.args.names, self.sizes)
        self.nsd = harness.Nsd(self.tmp / "nsd")
        try:
            self.row_plain()
            self.row_redsink(0)
            for size in sorted(self.sizes):
                self.row_redsink(size)
        finally:
            if self.plain:
                self.plain.stop()
            self.nsd.stop()
            harness.stop_all()
        empty = next(r["rss_mb"] for r in self.rows if r["row"] == "redsink, empty list")
        for r in self.rows:
            if r["domains"]:
                r["bytes_per_domain"] = ((r["rss_mb"] - empty) * 1048576 - self.names.octets[r["domains"]]) / r["domains"]
                self.extra[r["domains"]]["name_octets"] = self.names.octets[r["domains"]] / r["domains"]
            if r["domains"] == self.args.names:
                r["snapshot_start_s"] = statistics.median(self.extra[r["domains"]]["cold_s"])
        return self.rows

    def cleanup(self):
        shutil.rmtree(self.tmp, ignore_errors=True)


def render(rows, extra, args, meta):
    md = bench.render(rows, meta)
    big = extra[args.names]
    first = next(r for r in rows if r["domains"] == args.names)
    f = lambda xs, fmt="{:.2f}": ", ".join(fmt.format(x) for x in xs)  # noqa: E731
    md += (f"\n{args.names:,} names ({big['name_octets']:.1f} octets each on average):\n\n"
           "| figure | value |\n|---|---|\n"
           f"| Redis: pipelined SADD of the names / Redis RSS | {big['redis_load_s']:.1f} s / {big['redis_rss_mb']:.0f} MB |\n"
           f"| module load from Redis (its log line) / start → first blocked answer | "
           f"{big['module_load_s']:.2f} s / {first['start_to_first_block_s']:.2f} s |\n"
           f"| — CPU meanwhile: the resolver / Redis (serving the SSCANs) | {big['load_cpu_s']:.2f} s / "
           f"{big['load_redis_cpu_s']:.2f} s |\n"
           f"| snapshot: on disk after the start / size / VmHWM of the resolver then | {big['snapshot_written_s']:.1f} s / "
           f"{big['snapshot_mb']:.0f} MB / {big['snapshot_hwm_mb']:.0f} MB |\n"
           f"| stop (with the final snapshot write) | {big['stop_s']:.1f} s |\n"
           f"| cold start from the snapshot, Redis stopped: start → first blocked answer (median; runs) | "
           f"{statistics.median(big['cold_s']):.2f} s ({f(big['cold_s'])}) |\n"
           f"| — of which the module's snapshot load (its log line) | {statistics.median(big['cold_module_s']):.2f} s "
           f"({f(big['cold_module_s'])}) |\n"
           f"| — the resolver's CPU to the first blocked answer (all threads) | "
           f"{statistics.median(big['cold_cpu_s']):.2f} s ({f(big['cold_cpu_s'])}) |\n"
           f"| — plain Unbound's own start → first answer, alongside (its CPU) | "
           f"{statistics.median(big['plain_start_s']):.2f} s ({f(big['plain_start_s'])}; "
           f"{f(big['plain_cpu_s'])} s CPU) |\n"
           f"| RSS after a cold start's first blocked answer | {f(big['cold_rss_mb'], '{:.0f}')} MB |\n")
    if "check_s" in big:
        md += (f"| the check and copy of the mapped snapshot after the first answer (its log line) | "
               f"{statistics.median(big['check_s']):.2f} s ({f(big['check_s'])}) |\n"
               f"| — then: RSS / the resolver's CPU since its start | {f(big['check_rss_mb'], '{:.0f}')} MB / "
               f"{f(big['check_cpu_s'])} s |\n"
               f"| — RSS 10 s after the check | {f(big['check_rss_later_mb'], '{:.0f}')} MB |\n")
    if "snap_update_p50_ms" in big:
        md += (f"| {args.snap_trials} changes, one every {args.snap_pace} s, snapshot writes running: p50 / p99 / max "
               f"| {big['snap_update_p50_ms']:.2f} / {big['snap_update_p99_ms']:.2f} / {big['snap_update_max_ms']:.1f} ms"
               f" (VmHWM {big['snap_update_hwm_mb']:.0f} MB) |\n")
    if "perf_cold_s" in big:
        md += f"| cold start under `perf record` | {big['perf_cold_s']:.2f} s (build/bench/big-start-perf.txt) |\n"
    if "perf_load_s" in big:
        md += (f"| start loading from Redis under `perf record` | {big['perf_load_s']:.2f} s "
               "(build/bench/big-load-perf.txt, big-load-redis-perf.txt) |\n")
    return md


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--names", type=int, default=10000000)
    ap.add_argument("--ref", type=int, default=1000000, help="a second list size in the same run (0: none)")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--duration", type=int, default=10)
    ap.add_argument("--update-trials", type=int, default=50)
    ap.add_argument("--snap-trials", type=int, default=20, help="changes timed while snapshots are written")
    ap.add_argument("--snap-pace", type=float, default=0.5)
    ap.add_argument("--cold", type=int, default=3, help="cold starts from the snapshot")
    ap.add_argument("--check-wait", type=float, default=120,
                    help="seconds to wait after a cold start for the snapshot check's log line (format 7)")
    ap.add_argument("--perf", action="store_true", help="also perf record one start from Redis and one cold start")
    ap.add_argument("--quick", action="store_true", help="1M and 100k names, 1 run of 3 s, 10 trials")
    args = ap.parse_args()
    if args.quick:
        args.names, args.ref, args.runs, args.duration, args.update_trials, args.snap_trials = \
            1000000, 100000, 1, 3, 10, 5
    if args.perf and not shutil.which("perf"):
        sys.exit("big.py: --perf needs perf (Debian package linux-perf), which is not installed")
    bench.OUT.mkdir(parents=True, exist_ok=True)
    b = Big(args)
    try:
        rows = b.run()
    finally:
        b.cleanup()
    meta = {"date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
            "machine": bench.machine(), "versions": bench.versions(), "runs": args.runs, "duration": args.duration}
    md = render(rows, b.extra, args, meta) + ("\nLoad average (1 min) when each row's queries began: "
                                              + ", ".join(f"{x:.1f}" for x in b.loads) + ".\n")
    print(md)
    (bench.OUT / "big.md").write_text(md)
    with open(bench.OUT / "big.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=sorted({k for r in rows for k in r}))
        w.writeheader()
        w.writerows(rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
