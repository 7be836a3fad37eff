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
"""

THREADS = "    num-threads: 2\n"
PHASES = ("blocked", "blocked-again", "unblocked")

import re
import sys
import subprocess
import time
from pathlib import Path

import bench
import harness


class CallgrindUnbound(harness.Unbound):
    stop_timeout = 120

    def _argv(self):
        return ["valgrind", "--tool=callgrind", f"--callgrind-out-file={self.dir}/callgrind.out",
                "--dump-instr=no"] + super()._argv()


def annotate(out, inclusive):
    txt = subprocess.run(["callgrind_annotate", f"--inclusive={'yes' if inclusive else 'no'}", "--threshold=100",
                          "--auto=no", str(out)], capture_output=True, text=True, check=True).stdout
    rows = []
    for line in txt.splitlines():
        m = re.match(r"\s*([\d,]+)\s+(?:\([^)]*\)\s+)?(\S+):(\S+)", line)
        if m:
            rows.append((int(m.group(1).replace(",", "")), m.group(2), m.group(3)))
    return rows


def plain_cache_hits(b, d, queries):
    """Instructions per query of plain Unbound (no module) for the same cache hits."""
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
    txt = subprocess.run(["callgrind_annotate", "--auto=no", str(d / "plain" / "callgrind.out.1")],
                         capture_output=True, text=True).stdout
    return int(re.search(r"([\d,]+)\s+(?:\([^)]*\)\s+)?PROGRAM TOTALS", txt).group(1).replace(",", ""))


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
        plain_total = plain_cache_hits(b, d, d / "cg-unblocked.txt")
    finally:
        ub.stop()
        redis.stop()
        b.nsd.stop()
    report = []
    for i, kind in enumerate(PHASES):
        f = d / "unbound" / f"callgrind.out.{i + 1}"
        rows = annotate(f, False)
        txt = subprocess.run(["callgrind_annotate", "--auto=no", str(f)], capture_output=True, text=True).stdout
        total = int(re.search(r"([\d,]+)\s+(?:\([^)]*\)\s+)?PROGRAM TOTALS", txt).group(1).replace(",", ""))
        # the module's own code: module/ and the shared core it links (lib/)
        self_rows = [r for r in rows if re.search(r"(?:^|/)(?:module|lib)/[^/]+\.[ch]$", r[1])]
        module_self = sum(r[0] for r in self_rows)
        incl = annotate(f, True)
        operate = next((r[0] for r in incl if r[2] == "operate"), 0)
        n = nq[kind]
        report.append({"queries": kind, "process_instr_per_query": total / n,
                       "redsink_self_instr_per_query": module_self / n, "operate_inclusive_per_query": operate / n})
        print(f"{kind}: {n} queries: whole process {total / n:.0f} instr/query; redsink.so functions (self) "
              f"{module_self / n:.0f} ({module_self / max(total, 1):.1%}); operate() inclusive {operate / n:.0f}")
        for r in sorted(self_rows, reverse=True)[:12]:
            print(f"    {r[0] / n:8.0f}  {r[2]}")
        if kind == "unblocked":
            p = plain_total / n
            print(f"  plain Unbound, same cache hits: {p:.0f} instr/query; with redsink ({size} domains): "
                  f"×{total / n / p:.3f}")
            report[-1]["plain_instr_per_query"] = p
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
