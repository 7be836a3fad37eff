"""Soak: mixed load for --soak-minutes while another process pushes and withdraws
domains continuously (50 changes per second). Reports QPS over time, errors
(lost queries and SERVFAILs, which must be 0), and the resolver's memory at the
start and the end (which must not grow beyond the list's own growth).
"""

import re
import subprocess
import threading
import time

import bench
import harness


def pusher(client, stop, stats, rate=50):
    """Add, then withdraw, soak domains at `rate` changes per second."""
    i = 0
    period = 1.0 / rate
    t_next = time.monotonic()
    while not stop.is_set():
        dom = f"soak{i % 500}.bench-soak.example"
        op = "add" if (i // 500) % 2 == 0 else "del"
        p = client.pipeline(transaction=True)
        (p.sadd if op == "add" else p.srem)("redsink:order:bench:domains", dom)
        p.xadd("redsink:changes", {"op": op, "order": "bench", "domain": dom, "by": "soak"}, maxlen=100000,
               approximate=True)
        p.execute()
        stats["changes"] += 1
        i += 1
        t_next += period
        time.sleep(max(0.0, t_next - time.monotonic()))


def main(args):
    b = bench.Bench(args)
    size = min(args.sizes)
    seconds = int(args.soak_minutes * 60)
    ub, redis, _ = b.start_resolver("redsink", size)
    stop = threading.Event()
    stats = {"changes": 0}
    try:
        for n in bench.UNBLOCKED:
            bench.first_a(ub.port, n)
        rss0 = bench.mem_kb(ub.pid)
        c0 = bench.cpu_seconds(ub.pid)
        th = threading.Thread(target=pusher, args=(redis.client(), stop, stats), daemon=True)
        th.start()
        out = subprocess.run(["taskset", "-c", "1", "dnsperf", "-s", "127.0.0.1", "-p", str(ub.port), "-d",
                              str(b.qfile("mix", size)), "-l", str(seconds), "-c", "4", "-q", "200", "-t", "2",
                              "-S", "10"], capture_output=True, text=True, check=True).stdout
        stop.set()
        th.join()
        rss1 = bench.mem_kb(ub.pid)
        cpu = bench.cpu_seconds(ub.pid) - c0
    finally:
        stop.set()
        ub.stop()
        redis.stop()
        b.nsd.stop()
    series = [float(x) for x in re.findall(r"^\d+\.\d+: ([\d.]+)$", out, re.M)]
    done = int(re.search(r"Queries completed:\s+(\d+)", out).group(1))
    lost = int(re.search(r"Queries lost:\s+(\d+)", out).group(1))
    rcodes = re.search(r"Response codes:\s+(.*)", out).group(1)
    servfail = int((re.search(r"SERVFAIL (\d+)", rcodes) or [0, 0])[1])
    errors = lost + servfail
    lines = [f"Soak: {seconds} s of the 99/1 mix against redsink with {size} domains, "
             f"{stats['changes']} changes pushed ({stats['changes'] / seconds:.0f}/s).",
             f"Answered {done} queries ({done / seconds:.0f} QPS on average), {cpu / max(done, 1) * 1e6:.2f} µs CPU/query.",
             f"Errors: {errors} (lost {lost}, SERVFAIL {servfail}); response codes: {rcodes}.",
             f"Resolver RSS: {rss0 / 1024:.1f} MB at start, {rss1 / 1024:.1f} MB at the end "
             f"({(rss1 - rss0) / 1024:+.1f} MB).",
             "QPS every 10 s: " + ", ".join(f"{q:.0f}" for q in series)]
    text = "\n".join(lines) + "\n"
    print(text)
    (bench.OUT / "soak.md").write_text(text)
    return 0 if errors == 0 else 1
