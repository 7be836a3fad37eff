"""redsink fleet benchmark (issue 12): three resolvers reading two Redis replicas.

Real servers on loopback: NSD (upstream), a Redis primary and two replicas of it
(REPLICAOF), three Unbound resolvers with the module — r1 and r2 read replica A,
r3 reads replica B, all write heartbeats, hit counts and receipts to the primary
— and, for comparison in the same run, r0 reading the primary directly (the
single-resolver set-up of bench.py). Figures:

- one domain pushed on the primary (SADD + XADD in one MULTI, as bench.py does)
  until every resolver answers the sinkhole: p50/p99 over --trials trials, per
  resolver and for the slowest (the fleet), and the same for r0 alone;
- a --push-names push with redsink-ctl (the real tool) until every resolver
  blocks its last name, and until `redsink-ctl receipts` shows every item
  processed by all three;
- the restart storm: --storm-names listed, all three resolvers restarted at
  once, with their snapshot files (the design: snapshot first, then follow the
  stream) and without (each loads the whole list from its replica): time to
  the first blocked answer of each, and what the replicas served meanwhile
  (commands, output bytes: INFO stats deltas).

Results: printed, and build/bench/fleet.md. Usage:
  tests/bench/run --fleet [--trials 50] [--push-names 100000] [--storm-names 1000000]
"""

import argparse
import json
import os
import signal
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

import bench  # noqa: E402
import gen  # noqa: E402
import harness  # noqa: E402

SINK = bench.SINK
if os.environ.get("REDSINK_BUILD"):  # a build other than build/redsink (bench.MODULE's)
    bench.MODULE = Path(os.environ["REDSINK_BUILD"]) / "module" / ".libs" / "redsink.so"
BUILD = Path(os.environ.get("REDSINK_BUILD", TOP / "build" / "redsink"))
CTL = BUILD / "tools" / "ctl" / "redsink-ctl"
OUT = TOP / "build" / "bench"
log = bench.log


def pct(v, p):
    v = sorted(v)
    return v[min(len(v) - 1, int(round(p * (len(v) - 1))))]


def info(client, section):
    return client.info(section)


def replicate(replica, primary, timeout=30):
    c = replica.client()
    c.replicaof("127.0.0.1", primary.port)
    t0 = time.monotonic()
    while c.info("replication").get("master_link_status") != "up":
        if time.monotonic() - t0 > timeout:
            raise RuntimeError(f"replica {replica.url} did not link to {primary.url}")
        time.sleep(0.05)


class Fleet:
    def __init__(self, args):
        self.args = args
        self.tmp = Path(tempfile.mkdtemp(prefix="redsink-fleet-"))
        self.servers = []
        self.nsd = self.keep(harness.Nsd(self.tmp / "nsd"))
        self.primary = self.keep(harness.Redis(self.tmp / "primary"))
        self.replicas = [self.keep(harness.Redis(self.tmp / f"replica-{n}")) for n in "ab"]
        for r in self.replicas:
            replicate(r, self.primary)
        self.resolvers = {}

    def keep(self, s):
        self.servers.append(s)
        return s

    def conf(self, name, read):
        d = self.tmp / name
        d.mkdir(parents=True, exist_ok=True)
        conf = d / "redsink.conf"
        conf.write_text(f"read-redis: {read.url}\nwrite-redis: {self.primary.url}\nsinkhole-ipv4: {SINK}\n"
                        f"resolver-name: {name}\nsnapshot-file: {d / 'snapshot'}\nredis-timeout: 2000\n")
        return d, conf

    def resolver(self, name, read, start=True):
        d, conf = self.conf(name, read)
        ub = harness.Unbound(d / "unbound", self.nsd.port, module_so=str(bench.MODULE),
                             env={"REDSINK_CONF": str(conf)}, extra_conf=bench.unbound_conf_extra(),
                             start=start, timeout=600)
        self.resolvers[name] = ub
        return ub

    def ctl(self, *args, input=None):
        e = dict(os.environ, REDSINK_REDIS=self.primary.url, USER="bench")
        return subprocess.run([str(CTL), "-q", *args], input=input, capture_output=True, text=True, env=e,
                              timeout=3600)

    def stop(self):
        for ub in self.resolvers.values():
            ub.stop()
        for s in reversed(self.servers):
            s.stop()

    # ---- figures -----------------------------------------------------------

    def wait_all(self, names, dom, t0, timeout=120):
        """Seconds from t0 until each resolver in names answers dom with the sinkhole."""
        left, got = set(names), {}
        while left:
            for n in sorted(left):
                try:
                    if bench.first_a(self.resolvers[n].port, dom, timeout=0.5) == SINK:
                        got[n] = time.monotonic() - t0
                        left.discard(n)
                except Exception:  # noqa: BLE001 - busy: ask again
                    pass
            if time.monotonic() - t0 > timeout:
                raise RuntimeError(f"{dom}: not enforced by {sorted(left)} after {timeout} s")
        return got

    def one_domain(self, names, tag):
        per = {n: [] for n in names}
        fleet = []
        c = self.primary.client()
        for i in range(self.args.trials):
            dom = f"{tag}{i}.fleet-add.example"
            t0 = time.monotonic()
            p = c.pipeline(transaction=True)
            p.sadd("redsink:order:bench:domains", dom)
            p.xadd("redsink:changes", {"op": "add", "order": "bench", "domain": dom, "by": "bench"})
            p.execute()
            got = self.wait_all(names, dom, t0)
            for n, s in got.items():
                per[n].append(s * 1000)
            fleet.append(max(got.values()) * 1000)
        return per, fleet

    def push_many(self):
        names = [f"p{i}.fleet-push.example" for i in range(self.args.push_names)]
        t0 = time.monotonic()
        p = self.ctl("push", "bench", "--why", "fleet bench", "--max-batch", str(len(names)), input="\n".join(names) + "\n")
        if p.returncode:
            raise RuntimeError(f"redsink-ctl push: {p.stderr}")
        t_ctl = time.monotonic() - t0
        got = self.wait_all(["r1", "r2", "r3"], names[-1], t0, timeout=600)
        t_enforced = max(got.values())
        while True:
            p = self.ctl("receipts", "bench", "--since", "-10m", "--json")
            its = json.loads(p.stdout)["items"] if p.stdout else []
            mine = [i for i in its if i["domain"].endswith(".fleet-push.example")]
            if len(mine) == len(names) and all(i["state"] == "processed" for i in mine):
                break
            if time.monotonic() - t0 > 900:
                raise RuntimeError("receipts never showed every item processed")
            time.sleep(0.5)
        t_receipts = time.monotonic() - t0
        slowest = max(i["latency_ms"] for i in mine)
        return {"ctl_s": t_ctl, "enforced_s": t_enforced, "receipts_s": t_receipts, "receipt_latency_ms": slowest}

    def storm(self, with_snapshot, trimmed=False):
        """Restart the three at once. trimmed: the stream is trimmed past their
        snapshots and a name pushed meanwhile, so each must load everything
        (after its 0-3 s jitter); also timed: until each enforces that name."""
        for n in ("r1", "r2", "r3"):
            self.resolvers[n].stop()
            if not with_snapshot:
                (self.tmp / n / "snapshot").unlink(missing_ok=True)
        newname = None
        if trimmed:
            c = self.primary.client()
            c.xtrim("redsink:changes", maxlen=0, approximate=False)
            newname = f"storm{time.monotonic_ns()}.fleet-add.example"
            p = c.pipeline(transaction=True)
            p.sadd("redsink:order:bench:domains", newname)
            p.xadd("redsink:changes", {"op": "add", "order": "bench", "domain": newname, "by": "bench"})
            p.execute()
            time.sleep(0.5)  # replicated
        before = [r.client().info("stats") for r in self.replicas]
        times = {}

        errors = []
        loaded = {}

        def start(n):  # from starting the process to its first blocked answer
            try:
                t0 = time.monotonic()
                self.resolvers[n].start()
                bench.wait_answer(self.resolvers[n].port, "www." + self.list[0], SINK, timeout=600)
                times[n] = time.monotonic() - t0
                if newname:
                    bench.wait_answer(self.resolvers[n].port, newname, SINK, timeout=600)
                    loaded[n] = time.monotonic() - t0
            except Exception as e:  # noqa: BLE001 - reported below
                errors.append(f"{n}: {e}")
        threads = [threading.Thread(target=start, args=(n,)) for n in ("r1", "r2", "r3")]
        t0 = time.monotonic()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        wall = time.monotonic() - t0
        if errors:
            raise RuntimeError("restart storm: " + "; ".join(errors))
        after = [r.client().info("stats") for r in self.replicas]
        served = [{"commands": a["total_commands_processed"] - b["total_commands_processed"],
                   "mbytes": (a["total_net_output_bytes"] - b["total_net_output_bytes"]) / 1e6}
                  for a, b in zip(after, before)]
        return {"wall_s": wall, "per_resolver_s": times, "replicas": served, "loaded_s": loaded}

    def run(self):
        a = self.args
        log(f"== fleet: loading {a.storm_names} names on the primary")
        self.list = gen.domains(a.storm_names)
        bench.load_redis(self.primary.client(), self.list)
        rep = self.replicas
        while any(r.client().scard("redsink:order:bench:domains") != a.storm_names for r in rep):
            time.sleep(0.2)
        for n in ("r1", "r2", "r3"):  # the roster: receipts count exactly these
            if self.ctl("fleet", "add", n).returncode:
                raise RuntimeError("redsink-ctl fleet add failed")
        for n, r in (("r0", self.primary), ("r1", rep[0]), ("r2", rep[0]), ("r3", rep[1])):
            t0 = time.monotonic()
            self.resolver(n, r)
            bench.wait_answer(self.resolvers[n].port, "www." + self.list[0], SINK, timeout=600)
            log(f"   {n} up and blocking after {time.monotonic() - t0:.1f} s")
        res = {"names": a.storm_names}
        log(f"== one domain, {a.trials} trials: r0 alone (reads the primary)")
        per0, _ = self.one_domain(["r0"], "s")
        res["single"] = per0["r0"]
        self.resolvers.pop("r0").stop()
        log(f"== one domain, {a.trials} trials: the fleet (r1, r2 on replica A; r3 on replica B)")
        res["per"], res["fleet"] = self.one_domain(["r1", "r2", "r3"], "f")
        log(f"== push of {a.push_names} names with redsink-ctl")
        res["push"] = self.push_many()
        time.sleep(6)  # let every resolver write its snapshot
        log("== restart storm with snapshots")
        res["storm_snapshot"] = self.storm(True)
        log("== restart storm without snapshots (full loads from the replicas)")
        res["storm_full"] = self.storm(False)
        time.sleep(6)
        log("== restart storm, the stream trimmed past the snapshots (jittered full loads)")
        res["storm_trimmed"] = self.storm(True, trimmed=True)
        return res


def render(res, args):
    def p(v):
        return f"{statistics.median(v):.1f} / {pct(v, 0.99):.1f}"
    lines = [f"## Fleet (run of {time.strftime('%Y-%m-%d')}, `tests/bench/run --fleet`)", "",
             f"One primary, two replicas, three resolvers (r1, r2 on replica A, r3 on replica B), "
             f"{res['names']:,} names listed; r0 reads the primary directly (the single-resolver set-up).", "",
             "| figure | value |", "|---|---|",
             f"| one domain → enforced, r0 alone on the primary (p50 / p99 ms, {args.trials} trials) | "
             f"{p(res['single'])} |"]
    for n, v in res["per"].items():
        lines.append(f"| one domain → enforced by {n} (p50 / p99 ms) | {p(v)} |")
    lines.append(f"| one domain → enforced by all three (p50 / p99 ms) | {p(res['fleet'])} |")
    pu = res["push"]
    lines += [f"| push of {args.push_names:,} names: redsink-ctl done | {pu['ctl_s']:.2f} s |",
              f"| … last name enforced by all three | {pu['enforced_s']:.2f} s |",
              f"| … receipts show every item processed by all three | {pu['receipts_s']:.1f} s "
              f"(slowest item {pu['receipt_latency_ms'] / 1000:.1f} s after its push) |"]
    for key, label in (("storm_snapshot", "with snapshots"), ("storm_full", "without snapshots"),
                       ("storm_trimmed", "with snapshots the stream was trimmed past")):
        s = res[key]
        per = ", ".join(f"{n} {v:.2f} s" for n, v in sorted(s["per_resolver_s"].items()))
        if s["loaded_s"]:
            per += "; full load done (the name pushed meanwhile enforced): " + ", ".join(
                f"{n} {v:.2f} s" for n, v in sorted(s["loaded_s"].items()))
        rep = "; ".join(f"{['A', 'B'][i]}: {x['commands']:,} commands, {x['mbytes']:.1f} MB"
                        for i, x in enumerate(s["replicas"]))
        lines.append(f"| restart storm {label}: all three blocking | {s['wall_s']:.2f} s ({per}); replicas served "
                     f"{rep} |")
    return "\n".join(lines) + "\n"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--trials", type=int, default=50)
    ap.add_argument("--push-names", type=int, default=100000)
    ap.add_argument("--storm-names", type=int, default=1000000)
    args = ap.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # stop every server on a kill too
    f = Fleet(args)
    try:
        res = f.run()
    finally:
        f.stop()
    text = render(res, args)
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "fleet.md").write_text(text)
    (OUT / "fleet.json").write_text(json.dumps(res, indent=1))
    print(text)


if __name__ == "__main__":
    main()
