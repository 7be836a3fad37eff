#!/usr/bin/env python3
"""dnsdist beside redsink (issue 15): the strongest throughput peer, side by side.

Three resolvers, all started here on loopback and measured in the same run, their runs
interleaved (run 1 of every row and query set, then run 2, ...):

  plain Unbound        bench.py's PinnedUnbound (one thread, CPU 0), no list
  redsink              the same Unbound with the module (REDSINK_MODULE, default
                       build/redsink), N listed names loaded from Redis as in bench.py
  dnsdist + Unbound    Debian's dnsdist (1.7) on CPU 0 in front of a plain PinnedUnbound
                       (also CPU 0) with its packet cache, and the N names in an LMDB
                       database: addAction(KeyValueStoreLookupRule(kvs,
                       KeyValueLookupKeySuffix()), SpoofAction("192.0.2.1"))

The names are gen.py's (the first N of the same list). dnsdist's KeyValueLookupKeySuffix looks
up the lowercased query name and each of its parents in DNS wire format, root label included
(www.a.com. -> "\\3www\\1a\\3com\\0", "\\1a\\3com\\0", "\\3com\\0"), so the LMDB keys are the
listed names in that form. Before measuring, the key form is proven by queries: a listed name,
a subdomain of one and a mixed-case subdomain answer 192.0.2.1, while a name stored as a
text-form key ("textkey.example.") is not spoofed.

Query sets (bench.py's): "unblocked" (cache hits: 10 names of zones/example.zone) and
"blocked" (10,000 listed names, half as www. subdomains), both warmed up first; the warm-up
checks every answer (blocked -> 192.0.2.1, unblocked -> plain Unbound's answer). dnsperf runs
on CPU 1 (bench.dnsperf). CPU per query = utime+stime of the resolver side per answered query:
for dnsdist, dnsdist's plus its Unbound's. Each figure is the median of --runs runs of
--duration seconds. The machine's other load during the runs is reported (/proc/stat busy time
less this benchmark's processes, and the load average).

dnsdist and python3-lmdb are installed here if missing (apt-get; not part of scripts/deps.sh:
CI does not need them). Debian's dnsdist service is stopped and disabled if systemd runs it;
only the processes started here are stopped at the end, also on failure.

Usage: tests/bench/dnsdist.py [--names N] [--runs R] [--duration S] [--quick] [--lua 'LUA']
(--lua: more dnsdist configuration, e.g. 'setRingBuffersSize(0)'; dnsdist's defaults otherwise,
but for its UDP socket buffers: 4 MB as bench.py's Unbound)
Results: printed, and build/bench/dnsdist.md.
"""

import argparse
import datetime
import os
import resource
import shutil
import statistics
import subprocess
import sys
import time
import types
from pathlib import Path

import bench
import harness

TEXT_KEY = "textkey.example"     # stored as a text-form key: must NOT be spoofed


def log(*a):
    bench.log(*a)


# ---- dnsdist and LMDB --------------------------------------------------------

def ensure_installed():
    """apt-get install dnsdist / python3-lmdb when missing; keep Debian's service down."""
    missing = []
    if not shutil.which("dnsdist"):
        missing.append("dnsdist")
    try:
        import lmdb  # noqa: F401
    except ImportError:
        missing.append("python3-lmdb")
    if missing:
        log(f"installing {' '.join(missing)}")
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        subprocess.run(["apt-get", "install", "-y", "-qq", "--no-install-recommends"] + missing,
                       check=True, env=env, stdout=subprocess.DEVNULL)
    # The package enables dnsdist.service (127.0.0.1:53); under systemd it would run. Without
    # systemd (containers) nothing starts it: Debian ships no init script for it.
    if Path("/run/systemd/system").is_dir() and shutil.which("systemctl"):
        if subprocess.run(["systemctl", "is-active", "-q", "dnsdist"]).returncode == 0:
            log("stopping the dnsdist system service")
            subprocess.run(["systemctl", "stop", "dnsdist"], check=False)
        if subprocess.run(["systemctl", "is-enabled", "-q", "dnsdist"]).returncode == 0:
            subprocess.run(["systemctl", "disable", "-q", "dnsdist"], check=False)


def wire(name):
    """name in DNS wire format, lowercased, with the root label: dnsdist's suffix key."""
    labels = name.lower().rstrip(".").split(".")
    out = bytearray()
    for label in labels:
        b = label.encode("ascii")
        if not 0 < len(b) < 64:
            raise ValueError(f"bad label in {name!r}")
        out += bytes([len(b)]) + b
    out += b"\0"
    if len(out) > 255:
        raise ValueError(f"name too long: {name!r}")
    return bytes(out)


def write_lmdb(path, names):
    """An LMDB file (no subdirectory, as dnsdist opens it) with database "names"."""
    import lmdb
    keys = sorted({wire(n) for n in names})
    env = lmdb.open(str(path), subdir=False, max_dbs=1, map_size=len(keys) * 200 + (64 << 20))
    try:
        db = env.open_db(b"names")
        with env.begin(write=True, db=db) as txn:
            txn.cursor().putmulti(((k, b"1") for k in keys), append=True)
            txn.put((TEXT_KEY + ".").encode(), b"1")   # the control: a text-form key
    finally:
        env.close()
    return len(keys)


class Dnsdist(harness._Server):
    """dnsdist on 127.0.0.1:<free port> pinned to CPU 0, in front of one backend."""

    name = "dnsdist"

    def __init__(self, tmpdir, backend_port, kvs, lua="", timeout=60):
        super().__init__(tmpdir)
        self.logfile = self.stdout_file
        self.port = harness.free_port()
        self.timeout = timeout
        self.conf = self.dir / "dnsdist.conf"
        self.conf.write_text(f"""-- generated by tests/bench/dnsdist.py
setSecurityPollSuffix("")   -- no security-status queries: nothing leaves loopback
setUDPSocketBufferSizes(4194304, 4194304)   -- as bench.py's Unbound (so-rcvbuf/so-sndbuf 4m)
setLocal("127.0.0.1:{self.port}")
newServer({{address="127.0.0.1:{backend_port}", name="unbound", checkName="ok.example."}})
pc = newPacketCache(100000, {{maxTTL=86400, minTTL=0}})
getPool(""):setCache(pc)
kvs = newLMDBKVStore("{kvs}", "names")
addAction(KeyValueStoreLookupRule(kvs, KeyValueLookupKeySuffix()), SpoofAction("{bench.SINK}"))
{lua}
""")

    def _argv(self):
        return ["taskset", "-c", "0", "dnsdist", "--supervised", "--disable-syslog", "-C", str(self.conf)]

    def _wait_ready(self, deadline):
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                return False
            try:
                if bench.first_a(self.port, "ok.example", timeout=0.5) == "198.51.100.10":
                    return True
            except Exception:  # noqa: BLE001 - not up yet
                pass
            time.sleep(0.05)
        return False

    def start(self):
        self._start_and_wait(self.timeout)


# ---- measuring ---------------------------------------------------------------

class Target:
    def __init__(self, label, port, pid, extra=(), qsets=("unblocked", "blocked")):
        self.label, self.port, self.pid, self.extra, self.qsets = label, port, pid, list(extra), qsets


def run_one(t, qfile, seconds):
    """bench.dnsperf against t; CPU of t's extra processes (dnsdist's Unbound) added."""
    e0 = [bench.cpu_seconds(p) for p in t.extra]
    qps, done, cpu_us, lost, rcodes = bench.dnsperf(t.port, qfile, seconds, t.pid)
    extra = sum(bench.cpu_seconds(p) - c for p, c in zip(t.extra, e0))
    return {"qps": qps, "done": done, "cpu_us": cpu_us + extra / max(done, 1) * 1e6,
            "extra_us": extra / max(done, 1) * 1e6, "lost": lost, "rcodes": rcodes}


def ask(port, name):
    for attempt in range(3):
        try:
            return bench.first_a(port, name, timeout=2.0)
        except Exception:  # noqa: BLE001 - a lost packet on a loaded machine
            if attempt == 2:
                raise
    return None


def warm_and_check(t, names, want):
    """Query every distinct name once (the warm-up); return the names answered wrongly."""
    bad = []
    for n in dict.fromkeys(names):
        got = ask(t.port, n)
        exp = want(n)
        if got != exp:
            bad.append(f"{n}: {got} (want {exp})")
    return bad


def prove_keys(dd, listed):
    """The LMDB key form is the one dnsdist 1.7 looks up: show it with queries."""
    checks = [(listed[0], bench.SINK), ("www." + listed[0], bench.SINK),
              ("Deep.WWW." + listed[1].upper(), bench.SINK),
              (TEXT_KEY, "NXDOMAIN"), ("ok.example", "198.51.100.10")]
    out = []
    for name, want in checks:
        got = ask(dd.port, name)
        if got != want:
            raise RuntimeError(f"dnsdist: {name} answered {got}, expected {want}: LMDB key form wrong?")
        out.append(f"{name} → {got}")
    return out


def busy_seconds():
    f = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return (sum(f[:8]) - f[3] - f[4]) / bench.TICK    # all but idle and iowait (guest is in user)


def own_seconds(pids):
    s = sum(bench.cpu_seconds(p) for p in pids)
    for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN):   # this script and dnsperf
        r = resource.getrusage(who)
        s += r.ru_utime + r.ru_stime
    return s


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--names", type=int, default=1_000_000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--duration", type=int, default=10)
    ap.add_argument("--quick", action="store_true", help="100k names, 1 run of 3 s")
    ap.add_argument("--lua", default="", help="more dnsdist configuration (Lua), appended")
    a = ap.parse_args()
    if a.quick:
        a.names, a.runs, a.duration = 100_000, 1, 3
    ensure_installed()
    if not bench.MODULE.exists():
        sys.exit(f"no module at {bench.MODULE} (scripts/build.sh, or set REDSINK_MODULE)")
    b = bench.Bench(types.SimpleNamespace(sizes=[a.names], runs=a.runs, duration=a.duration, update_trials=1,
                                          quick=True, publish=False))
    listed = b.names[:a.names]
    qfiles = {"unblocked": b.qfile("unblocked", 0), "blocked": b.qfile("blocked", a.names)}
    qnames = {k: [ln.split()[0] for ln in p.read_text().splitlines()] for k, p in qfiles.items()}
    servers = []
    try:
        kvs = b.tmp / "names.lmdb"
        t0 = time.monotonic()
        nkeys = write_lmdb(kvs, listed)
        log(f"LMDB: {nkeys} keys, {kvs.stat().st_size / 1e6:.0f} MB, {time.monotonic() - t0:.1f} s")
        plain, _, _ = b.start_resolver("plain", 0)
        servers.append(plain)
        rs, redis, first = b.start_resolver("redsink", a.names)
        servers += [rs, redis]
        log(f"redsink: {a.names} names, first blocked answer {first:.1f} s after start")
        backend, _, _ = b.start_resolver("plain", 0)
        servers.append(backend)
        dd = Dnsdist(b.tmp / "dnsdist", backend.port, kvs, a.lua)
        t0 = time.monotonic()
        dd.start()
        servers.append(dd)
        log(f"dnsdist: up in {time.monotonic() - t0:.1f} s (pid {dd.pid}, backend Unbound pid {backend.pid})")
        proof = prove_keys(dd, listed)
        log("dnsdist key form: " + "; ".join(proof))
        targets = [Target("plain Unbound", plain.port, plain.pid, qsets=("unblocked",)),
                   Target(f"redsink, {a.names:,} names", rs.port, rs.pid),
                   Target(f"dnsdist + Unbound, {a.names:,} names", dd.port, dd.pid, extra=[backend.pid])]
        expect = {n: ask(plain.port, n) for n in bench.UNBLOCKED}
        for t in targets:
            for q in t.qsets:
                bad = warm_and_check(t, qnames[q], (lambda n: bench.SINK) if q == "blocked" else expect.get)
                if bad:
                    raise RuntimeError(f"{t.label}, {q}: {len(bad)} wrong answers, e.g. {bad[:5]}")
        log("warm-up: every answer checked")
        pids = [s.pid for s in servers]
        res = {(t.label, q): [] for t in targets for q in t.qsets}
        loads = [os.getloadavg()[0]]
        busy0, own0, w0 = busy_seconds(), own_seconds(pids), time.monotonic()
        for r in range(a.runs):
            for t in targets:
                for q in t.qsets:
                    x = run_one(t, qfiles[q], a.duration)
                    res[(t.label, q)].append(x)
                    log(f"run {r + 1} {t.label}, {q}: {x['qps']:.0f} qps, {x['cpu_us']:.2f} µs/query"
                        + (f" (Unbound {x['extra_us']:.2f})" if t.extra else "")
                        + f", lost {x['lost']}, {x['rcodes']}")
            loads.append(os.getloadavg()[0])
        wall = time.monotonic() - w0
        other = (busy_seconds() - busy0 - (own_seconds(pids) - own0)) / wall
        # the answers once more after the runs (caches may have aged)
        for t in targets:
            for q in t.qsets:
                bad = warm_and_check(t, qnames[q], (lambda n: bench.SINK) if q == "blocked" else expect.get)
                if bad:
                    raise RuntimeError(f"{t.label}, {q} after the runs: {len(bad)} wrong answers, e.g. {bad[:5]}")
        ub_ver = subprocess.run([harness.unbound_binary(), "-V"], capture_output=True,
                                text=True).stdout.splitlines()[0]
        dd_ver = subprocess.run(["dnsdist", "--version"], capture_output=True, text=True).stdout.splitlines()[0]
    finally:
        for s in reversed(servers):
            s.stop()
        b.nsd.stop()
        harness.stop_all()
        shutil.rmtree(b.tmp, ignore_errors=True)

    med = {k: {f: statistics.median(x[f] for x in v) for f in ("qps", "cpu_us", "extra_us")} for k, v in res.items()}
    base = med[("plain Unbound", "unblocked")]
    date = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    lines = [f"Run {date} on {bench.machine()}; {ub_ver}; {dd_ver}; {a.names:,} listed names; median of "
             f"{a.runs} runs of {a.duration} s, runs interleaved. Other load during the runs: "
             f"{other:.2f} CPUs busy outside this benchmark (of {os.cpu_count()}); load average "
             f"{min(loads):.1f}–{max(loads):.1f}." + (f" dnsdist configuration added: `{a.lua}`." if a.lua else ""), "",
             "| configuration | query set | QPS | % of plain | µs CPU/query | × plain | lost | rcodes |",
             "|---|---|---|---|---|---|---|---|"]
    for t in targets:
        for q in t.qsets:
            m = med[(t.label, q)]
            cpu = f"{m['cpu_us']:.2f}" + (f" ({m['cpu_us'] - m['extra_us']:.2f} + Unbound {m['extra_us']:.2f})"
                                          if t.extra else "")
            lost = sum(x["lost"] for x in res[(t.label, q)])
            lines.append(f"| {t.label} | {q} | {m['qps']:,.0f} | {m['qps'] / base['qps']:.1%} | {cpu} | "
                         f"×{m['cpu_us'] / base['cpu_us']:.2f} | {lost} | {res[(t.label, q)][-1]['rcodes']} |")
    lines.append("")
    rs_l, dd_l = targets[1].label, targets[2].label
    for q in ("unblocked", "blocked"):
        r, d = med[(rs_l, q)], med[(dd_l, q)]
        lines.append(f"- {q}: CPU/query redsink {r['cpu_us']:.2f} vs dnsdist {d['cpu_us']:.2f} µs "
                     f"(×{r['cpu_us'] / d['cpu_us']:.2f}): {'ahead' if r['cpu_us'] < d['cpu_us'] else 'BEHIND'}; "
                     f"QPS {r['qps']:,.0f} vs {d['qps']:,.0f}: {'ahead' if r['qps'] > d['qps'] else 'BEHIND'}")
    lines.append("- dnsdist key form proven by queries: " + "; ".join(proof))
    md = "\n".join(lines) + "\n"
    print(md)
    bench.OUT.mkdir(parents=True, exist_ok=True)
    (bench.OUT / "dnsdist.md").write_text(md)
    return 0


if __name__ == "__main__":
    sys.exit(main())
