"""Signed orders (issue 14, doc/signing.md): what require-signatures: yes costs.

- Load: one order of N names (default 1,000,000) in Redis, signed (its
  manifest:<id>, Ed25519 over a text stating the set digest of the names).
  The resolver starts against it unsigned (require-signatures: no: the
  manifest is not read) and signed (yes: the manifest verified, the set digest
  of every name read computed and compared). Figures: the module's own load
  time from its log line ("loaded ... in X s", the SSCAN of the names, the
  list, the digest), and process start to the first blocked answer.
- Per change: one name added, from the write (MULTI/EXEC with its stream
  entries) to the first sinkhole answer; unsigned: op=add; signed: the add
  entry plus op=signed (verified: one Ed25519 verification and one SHA-256
  of the previous text, then the delta applied).

The machine is shared and noisy: the signed and unsigned runs alternate
(unsigned, signed, unsigned, ...) and each figure is the median of --runs.

  /usr/bin/python3 tests/bench/signed.py [--names 1000000] [--runs 3] [--changes 30]
"""

import argparse
import bisect
import datetime
import hashlib
import os
import re
import statistics
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
import signing  # noqa: E402

OID = "bench"
FIELDS = {"authority": "Bench Court", "reference": "BENCH-1", "scope": "*", "action": "sinkhole",
          "reason": "benchmark", "url": "https://b.example/1"}
KEY = signing.Key(7, "BENCH")
LOADED = re.compile(r"redsink: loaded (\d+) orders, (\d+) domains.* in ([0-9.]+) s")


class Chain:
    """The order's signed chain, kept incrementally: the sorted member hashes
    (the set digest's input), the version and the hash of its text."""

    def __init__(self, names):
        self.h = sorted(hashlib.sha256(n.encode()).digest() for n in names)
        self.version = 100  # a chain already under way (a full load checks version >= verified, not the history)
        self.prev = "0" * 64
        self.text = None

    def sign(self, add=()):
        for n in add:
            bisect.insort(self.h, hashlib.sha256(n.encode()).digest())
        digest = hashlib.sha256(b"".join(self.h)).hexdigest()
        empty = hashlib.sha256(b"").hexdigest()
        lines = ["redsink-manifest 1", f"order {OID}", f"version {self.version}", f"prev {self.prev}",
                 f"key {KEY.id}", "signed-at " + time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "state active"]
        for f in signing.FIELDS:
            if FIELDS.get(f):
                lines.append(f"field {f} {signing.escape(FIELDS[f])}")
        lines += [f"names {len(self.h)} {digest}", f"prefixes 0 {empty}", f"delta {len(add)}"]
        lines += [f"+ {n}" for n in sorted(add)]
        self.text = "\n".join(lines) + "\n"
        sig = KEY.sign(self.text)
        self.prev = signing.sha256_hex(self.text)
        self.version += 1
        return self.text, sig


def load(client, names, chain):
    p = client.pipeline(transaction=False)
    p.hset("redsink:order:" + OID, mapping=FIELDS)
    p.sadd("redsink:orders", OID)
    for i in range(0, len(names), 20000):
        p.sadd("redsink:order:" + OID + ":domains", *names[i:i + 20000])
    text, sig = chain.sign()
    p.hset("redsink:manifest:" + OID, mapping={"text": text, "sig": sig, "key": KEY.id})
    p.execute()


def start(tmp, nsd, redis, signed):
    d = tmp / f"ub-{'signed' if signed else 'unsigned'}-{time.monotonic_ns()}"
    conf = d / "redsink.conf"
    d.mkdir(parents=True)
    conf.write_text(f"read-redis: {redis.url}\nsinkhole-ipv4: {bench.SINK}\nresolver-name: bench\n"
                    + (f"require-signatures: yes\ntrusted-key: {KEY.conf()}\n" if signed else ""))
    extra = bench.unbound_conf_extra().replace("verbosity: 0", "verbosity: 1")  # the module's load line
    ub = bench.PinnedUnbound(d / "unbound", nsd.port, module_so=str(bench.MODULE), env={"REDSINK_CONF": str(conf)},
                             extra_conf=extra, start=False, timeout=600)
    t0 = time.monotonic()
    ub.start()
    return ub, t0


def change_times(ub, redis, chain, signed, n, tag):
    """add -> enforced, n times: seconds each."""
    c = redis.client()
    out = []
    for i in range(n):
        dom = f"chg{i}.{tag}.bench-add.example"
        text, sig = chain.sign(add=[dom]) if signed else (None, None)
        t0 = time.monotonic()
        p = c.pipeline(transaction=True)
        p.sadd("redsink:order:" + OID + ":domains", dom)
        p.xadd("redsink:changes", {"op": "add", "order": OID, "domain": dom, "by": "bench"})
        if signed:
            p.hset("redsink:manifest:" + OID, mapping={"text": text, "sig": sig, "key": KEY.id})
            p.xadd("redsink:changes", {"op": "signed", "order": OID, "text": text, "sig": sig, "key": KEY.id})
        p.execute()
        bench.wait_answer(ub.port, dom, bench.SINK, timeout=60)
        out.append(time.monotonic() - t0)
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--names", type=int, default=1000000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--changes", type=int, default=30)
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="redsink-bench-signed-"))
    bench.log(f"generating {args.names} domains")
    names = gen.domains(args.names)
    nsd = harness.Nsd(tmp / "nsd")
    res = {False: {"load": [], "first": [], "chg": []}, True: {"load": [], "first": [], "chg": []}}
    try:
        for run in range(args.runs):
            for signed in (False, True):
                redis = harness.Redis(tmp / f"redis-{run}-{signed}")
                try:
                    chain = Chain(names)
                    load(redis.client(), names, chain)
                    ub, t0 = start(tmp, nsd, redis, signed)
                    try:
                        bench.wait_answer(ub.port, "www." + names[0], bench.SINK, timeout=600)
                        first = time.monotonic() - t0
                        m = LOADED.search(ub.log())
                        if not m or int(m.group(2)) != args.names:
                            raise RuntimeError(f"no load line for {args.names} names: {ub.log()[-2000:]}")
                        chg = change_times(ub, redis, chain, signed, args.changes, f"r{run}{int(signed)}")
                    finally:
                        ub.stop()
                finally:
                    redis.stop()
                r = res[signed]
                r["load"].append(float(m.group(3)))
                r["first"].append(first)
                r["chg"].extend(chg)
                bench.log(f"run {run + 1} {'signed' if signed else 'unsigned'}: load {float(m.group(3)):.3f} s, "
                          f"start->first block {first:.2f} s, change p50 {statistics.median(chg) * 1000:.2f} ms")
    finally:
        nsd.stop()
        harness.stop_all()

    def row(signed):
        r = res[signed]
        ch = sorted(r["chg"])
        p90 = ch[min(len(ch) - 1, int(round(0.9 * (len(ch) - 1))))]
        return (f"| {'signed' if signed else 'unsigned'} | {statistics.median(r['load']):.3f} "
                f"({', '.join(f'{x:.3f}' for x in r['load'])}) | {statistics.median(r['first']):.2f} | "
                f"{statistics.median(ch) * 1000:.2f} | {p90 * 1000:.2f} |")
    print(f"\n{datetime.datetime.utcnow():%Y-%m-%d %H:%M} UTC, {args.names} names, {args.runs} interleaved runs, "
          f"{args.changes} changes per run; {os.cpu_count()} CPUs")
    print("| mode | module load from Redis, median (runs) (s) | start→first block (s) | change→enforced p50 (ms) | p90 (ms) |")
    print("|---|---|---|---|---|")
    print(row(False))
    print(row(True))


if __name__ == "__main__":
    main()
