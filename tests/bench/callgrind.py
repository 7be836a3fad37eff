"""Instruction counts per query for the module's own functions (valgrind callgrind).

Counts instructions, not seconds: repeatable on a noisy machine. Unbound with
redsink.so and a 100,000-domain list runs under callgrind; dnsperf sends a
fixed query file once (blocked names, then unblocked cache misses and hits).
Reported: instructions per query in functions of redsink.so (self cost), and
the inclusive cost of operate() (which includes the Unbound helpers it calls).
The blocked names are sent twice: the second time ("blocked-again") they are
repeats, answered from the message cache since issue 15.

Both Unbounds run with num-threads: 2, as production resolvers do. With one
thread, plain Unbound is a single-threaded process and glibc then skips the
asynchronous-cancellation bookkeeping in recvfrom/sendto/epoll_wait; the
module's own thread makes the process multi-threaded and that bookkeeping alone
costs about 200 instructions per query, which would be charged to the module
although any multi-threaded Unbound pays it.

Callgrind runs with --separate-threads=yes (one file per thread per dump:
callgrind.out.<dump>-<thread>), so the unblocked cache hits are also reported
on the worker threads only, for redsink and plain Unbound alike: the whole
process figure for redsink includes its sync thread, which meanwhile flushes
the previous phase's hit counters to Redis. A worker thread is one whose
profile (any dump) has worker_handle_request or comm_point_udp_callback; a
thread with neither that is not the module's ("other": a worker that got no
query) is counted with the workers, so plain and redsink are counted alike.
"""

THREADS = "    num-threads: 2\n"
PHASES = ("blocked", "blocked-again", "unblocked")
WORKER_FNS = ("worker_handle_request", "comm_point_udp_callback")
# the module's own threads (module/sync.c): sync thread, snapshot writer
MODULE_THREAD_FNS = ("thread_main", "snap_main", "rs_stats_drain")
# the cache-hit callback path: Unbound's dispatch (util/data/msgreply.c; the static
# inplace_cb_reply_call_generic is normally inlined into inplace_cb_reply_cache_call),
# dynlibmod's wrapper, the module's callback
DISPATCH_FNS = ("inplace_cb_reply_cache_call", "inplace_cb_reply_call_generic", "dynlib_inplace_cb_reply_generic",
                "on_cache_reply")

import re
import sys
import subprocess
import time
from pathlib import Path

import bench
import harness

TOP = Path(__file__).resolve().parents[2]


class CallgrindUnbound(harness.Unbound):
    stop_timeout = 120

    def _argv(self):
        return ["valgrind", "--tool=callgrind", f"--callgrind-out-file={self.dir}/callgrind.out",
                "--dump-instr=no", "--separate-threads=yes"] + super()._argv()


def annotate(out, inclusive):
    # run outside the source tree: started from the top directory, callgrind_annotate
    # --inclusive=yes lists a function twice (as module/x.c:f and /work/.../module/x.c:f)
    txt = subprocess.run(["callgrind_annotate", f"--inclusive={'yes' if inclusive else 'no'}", "--threshold=100",
                          "--auto=no", str(Path(out).resolve())], capture_output=True, text=True, check=True,
                         cwd=Path(out).resolve().parent).stdout
    rows = {}
    for line in txt.splitlines():
        m = re.match(r"\s*([\d,]+)\s+(?:\([^)]*\)\s+)?(\S+):(\S+)", line)
        if m:
            key = (str((TOP / m.group(2)).resolve()) if m.group(2) != "???" else "???", m.group(3))
            rows[key] = max(rows.get(key, 0), int(m.group(1).replace(",", "")))
    return [(c, fl, fn) for (fl, fn), c in rows.items()]


def thread_files(d, part):
    """{thread id: file} of dump `part` (callgrind.out.<part>-<thread>)."""
    out = {}
    for f in d.glob(f"callgrind.out.{part}-*"):
        m = re.fullmatch(rf"callgrind\.out\.{part}-(\d+)", f.name)
        if m:
            out[int(m.group(1))] = f
    return dict(sorted(out.items()))


def summary(f):
    m = re.search(r"^summary:\s*(\d+)", f.read_text(), re.M)
    return int(m.group(1)) if m else 0


def fn_names(f):
    return set(re.findall(r"^c?fn=(?:\(\d+\)\s*)?(\S+)\s*$", f.read_text(), re.M))


def classify(d, parts):
    """{thread id: 'worker'|'module'|'other'} from the union of the functions in all dumps `parts`."""
    names = {}
    for part in parts:
        for tid, f in thread_files(d, part).items():
            names.setdefault(tid, set()).update(fn_names(f))
    return {tid: "worker" if n & set(WORKER_FNS) else "module" if n & set(MODULE_THREAD_FNS) else "other"
            for tid, n in names.items()}


def annotate_many(files, inclusive):
    """annotate() summed over several per-thread files, by (file, function)."""
    acc = {}
    for f in files:
        total = summary(f)
        if not total:
            continue
        for cost, fl, fn in annotate(f, inclusive):
            if not inclusive and cost >= total:
                # a frame still active at the dump (clone, start_thread, the module's thread_main,
                # worker_work...): callgrind_annotate shows the whole thread as its self cost
                continue
            acc[(fl, fn)] = acc.get((fl, fn), 0) + cost
    return [(c, fl, fn) for (fl, fn), c in acc.items()]


def fn_cost(rows, fn):
    return sum(r[0] for r in rows if r[2] == fn)


def plain_cache_hits(b, d, queries):
    """Plain Unbound (no module), same cache hits: {total, worker, incl (worker threads, inclusive rows)}."""
    ub = CallgrindUnbound(d / "plain", b.nsd.port, extra_conf=bench.unbound_conf_extra(THREADS), timeout=300)
    try:
        for n in bench.UNBLOCKED:
            bench.first_a(ub.port, n, timeout=10)
        subprocess.run(["callgrind_control", "--zero", str(ub.pid)], capture_output=True)
        subprocess.run(["dnsperf", "-s", "127.0.0.1", "-p", str(ub.port), "-d", str(queries), "-n", "1", "-Q", "500",
                        "-t", "10"], capture_output=True, text=True, check=True)
        subprocess.run(["callgrind_control", "--dump=plain", str(ub.pid)], capture_output=True)
        time.sleep(1)
    finally:
        ub.stop()
    files = thread_files(d / "plain", 1)
    cls = classify(d / "plain", [1])
    workers = [f for tid, f in files.items() if cls.get(tid) != "module"]
    return {"total": sum(summary(f) for f in files.values()), "worker": sum(summary(f) for f in workers),
            "threads": {tid: (cls.get(tid), summary(f)) for tid, f in files.items()},
            "incl": annotate_many(workers, True)}


def main(args):
    b = bench.Bench(args)
    d = b.tmp / "callgrind"
    size = max(args.sizes)
    redis = harness.Redis(d / "redis")
    bench.load_redis(redis.client(), b.names[:size])
    conf = d / "redsink.conf"
    conf.write_text(f"read-redis: {redis.url}\nsinkhole-ipv4: {bench.SINK}\nresolver-name: bench\n")
    ub = CallgrindUnbound(d / "unbound", b.nsd.port, module_so=str(bench.MODULE), env={"REDSINK_CONF": str(conf)},
                          extra_conf=bench.unbound_conf_extra(THREADS), timeout=300)
    nq = {}
    try:
        for n in bench.UNBLOCKED:
            bench.first_a(ub.port, n, timeout=10)
        subprocess.run(["callgrind_control", "--zero", str(ub.pid)], capture_output=True)
        for kind in PHASES:
            q = b.qfile("blocked" if kind == "blocked-again" else kind, size)
            lines = q.read_text().splitlines()[:2000]
            q2 = d / f"cg-{kind}.txt"
            q2.write_text("\n".join(lines) + "\n")
            subprocess.run(["dnsperf", "-s", "127.0.0.1", "-p", str(ub.port), "-d", str(q2), "-n", "1", "-Q", "500",
                            "-t", "10"], capture_output=True, text=True, check=True)
            nq[kind] = len(lines)
            # one dump per phase, so the two are counted apart
            subprocess.run(["callgrind_control", "--dump=" + kind, str(ub.pid)], capture_output=True)
            time.sleep(1)
        plain = plain_cache_hits(b, d, d / "cg-unblocked.txt")
    finally:
        ub.stop()
        redis.stop()
        b.nsd.stop()
    report = []
    cls = classify(d / "unbound", range(1, len(PHASES) + 1))
    for i, kind in enumerate(PHASES):
        files = thread_files(d / "unbound", i + 1)
        rows = annotate_many(files.values(), False)
        total = sum(summary(f) for f in files.values())
        # the module's own code: module/ and the shared core it links (lib/)
        self_rows = [r for r in rows if re.search(r"(?:^|/)(?:module|lib)/[^/]+\.[ch]$", r[1])]
        module_self = sum(r[0] for r in self_rows)
        incl = annotate_many(files.values(), True)
        operate = next((r[0] for r in incl if r[2] == "operate"), 0)
        n = nq[kind]
        report.append({"queries": kind, "process_instr_per_query": total / n,
                       "redsink_self_instr_per_query": module_self / n, "operate_inclusive_per_query": operate / n})
        print(f"{kind}: {n} queries: whole process {total / n:.0f} instr/query; redsink.so functions (self) "
              f"{module_self / n:.0f} ({module_self / max(total, 1):.1%}); operate() inclusive {operate / n:.0f}")
        for r in sorted(self_rows, reverse=True)[:12]:
            print(f"    {r[0] / n:8.0f}  {r[2]}")
        if kind == "unblocked":
            p = plain["total"] / n
            print(f"  plain Unbound, same cache hits: {p:.0f} instr/query; with redsink ({size} domains): "
                  f"×{total / n / p:.3f}")
            report[-1]["plain_instr_per_query"] = p
            report[-1].update(worker_only(files, cls, plain, n))
        if kind == "blocked-again":
            cache = next((r[0] for r in incl if r[2] == "on_cache_reply"), 0)
            print(f"  cache reply callback (on_cache_reply, inclusive) {cache / n:.0f} instr/query")
            report[-1]["cache_cb_per_query"] = cache / n
        if kind == "blocked":
            count = sum(r[0] for r in incl if r[2] in ("on_reply",))
            drain = next((r[0] for r in incl if r[2] == "rs_stats_drain"), 0)
            print(f"  counting: worker side (on_reply, inclusive) {count / n:.0f} instr/query "
                  f"({count / max(total, 1):.1%}); sync-thread aggregation {drain / n:.0f} instr/query "
                  f"({drain / max(total, 1):.1%}) with every query a new (domain, region) pair")
            report[-1]["count_worker_per_query"] = count / n
            report[-1]["count_sync_per_query"] = drain / n
    return report


def worker_only(files, cls, plain, n):
    """Print and return the unblocked cache hits counted on the worker threads only."""
    workers = [f for tid, f in files.items() if cls.get(tid) != "module"]
    w = sum(summary(f) for f in workers) / n
    pw, pt = plain["worker"] / n, plain["total"] / n
    diff = w - pw
    print("  threads (instr/query): redsink " + ", ".join(f"{tid}:{cls.get(tid)} {summary(f) / n:.0f}"
                                                        for tid, f in files.items())
          + "; plain " + ", ".join(f"{tid}:{c} {v / n:.0f}" for tid, (c, v) in plain["threads"].items()))
    print(f"  worker threads only: plain {pw:.0f} instr/query, redsink {w:.0f}; difference {diff:+.0f} "
          f"({diff / pw:+.2%} of plain worker-only, {diff / pt:+.2%} of plain whole-process {pt:.0f})")
    incl = annotate_many(workers, True)
    # per query, without the event loop (wake-ups and empty reads of two workers sharing one socket
    # differ from run to run)
    h, ph = fn_cost(incl, "worker_handle_request") / n, fn_cost(plain["incl"], "worker_handle_request") / n
    print(f"  worker_handle_request inclusive: plain {ph:.0f} instr/query, redsink {h:.0f}; difference "
          f"{h - ph:+.0f} ({(h - ph) / pw:+.2%} of plain worker-only, {(h - ph) / pt:+.2%} of plain whole-process)")
    r = {k: fn_cost(incl, k) / n for k in DISPATCH_FNS}
    p = {k: fn_cost(plain["incl"], k) / n for k in DISPATCH_FNS}
    call = r["inplace_cb_reply_cache_call"] - p["inplace_cb_reply_cache_call"]
    dyn, own = r["dynlib_inplace_cb_reply_generic"], r["on_cache_reply"]
    print(f"  of it, the cache-hit callback path (worker threads, inclusive, instr/query): "
          f"inplace_cb_reply_cache_call {r['inplace_cb_reply_cache_call']:.1f} (plain "
          f"{p['inplace_cb_reply_cache_call']:.1f}; inplace_cb_reply_call_generic not inlined: "
          f"{r['inplace_cb_reply_call_generic']:.1f}/{p['inplace_cb_reply_call_generic']:.1f}) -> "
          f"+{call:.1f}: Unbound's dispatch {call - dyn:.1f}, dynlibmod's wrapper "
          f"(dynlib_inplace_cb_reply_generic) {dyn - own:.1f}, the module's on_cache_reply {own:.1f}; "
          f"rest of worker_handle_request {h - ph - call:+.1f}; outside it (event loop) {diff - (h - ph):+.1f}")
    return {"worker_instr_per_query": w, "plain_worker_instr_per_query": pw, "worker_diff_per_query": diff,
            "handle_request_per_query": h, "plain_handle_request_per_query": ph,
            "worker_diff_pct_of_plain_worker": diff / pw, "worker_diff_pct_of_plain_total": diff / pt,
            "cache_cb_call_per_query": r["inplace_cb_reply_cache_call"],
            "plain_cache_cb_call_per_query": p["inplace_cb_reply_cache_call"],
            "dispatch_unbound_per_query": call - dyn, "dispatch_dynlib_per_query": dyn - own,
            "on_cache_reply_per_query": own}
