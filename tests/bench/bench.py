"""redsink benchmark: redsink.so vs plain Unbound vs Unbound RPZ, same run, same machine.

Every figure comes from real servers on loopback: NSD (authoritative upstream),
redis-server, Unbound (one thread, pinned to CPU 0) with or without the module
or an RPZ zone, and dnsperf (pinned to CPU 1) as the load generator. The
resolver's CPU time per answered query (from /proc/PID/stat around each run) is
the primary figure; QPS is reported beside it. Each figure is the median of
--runs runs. Results: printed, and written to build/bench/results.{md,csv}
(and tests/bench/RESULTS.md with --publish).
"""

import argparse
import csv
import datetime
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
TOP = HERE.parent.parent
sys.path.insert(0, str(TOP / "tests" / "integration"))
sys.path.insert(0, str(HERE))

import dns.message  # noqa: E402
import dns.query  # noqa: E402
import dns.rdatatype  # noqa: E402

import gen  # noqa: E402
import harness  # noqa: E402

SINK = "192.0.2.1"
OUT = TOP / "build" / "bench"
MODULE = Path(os.environ.get("REDSINK_MODULE") or TOP / "build" / "redsink" / "module" / ".libs" / "redsink.so")
TICK = os.sysconf("SC_CLK_TCK")
UNBLOCKED = ["ok.example", "www.ok.example", "notpirate.example", "a1.example", "a2.example",
             "a3.example", "a4.example", "a5.example", "scoped.example", "expired.example"]


def log(*a):
    print(*a, file=sys.stderr, flush=True)


# ---- process measurements ---------------------------------------------------

def cpu_seconds(pid):
    f = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(f[11]) + int(f[12])) / TICK


def mem_kb(pid, field="VmRSS"):
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def reset_peak(pid):
    try:
        Path(f"/proc/{pid}/clear_refs").write_text("5")
    except OSError:
        pass


# ---- servers ---------------------------------------------------------------

class PinnedUnbound(harness.Unbound):
    """harness.Unbound with one thread, pinned to CPU 0, quiet logging."""

    def _argv(self):
        return ["taskset", "-c", "0"] + super()._argv()


def unbound_conf_extra(extra=""):
    return ("    num-threads: 1\n    verbosity: 0\n    msg-cache-size: 64m\n    rrset-cache-size: 128m\n"
            "    so-rcvbuf: 4m\n    so-sndbuf: 4m\n    outgoing-range: 1024\n    num-queries-per-thread: 2048\n"
            + extra)


def wait_answer(port, name, want, timeout=120.0):
    """Seconds until `name A` answers `want` (first A address or rcode)."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        try:
            got = first_a(port, name, timeout=0.5)
            if got == want:
                return time.monotonic() - t0
        except Exception:  # noqa: BLE001 - not up yet
            pass
        time.sleep(0.001)
    raise RuntimeError(f"{name} never answered {want}")


def first_a(port, name, timeout=1.0):
    q = dns.message.make_query(name, "A")
    r = dns.query.udp(q, "127.0.0.1", port=port, timeout=timeout)
    for rrset in r.answer:
        if rrset.rdtype == dns.rdatatype.A:
            return list(rrset)[0].to_text()
    return dns.rcode.to_text(r.rcode())


def load_redis(client, names, oid="bench"):
    """Bulk-load an order and its domains (no stream entries: a fresh list)."""
    p = client.pipeline(transaction=False)
    p.hset("redsink:order:" + oid, mapping={"authority": "Bench Court", "reference": "BENCH-1", "scope": "*",
                                            "action": "sinkhole", "reason": "benchmark", "url": "https://b.example/1"})
    p.sadd("redsink:orders", oid)
    for i in range(0, len(names), 20000):
        p.sadd("redsink:order:" + oid + ":domains", *names[i:i + 20000])
    p.execute()


def write_rpz(path, names):
    with open(path, "w") as f:
        f.write("$TTL 60\n@ SOA localhost. hostmaster.localhost. 1 3600 600 86400 60\n@ NS localhost.\n")
        for d in names:
            f.write(f"{d} A {SINK}\n*.{d} A {SINK}\n")


# ---- dnsperf ----------------------------------------------------------------

def write_queries(path, names, qtype="A"):
    with open(path, "w") as f:
        for n in names:
            f.write(f"{n} {qtype}\n")


def dnsperf(port, qfile, seconds, pid):
    """One dnsperf run: (qps, answered, cpu_us_per_query, lost, rcodes)."""
    c0 = cpu_seconds(pid)
    out = subprocess.run(["taskset", "-c", "1", "dnsperf", "-s", "127.0.0.1", "-p", str(port), "-d", str(qfile),
                          "-l", str(seconds), "-c", "4", "-q", "200", "-t", "2"],
                         capture_output=True, text=True, check=True).stdout
    c1 = cpu_seconds(pid)
    done = int(re.search(r"Queries completed:\s+(\d+)", out).group(1))
    lost = int(re.search(r"Queries lost:\s+(\d+)", out).group(1))
    qps = float(re.search(r"Queries per second:\s+([\d.]+)", out).group(1))
    rcodes = re.search(r"Response codes:\s+(.*)", out).group(1).strip()
    return qps, done, (c1 - c0) / max(done, 1) * 1e6, lost, rcodes


def median_runs(port, qfile, seconds, pid, runs, base=None):
    """Median of `runs` runs. With base=(port, qfile, pid) of the plain Unbound, a
    run of it precedes every run, so that each ratio compares neighbours in time
    (this machine's speed drifts by several per cent over minutes)."""
    rs, bs = [], []
    for _ in range(runs):
        if base:
            bs.append(dnsperf(base[0], base[1], seconds, base[2]))
        rs.append(dnsperf(port, qfile, seconds, pid))
    qps = statistics.median(r[0] for r in rs)
    cpu = statistics.median(r[2] for r in rs)
    lost = sum(r[3] for r in rs)
    base_qps = statistics.median(r[0] for r in bs) if bs else None
    base_cpu = statistics.median(r[2] for r in bs) if bs else None
    return qps, cpu, lost, rs[-1][4], base_qps, base_cpu


# ---- scenarios -------------------------------------------------------------

class Bench:
    def __init__(self, args):
        self.args = args
        self.tmp = Path(tempfile.mkdtemp(prefix="redsink-bench-"))
        OUT.mkdir(parents=True, exist_ok=True)
        self.rows = []
        maxn = max(args.sizes)
        log(f"generating {maxn} domains")
        self.names = gen.domains(maxn)
        self.nsd = harness.Nsd(self.tmp / "nsd")
        self.qfiles = {}
        self.plain = None  # the plain Unbound every row is compared with, run by run

    def qfile(self, kind, size):
        key = (kind, size)
        if key in self.qfiles:
            return self.qfiles[key]
        listed = self.names[:size] if size else self.names[:10000]
        step = max(1, len(listed) // 10000)
        sample = listed[::step][:10000]
        if kind == "unblocked":
            names = UNBLOCKED * 1000
        elif kind == "blocked":
            names = [n if i % 2 == 0 else "www." + n for i, n in enumerate(sample)]
        else:  # mix 99/1
            names = []
            for i in range(10000):
                names.append(sample[i % len(sample)] if i % 100 == 0 else UNBLOCKED[i % len(UNBLOCKED)])
        path = self.tmp / f"q-{kind}-{size}.txt"
        write_queries(path, names)
        self.qfiles[key] = path
        return path

    def start_resolver(self, kind, size, snapshot=None):
        """Start (kind: plain|redsink|rpz) and return (ub, redis, seconds to first blocked answer)."""
        d = self.tmp / f"{kind}-{size}-{time.monotonic_ns()}"
        redis = None
        env = None
        module = None
        extra = unbound_conf_extra()
        if kind == "redsink":
            redis = harness.Redis(d / "redis")
            if not snapshot or not snapshot.exists():
                load_redis(redis.client(), self.names[:size])
            conf = d / "redsink.conf"
            conf.write_text(f"read-redis: {redis.url}\nsinkhole-ipv4: {SINK}\nresolver-name: bench\n"
                            + (f"snapshot-file: {snapshot}\n" if snapshot else ""))
            env = {"REDSINK_CONF": str(conf)}
            module = str(MODULE)
        elif kind == "rpz":
            zone = d / "rpz.zone"
            d.mkdir(parents=True, exist_ok=True)
            write_rpz(zone, self.names[:size])
            extra = unbound_conf_extra('    module-config: "respip validator iterator"\n'
                                       f'\nrpz:\n    name: "rpz.bench."\n    zonefile: "{zone}"\n')
        ub = PinnedUnbound(d / "unbound", self.nsd.port, module_so=module, env=env, extra_conf=extra,
                           start=False, timeout=600)
        t0 = time.monotonic()
        ub.start()
        first = None
        if kind != "plain" and size:
            wait_answer(ub.port, "www." + self.names[0], SINK)
            first = time.monotonic() - t0   # process start to the first blocked answer
        return ub, redis, first

    def measure(self, label, kind, size, snapshot=None, keep=False):
        log(f"== {label}")
        ub, redis, first = self.start_resolver(kind, size, snapshot)
        try:
            # warm the cache with the unblocked names
            for n in UNBLOCKED:
                first_a(ub.port, n)
            time.sleep(0.5)
            row = {"row": label, "domains": size, "start_to_first_block_s": first,
                   "rss_mb": mem_kb(ub.pid) / 1024}
            base = None
            if kind != "plain" and self.plain:
                base = (self.plain.port, self.qfile("unblocked", 0), self.plain.pid)
            for kind_q in ("unblocked", "blocked", "mix"):
                if kind == "plain" and kind_q != "unblocked":
                    continue
                if kind != "plain" and size == 0 and kind_q != "unblocked":
                    continue
                qps, cpu, lost, rcodes, bq, bc = median_runs(ub.port, self.qfile(kind_q, size), self.args.duration,
                                                             ub.pid, self.args.runs, base)
                row[f"{kind_q}_qps"] = qps
                row[f"{kind_q}_cpu_us"] = cpu
                row[f"{kind_q}_lost"] = lost
                if bq:
                    row[f"{kind_q}_base_qps"] = bq
                    row[f"{kind_q}_base_cpu_us"] = bc
                log(f"   {kind_q}: {qps:.0f} qps, {cpu:.2f} us/query, lost {lost}, {rcodes}"
                    + (f"; plain alongside: {bq:.0f} qps, {bc:.2f} us/query" if bq else ""))
            if kind in ("redsink", "rpz") and size:
                row.update(self.update_time(kind, ub, redis))
            if keep:
                self.plain = ub
            return row
        finally:
            if not keep:
                ub.stop()
            if redis:
                redis.stop()

    def update_time(self, kind, ub, redis):
        """Time from one added domain to its enforcement, and peak RSS meanwhile."""
        times = []
        reset_peak(ub.pid)
        n = self.args.update_trials if kind == "redsink" else 3
        for i in range(n):
            dom = f"upd{i}.bench-add.example"
            if kind == "redsink":
                c = redis.client()
                t0 = time.monotonic()
                p = c.pipeline(transaction=True)
                p.sadd("redsink:order:bench:domains", dom)
                p.xadd("redsink:changes", {"op": "add", "order": "bench", "domain": dom, "by": "bench"})
                p.execute()
            else:
                zone = Path(re.search(r'zonefile: "([^"]+)"', ub.conf.read_text()).group(1))
                t0 = time.monotonic()
                with open(zone, "a") as f:
                    f.write(f"{dom} A {SINK}\n")
                # bump nothing: Unbound reloads RPZ zone files on auth_zone_reload
                ub.control("auth_zone_reload", "rpz.bench.")
            wait_answer(ub.port, dom, SINK, timeout=300)
            times.append(time.monotonic() - t0)   # from the push to the first sinkhole answer
        times.sort()
        p99 = times[min(len(times) - 1, int(round(0.99 * (len(times) - 1))))]
        return {"update_p50_ms": statistics.median(times) * 1000, "update_p99_ms": p99 * 1000,
                "update_peak_rss_mb": mem_kb(ub.pid, "VmHWM") / 1024}

    def snapshot_start(self, size):
        """Cold start with `size` domains from the snapshot file, Redis down."""
        log(f"== redsink {size}: cold start from the snapshot")
        snap = self.tmp / f"snap-{size}.snap"
        ub, redis, _ = self.start_resolver("redsink", size, snapshot=snap)
        time.sleep(1.5)          # the sync thread writes the snapshot
        ub.stop()
        redis.stop()
        assert snap.exists(), "no snapshot written"
        t0 = time.monotonic()
        ub.start()
        wait_answer(ub.port, "www." + self.names[0], SINK, timeout=10)
        first = time.monotonic() - t0
        log(f"   first blocked answer {first:.3f} s after start ({snap.stat().st_size / 1e6:.1f} MB)")
        ub.stop()
        return first

    def run(self):
        try:
            self.rows.append(self.measure("plain Unbound", "plain", 0, keep=True))
            self.rows.append(self.measure("redsink, empty list", "redsink", 0))
            for size in self.args.sizes:
                row = self.measure(f"redsink, {size // 1000}k", "redsink", size)
                row["snapshot_start_s"] = self.snapshot_start(size)
                self.rows.append(row)
            for size in self.args.sizes:
                self.rows.append(self.measure(f"Unbound RPZ, {size // 1000}k", "rpz", size))
        finally:
            if self.plain:
                self.plain.stop()
            self.nsd.stop()
            harness.stop_all()
        for r in self.rows:  # memory of the list: RSS beyond the empty list, less the names' own bytes
            if r["row"].startswith("redsink") and r["domains"]:
                empty = next(x["rss_mb"] for x in self.rows if x["row"] == "redsink, empty list")
                names = sum(len(n) for n in self.names[:r["domains"]]) / r["domains"]
                r["bytes_per_domain"] = (r["rss_mb"] - empty) * 1048576 / r["domains"] - names
        return self.rows


# ---- output ------------------------------------------------------------------

COLS = [("row", "configuration", "{}"), ("start_to_first_block_s", "start→first block (s)", "{:.2f}"),
        ("snapshot_start_s", "cold start from snapshot (s)", "{:.2f}"), ("rss_mb", "RSS after load (MB)", "{:.0f}"),
        ("bytes_per_domain", "bytes/domain beyond the name", "{:.0f}"),
        ("unblocked_qps", "unblocked cache-hit QPS", "{:.0f}"), ("unblocked_cpu_us", "µs CPU/query", "{:.2f}"),
        ("blocked_qps", "blocked QPS", "{:.0f}"), ("blocked_cpu_us", "µs CPU/query", "{:.2f}"),
        ("mix_qps", "99/1 mix QPS", "{:.0f}"), ("mix_cpu_us", "µs CPU/query", "{:.2f}"),
        ("update_p50_ms", "add→enforced p50 (ms)", "{:.1f}"), ("update_p99_ms", "p99 (ms)", "{:.1f}"),
        ("update_peak_rss_mb", "peak RSS in update (MB)", "{:.0f}")]


def ratio_cells(row, base):
    """Ratios against plain Unbound's cache hit, appended to the QPS/CPU cells: against
    the plain runs interleaved with this row's runs when there are some."""
    out = {}
    for q in ("unblocked", "blocked", "mix"):
        bq = row.get(f"{q}_base_qps") or base.get("unblocked_qps")
        bc = row.get(f"{q}_base_cpu_us") or base.get("unblocked_cpu_us")
        if f"{q}_qps" in row and bq:
            out[f"{q}_qps"] = f"{row[f'{q}_qps']:.0f} ({row[f'{q}_qps'] / bq:.1%})"
            out[f"{q}_cpu_us"] = f"{row[f'{q}_cpu_us']:.2f} (×{row[f'{q}_cpu_us'] / bc:.3f})"
    return out


def render(rows, meta):
    base = rows[0]
    head = "| " + " | ".join(c[1] for c in COLS) + " |\n|" + "---|" * len(COLS) + "\n"
    lines = []
    for r in rows:
        rc = ratio_cells(r, base)
        cells = []
        for key, _, fmt in COLS:
            if key in rc:
                cells.append(rc[key])
            elif r.get(key) is None:
                cells.append("–")
            else:
                cells.append(fmt.format(r[key]))
        lines.append("| " + " | ".join(cells) + " |")
    md = (f"Run {meta['date']} on {meta['machine']}; {meta['versions']}; median of {meta['runs']} runs of "
          f"{meta['duration']} s. Ratios: QPS as % of plain Unbound's cache-hit QPS, CPU per query as × plain "
          "Unbound's cache-hit CPU per query, both from plain Unbound runs interleaved with the row's own "
          "runs.\n\n" + head + "\n".join(lines) + "\n")
    return md


def versions():
    ub = subprocess.run([harness.unbound_binary(), "-V"], capture_output=True, text=True).stdout.splitlines()[0]
    perf = subprocess.run(["dnsperf", "-h"], capture_output=True, text=True).stderr
    dv = re.search(r"Version ([\d.]+)", perf + subprocess.run(["dnsperf", "-h"], capture_output=True,
                                                              text=True).stdout)
    return f"{ub}, dnsperf {dv.group(1) if dv else '?'}, redsink 0.1.0"


def machine():
    cpu = "?"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    return f"{platform.system()} {platform.release()}, {os.cpu_count()} × {cpu}"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="10k and 100k lists, 1 run of 3 s")
    ap.add_argument("--sizes", default="100000,1000000")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--duration", type=int, default=10)
    ap.add_argument("--update-trials", type=int, default=50)
    ap.add_argument("--publish", action="store_true", help="also write tests/bench/RESULTS.md")
    ap.add_argument("--soak", action="store_true", help="run the soak test instead")
    ap.add_argument("--soak-minutes", type=float, default=10)
    ap.add_argument("--callgrind", action="store_true", help="only the callgrind instruction counts")
    args = ap.parse_args()
    if args.quick:
        args.sizes, args.runs, args.duration, args.update_trials = "10000,100000", 1, 3, 10
    args.sizes = [int(s) for s in args.sizes.split(",")]
    if args.soak:
        import soak
        return soak.main(args)
    if args.callgrind:
        import callgrind
        callgrind.main(args)  # returns its report (a list), not an exit status
        return 0
    rows = Bench(args).run()
    meta = {"date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
            "machine": machine(), "versions": versions(), "runs": args.runs, "duration": args.duration}
    md = render(rows, meta)
    print(md)
    (OUT / "results.md").write_text(md)
    with open(OUT / "results.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=sorted({k for r in rows for k in r}))
        w.writeheader()
        w.writerows(rows)
    if args.publish:
        res = HERE / "RESULTS.md"
        text = res.read_text() if res.exists() else ""
        marker = "<!-- results -->"
        if marker in text:
            text = text.split(marker)[0] + marker + "\n\n" + md
        else:
            text = md
        res.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
