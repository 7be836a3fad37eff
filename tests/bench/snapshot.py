"""One change enforced while the snapshot file is written (issue 15).

tests/bench/run does not set a snapshot-file, so its update figure never meets a
snapshot write. This script does: it loads SIZE domains into Redis once, then,
for each module given (label=path, interleaved round by round), starts Unbound
(pinned to CPU 0 as in the bench; the script, Redis and NSD on CPU 1) with a
snapshot-file and times pushes paced so that some of them overlap the writes
(one every 5 s after a change). Each push is one MULTI/SADD/XADD/EXEC on a raw
socket; the name, asked once before (a cached answer the change must purge), is
polled every --poll seconds with a raw UDP query until it is blocked. A change
"during a write" is one during which (from the push to the blocked answer) the
writer thread (redsink-snap) ran (its schedstat): any step of a write, its
encoding included.
A label starting with "nosnap" runs without a snapshot-file (the noise floor).

  tests/bench/snapshot.py latency --size 1000000 --trials 300 --pace 0.03 --rounds 3 \\
      nosnap=build/redsink/module/.libs/redsink.so before=/path/old/redsink.so \\
      after=build/redsink/module/.libs/redsink.so

`stall` needs a module built with -DRS_TEST_HOOKS: the first write sleeps
--stall seconds inside its read-side section while names are pushed and
withdrawn; it prints RSS before, at the end of and after the stall (memory
that changes replace is only freed after the write: deferred, not lost).

  tests/bench/snapshot.py stall --size 1000000 --stall 20 --rate 100 MODULE.so
"""

import argparse
import os
import socket
import statistics
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "integration"))
sys.path.insert(0, str(HERE))

import bench  # noqa: E402
import dns.message  # noqa: E402
import gen  # noqa: E402
import harness  # noqa: E402


def start(tmp, nsd, redis, mod, snapshot=True, env=None):
    tmp.mkdir(parents=True)
    conf = tmp / "redsink.conf"
    conf.write_text(f"read-redis: {redis.url}\nsinkhole-ipv4: {bench.SINK}\nresolver-name: bench\n"
                    + (f"snapshot-file: {tmp / 'redsink.snap'}\n" if snapshot else ""))
    ub = bench.PinnedUnbound(tmp / "ub", nsd.port, module_so=mod, env={"REDSINK_CONF": str(conf), **(env or {})},
                             extra_conf=bench.unbound_conf_extra(), start=False, timeout=600)
    ub.start()
    return ub


def push(c, dom, op="add"):
    p = c.pipeline(transaction=True)
    if op == "add":
        p.sadd("redsink:order:bench:domains", dom)
    else:
        p.srem("redsink:order:bench:domains", dom)
    p.xadd("redsink:changes", {"op": op, "order": "bench", "domain": dom, "by": "bench"})
    p.execute()


def resp(*args):
    out = [b"*%d\r\n" % len(args)]
    for a in args:
        a = a.encode() if isinstance(a, str) else a
        out.append(b"$%d\r\n%s\r\n" % (len(a), a))
    return b"".join(out)


class Probe:
    """The latency loop without Python's library overhead in the timed path:
    the push is one pre-encoded MULTI/SADD/XADD/EXEC write on a raw socket,
    and the name is polled with a pre-encoded query on a raw UDP socket every
    `poll` seconds. The name is asked once before the push, so every poll
    until the change is a cache hit (the change must purge that answer)."""

    def __init__(self, redis_port, dns_port, poll):
        self.r = socket.create_connection(("127.0.0.1", redis_port))
        self.r.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.u.connect(("127.0.0.1", dns_port))
        self.u.settimeout(1.0)
        self.poll = poll
        self.sink = socket.inet_aton(bench.SINK)

    def ask(self, wire):
        self.u.send(wire)
        while True:
            a = self.u.recv(4096)
            if a[:2] == wire[:2]:
                return a

    def blocked(self, a):
        return (a[3] & 0x0f) == 0 and a[6:8] != b"\0\0" and self.sink in a[12:]

    def drain(self):
        """Drop late answers to earlier attempts (each trial has its own ID)."""
        self.u.setblocking(False)
        try:
            while True:
                self.u.recv(4096)
        except BlockingIOError:
            pass
        finally:
            self.u.settimeout(1.0)

    def change(self, dom, qid, oncpu=lambda: 0):
        """Seconds from the push to the first blocked answer, and whether
        oncpu() (the writer thread's CPU time) moved meanwhile."""
        wire = dns.message.make_query(dom, "A")
        wire.id = qid
        wire = wire.to_wire()
        for attempt in range(30):  # a new name: resolved through NSD, whose rate limit may drop it
            try:
                first = self.ask(wire)
                break
            except TimeoutError:
                if attempt == 29:
                    raise
        if self.blocked(first):
            raise RuntimeError(f"{dom} blocked before its push")
        cmd = (resp("MULTI") + resp("SADD", "redsink:order:bench:domains", dom)
               + resp("XADD", "redsink:changes", "*", "op", "add", "order", "bench", "domain", dom, "by", "bench")
               + resp("EXEC"))
        self.drain()
        w0 = oncpu()
        t0 = time.monotonic()
        self.r.sendall(cmd)
        while True:
            try:
                if self.blocked(self.ask(wire)):
                    t = time.monotonic() - t0
                    break
            except TimeoutError:
                pass  # a lost datagram: asked again
            if time.monotonic() - t0 > 30:
                raise RuntimeError(f"{dom} never blocked")
            if self.poll:
                time.sleep(self.poll)
        during = oncpu() != w0
        got = b""
        while got.count(b"\r\n") < 7:  # +OK, +QUEUED x2, *2, :1, $len, id
            got += self.r.recv(4096)
        if got.startswith(b"-") or b"\r\n-" in got:
            raise RuntimeError(f"Redis refused the push of {dom}: {got!r}")
        return t, during


def thread_of(pid, name):
    for t in Path(f"/proc/{pid}/task").iterdir():
        if (t / "comm").read_text().strip() == name:
            return int(t.name)
    return None


def oncpu_ns(pid, tid):
    return int(Path(f"/proc/{pid}/task/{tid}/schedstat").read_text().split()[0]) if tid else 0


def latency(args, names, nsd, redis, tmp):
    k = 0
    for rnd in range(args.rounds):
        for label, mod in (m.split("=", 1) for m in args.modules):
            ub = start(tmp / f"{label}-{rnd}", nsd, redis, mod, snapshot=not label.startswith("nosnap"))
            try:
                bench.wait_answer(ub.port, "www." + names[0], bench.SINK)
                time.sleep(3)  # the write after the initial load is done
                times, during = [], []
                probe = Probe(redis.port, ub.port, args.poll)
                writer = thread_of(ub.pid, "redsink-snap")
                for _ in range(args.trials):
                    k += 1
                    t, busy = probe.change(f"upd{k}.bench-add.example", k & 0xffff, lambda: oncpu_ns(ub.pid, writer))
                    times.append(t)
                    if busy:
                        during.append(t)  # the writer ran between the push and the blocked answer
                    time.sleep(args.pace)
                s = sorted(times)
                p99 = s[min(len(s) - 1, int(round(0.99 * (len(s) - 1))))]
                print(f"{label} round {rnd}: {args.trials} trials, one every {args.pace} s: "
                      f"p50 {statistics.median(s) * 1000:.2f} ms, p99 {p99 * 1000:.2f} ms, max {s[-1] * 1000:.2f} ms; "
                      f"VmHWM {bench.mem_kb(ub.pid, 'VmHWM') / 1024:.0f} MB; {len(during)} during a write"
                      + (f" (max {max(during) * 1000:.2f} ms)" if during else ""), flush=True)
            finally:
                ub.stop()


def stall(args, names, nsd, redis, tmp):
    c = redis.client()
    ub = start(tmp / "stall", nsd, redis, args.modules[0],
               env={"REDSINK_TEST_SNAPSHOT_STALL": str(int(args.stall * 1000))})
    try:
        bench.wait_answer(ub.port, "www." + names[0], bench.SINK)
        if "test hooks enabled" not in ub.log():
            sys.exit("the module was built without RS_TEST_HOOKS")
        while "stalling the snapshot write" not in ub.log():
            time.sleep(0.05)
        rss0 = bench.mem_kb(ub.pid)
        n, lat = 0, []
        t0 = time.monotonic()
        while time.monotonic() - t0 < args.stall - 1:
            dom = f"b{n}.stall.example"
            ts = time.monotonic()
            push(c, dom)
            if n >= 100:
                push(c, f"b{n - 100}.stall.example", "del")  # entries retired during the write
            if n % 50 == 0:
                bench.wait_answer(ub.port, dom, bench.SINK, timeout=30)
                lat.append(time.monotonic() - ts)
            n += 1
            time.sleep(1 / args.rate)
        rss1 = bench.mem_kb(ub.pid)
        while "the snapshot write goes on" not in ub.log():
            time.sleep(0.05)
        time.sleep(8)
        rss2 = bench.mem_kb(ub.pid)
        print(f"{len(names)} domains, {args.stall:.0f} s stalled write: {n} names pushed, {max(0, n - 100)} withdrawn; "
              f"enforced during the stall within {max(lat) * 1000:.1f} ms (max of {len(lat)}); RSS {rss0 / 1024:.0f} MB "
              f"at the stall, {rss1 / 1024:.0f} MB at its end, {rss2 / 1024:.0f} MB 8 s later; "
              f"VmHWM {bench.mem_kb(ub.pid, 'VmHWM') / 1024:.0f} MB", flush=True)
    finally:
        ub.stop()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("mode", choices=["latency", "stall"])
    ap.add_argument("modules", nargs="+", help="latency: label=redsink.so ...; stall: redsink.so")
    ap.add_argument("--size", type=int, default=1000000)
    ap.add_argument("--trials", type=int, default=300)
    ap.add_argument("--pace", type=float, default=0.03)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--poll", type=float, default=0.0002, help="latency: seconds between polls of the name")
    ap.add_argument("--cpu", type=int, default=1, help="the harness's own CPU (Unbound is on CPU 0); -1: any")
    ap.add_argument("--stall", type=float, default=20)
    ap.add_argument("--rate", type=float, default=100, help="stall: pushes per second")
    args = ap.parse_args()
    if args.cpu >= 0:
        os.sched_setaffinity(0, {args.cpu})  # Redis and NSD, started below, inherit it
    tmp = Path(tempfile.mkdtemp(prefix="redsink-snapbench-"))
    names = gen.domains(args.size)
    nsd = harness.Nsd(tmp / "nsd")
    redis = harness.Redis(tmp / "redis")
    try:
        bench.load_redis(redis.client(), names)
        (latency if args.mode == "latency" else stall)(args, names, nsd, redis, tmp)
    finally:
        redis.stop()
        nsd.stop()
        harness.stop_all()
    return 0


if __name__ == "__main__":
    sys.exit(main())
