"""The fleet of issue 12, proved on loopback (doc/fleet.md).

Topology, built afresh for every test (each one breaks it differently):
one primary, two replicas (A = replica-1, B = replica-2), three real
Sentinels (down-after 1 s, failover-timeout 5 s; tests/integration/fleet.py),
three Unbound resolvers with redsink.so — r1 and r2 read replica A, r3 reads
replica B, each pinned with a plain `read-redis: 127.0.0.1:PORT`, all writing
heartbeats, hit counts (flushed every second) and receipts through Sentinel
to the primary (`write-redis: sentinel:.../redsink`) — all three on the
roster, and redsink-warnd reading a replica and counting page views on the
primary, both through Sentinel. redsink-ctl always goes through Sentinel.

B (replica-priority 99) is the replica Sentinel promotes; A has
replica-priority 0 and is never promoted. Else a loaded machine can fail
over twice: a PING reply of the new primary comes later than down-after,
and for 5 s after a switch each Sentinel still counts the others' "down"
votes on the old primary, so one Sentinel's doubt is a quorum and it
promotes A, which never got what B took meanwhile (CI: a push acknowledged
by B never reached r1, r2 on A; doc/fleet.md, "Limits").

What "enforced" means here: the resolver answers the blocked name with the
sinkhole address (192.0.2.1) and an unblocked name with its real address
(zones/example.zone). Nothing sleeps for a fixed time where a condition can
be polled; every poll has a generous deadline (a loaded 2-core machine).

The tests: a push and a withdrawal (enforced by all within 1 s, receipted by
all); the primary killed under queries (Sentinel promotes a replica,
redsink-ctl exits 4 until it has, then works unchanged; no query fails; every
blocked answer is counted once on the new primary); a replica killed (its
resolver keeps blocking and catches up late when it returns: late in the
receipts); a resolver gone (DOWN, resolver_down); a failover to a replica
that lagged (who saw more resyncs — also when the new primary's stream grows
before the resolvers' replica re-syncs).
About 90-100 s for the file (six topologies).
"""

import json
import threading
import time

import dns.exception
import pytest

import rs
from fleet import Country, Fleet
from test_ctl import REAL, add_order, ctl, ok, push
from test_warnd import get, make_warnd  # noqa: F401 (fixture)


BLOCK = rs.SINK4
REAL = dict(REAL, **{"notpirate.example": "198.51.100.30"})


# ---------------------------------------------------------------------------
# the topology
# ---------------------------------------------------------------------------

class World:
    """The fleet, the replicas by role, the resolvers and redsink-warnd."""

    def __init__(self, fleet, country, warnd):
        self.fleet = fleet
        self.A, self.B = fleet.nodes[1], fleet.nodes[2]
        self.country = country
        self.r1, self.r2, self.r3 = country.resolvers()
        self.warnd = warnd
        self.spec = fleet.spec()


@pytest.fixture
def world(tmp_path, server_logs, make_unbound, make_warnd):
    f = Fleet(tmp_path / "fleet", replicas=2, priorities=[0, 99])  # A never promoted (above)
    server_logs.extend(f.servers())
    country = None
    try:
        A, B = f.nodes[1], f.nodes[2]
        # what keeps a failover from ever promoting A: every Sentinel knows its priority 0
        for s in f.sentinels:
            prio = {int(r["port"]): r.get("slave-priority") for r in s.replicas()}
            assert prio == {A.port: "0", B.port: "99"}, f"sentinel {s.port} sees the replica priorities {prio}"
        add_order(f.spec(), "base")
        ok(push(f.spec(), "base", ["a5.example"]))
        country = Country(tmp_path / "country", f, make_unbound, [A, A, B])
        w = make_warnd(f.spec("replica"), args=["--write-redis", f.spec()])
        wd = World(f, country, w)
        # every resolver has loaded the list and beats on the primary
        for ub in country.resolvers():
            rs.wait_for(lambda: rs.first_a(ub, "a5.example"), BLOCK, timeout=15)
        for n in country.names:
            wait_until(lambda: country.heartbeat(n).get("link") == "up", 20, f"heartbeat of {n}")
        yield wd
    finally:
        if country is not None:
            country.stop()   # before the fleet: their last flush still finds a Redis
        f.stop()


def wait_until(fn, timeout, what, step=0.1):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = fn()
        if last:
            return last
        time.sleep(step)
    raise AssertionError(f"{what}: not within {timeout} s (last {last!r})")


def answers(w, name):
    return [rs.first_a(ub, name) for ub in (w.r1, w.r2, w.r3)]


SYNC_WORDS = ("resync", "rollback", "lost", "following", "full load", "alarm", "dataset", "XREAD",
              "change", "connecting to the primary", "failed")


def fleet_report(w):
    """Why the resolvers may not follow: the Sentinels' primary and epoch,
    every node's replication state (A is what r1, r2 read, B what r3 reads)
    and the module's sync lines of each resolver."""
    lines = [f"A = {w.A.url} (r1, r2 read it), B = {w.B.url} (r3 reads it); the Sentinels name "
             f"{w.fleet.primary_port()} as the primary now", w.fleet.state()]
    for n, ub in zip(("r1", "r2", "r3"), (w.r1, w.r2, w.r3)):
        lines.append(f"--- {n}: the module's sync lines (a repeated one once)")
        sync, last = [], None
        for ln in ub.log().splitlines():
            msg = ln.partition("redsink: ")[2]
            if msg and msg != last and any(x in msg for x in SYNC_WORDS):
                sync.append(ln)
            last = msg or last
        lines += sync[-40:]
    return "\n".join(lines)


class explained:
    """with explained(w): an AssertionError inside gets fleet_report(w)."""

    def __init__(self, w):
        self.w = w

    def __enter__(self):
        return self

    def __exit__(self, kind, e, tb):
        if kind is not None and issubclass(kind, AssertionError):
            try:
                report = fleet_report(self.w)
            except Exception as x:   # the report must never hide the failure
                report = f"(no fleet report: {x!r})"
            raise AssertionError(f"{e}\n{report}") from e
        return False


def wait_enforced(w, name, want, timeout):
    """Poll the three resolvers until each answers name with want; returns
    the seconds it took (from the call)."""
    return rs.wait_for(lambda: answers(w, name), [want] * 3, timeout=timeout, step=0.01)


def receipts(spec, oid, *args):
    p = ctl(spec, "receipts", oid, "--json", *args)
    assert p.returncode in (0, 1), p.stderr
    return json.loads(p.stdout), p


def items_of(spec, oid):
    return receipts(spec, oid)[0]["items"]


def all_processed(spec, oid, n):
    its = items_of(spec, oid)
    return len(its) == n and all(i["state"] == "processed" for i in its) and its


def hits(node, oid):
    """The blocked answers counted for order oid on node: every hits:<hour>
    hash, summed over the fields `oid|domain|region`."""
    c = node.client()
    total = 0
    for key in c.scan_iter(match=f"{rs.PREFIX}hits:*", count=1000):
        for field, v in c.hgetall(key).items():
            if field.split("|", 1)[0] == oid:
                total += int(v)
    return total


def push_until_primary(spec, oid, names, timeout=60):
    """Push through Sentinel, again while it exits 4 (no primary yet: the
    failover window). Returns (the successful run, the exit codes seen)."""
    codes = []
    deadline = time.monotonic() + timeout
    while True:
        p = push(spec, oid, names)
        codes.append(p.returncode)
        if p.returncode == 0:
            return p, codes
        assert p.returncode == 4, f"exit {p.returncode}: {p.stderr}"
        assert time.monotonic() < deadline, f"no successful push within {timeout} s: {p.stderr}"
        time.sleep(0.2)


# ---------------------------------------------------------------------------
# 1. a push and a withdrawal, enforced by all and receipted by all
# ---------------------------------------------------------------------------

def test_push_and_withdrawal_enforced_by_all_within_1s_with_receipts(world):
    w = world
    add_order(w.spec, "o1")
    t0 = time.monotonic()
    ok(push(w.spec, "o1", ["a1.example", "a2.example"]))
    pushed = time.monotonic() - t0
    took = wait_enforced(w, "a2.example", BLOCK, timeout=1.0)
    assert answers(w, "a1.example") == [BLOCK] * 3
    its = wait_until(lambda: all_processed(w.spec, "o1", 2), 10, "two processed items")
    for it in its:
        assert it["op"] == "block" and it["late"] is False
        assert [r["name"] for r in it["resolvers"]] == ["r1", "r2", "r3"]
        for r in it["resolvers"]:
            assert r["state"] == "processed" and r["reason"] is None
            assert r["processed_at_ms"] >= it["pushed_at_ms"] and 0 <= r["latency_ms"] < 5000
            assert r["processed_at"].endswith("Z")
        assert it["processed_at_ms"] == max(r["processed_at_ms"] for r in it["resolvers"])
        assert it["piracy_shield"]["status"] == "processed"
    # the warning page, through Sentinel on a replica
    st, _, body = wait_until(lambda: (lambda g: g[0] == 451 and g)(get(w.warnd.port, host="a1.example")), 10,
                             "warning page for a1.example")
    assert "RG o1/2026" in body

    t1 = time.monotonic()
    ok(ctl(w.spec, "withdraw", "o1", input="a1.example\n"))
    withdrawn = wait_enforced(w, "a1.example", REAL["a1.example"], timeout=1.0)
    assert answers(w, "a2.example") == [BLOCK] * 3
    its = wait_until(lambda: all_processed(w.spec, "o1", 3), 10, "the withdrawal processed")
    last = its[-1]
    assert (last["op"], last["domain"], last["piracy_shield"]["status"]) == ("unblock", "a1.example", "unblocked")
    assert [(r["name"], r["state"]) for r in last["resolvers"]] == [("r1", "processed"), ("r2", "processed"),
                                                                    ("r3", "processed")]
    assert all(r["processed_at_ms"] >= last["pushed_at_ms"] for r in last["resolvers"])
    ok(ctl(w.spec, "receipts", "o1", "--deadline", "30m"))
    print(f"push (ctl) {pushed:.2f} s; enforced by all {took * 1000:.0f} ms after; "
          f"withdrawal enforced by all {withdrawn * 1000:.0f} ms after; "
          f"latencies (receipts) {[r['latency_ms'] for i in its for r in i['resolvers']]} ms; "
          f"total {time.monotonic() - t1:.1f} s")


# ---------------------------------------------------------------------------
# 2. the primary killed under queries
# ---------------------------------------------------------------------------

class Querier(threading.Thread):
    """Sends queries to every resolver without pause: `blocked` names must be
    answered with the sinkhole, `unblocked` names with their real address.
    "Fails" tolerates nothing: a timeout (2 s, no retry), an error rcode or a
    wrong address is a failure, recorded with its time."""

    def __init__(self, w, blocked, unblocked):
        super().__init__(daemon=True)
        self.w = w
        self.blocked = blocked
        self.unblocked = unblocked
        self.stopping = False
        self.sent_blocked = {"r1": 0, "r2": 0, "r3": 0}
        self.sent = 0
        self.bad = []

    def ask(self, name, ub, want):
        self.sent += 1
        try:
            got = rs.first_a(ub, name, timeout=2)
        except (dns.exception.DNSException, OSError) as e:
            got = f"{type(e).__name__}"
        if got != want:
            self.bad.append((round(time.monotonic(), 3), name, ub.port, got, want))
        return got == want

    def run(self):
        try:
            self.loop()
        except Exception as e:   # seen by the test as a failure
            self.bad.append((round(time.monotonic(), 3), "querier died", repr(e)))

    def loop(self):
        names = dict(zip(("r1", "r2", "r3"), (self.w.r1, self.w.r2, self.w.r3)))
        while not self.stopping:
            for rname, ub in names.items():
                for name in self.blocked:
                    self.sent_blocked[rname] += 1   # sent: the module counts it if it answers at all
                    self.ask(name, ub, BLOCK)
                for name in self.unblocked:
                    self.ask(name, ub, REAL[name])
            time.sleep(0.002)

    def stop(self):
        self.stopping = True
        self.join(timeout=30)


def test_primary_killed_under_queries(world):
    w = world
    add_order(w.spec, "q")
    add_order(w.spec, "f")
    ok(push(w.spec, "q", ["a1.example", "a2.example"]))
    # applied by all, known from the receipts: no query of a1/a2 but the querier's is counted
    wait_until(lambda: all_processed(w.spec, "q", 2), 10, "order q applied by all")
    before = {n: w.country.metrics(n) for n in w.country.names}
    base_q = {n: before[n].get('redsink_blocked_answers_total{action="sinkhole"}', 0) for n in w.country.names}
    qt = Querier(w, ["a1.example", "a2.example"], ["ok.example", "notpirate.example"])
    qt.start()
    try:
        wait_until(lambda: qt.sent > 300, 30, "queries under way")
        old = w.fleet.primary
        killed_at = time.time()
        w.fleet.kill_primary()
        t0 = time.monotonic()
        # the same endpoint, no configuration change: exit 4 ("no primary of
        # 'redsink' found") until Sentinel has promoted a replica, then 0
        p, codes = push_until_primary(w.spec, "f", ["a3.example"])
        push_s = time.monotonic() - t0
        new = w.fleet.wait_failover(old.port, timeout=60)
        failover_s = time.monotonic() - t0
        assert new in (w.A, w.B)
        assert codes[0] == 4 and set(codes[:-1]) == {4}, codes
        assert new.client().sismember(f"{rs.PREFIX}order:f:domains", "a3.example")
        enforced = wait_enforced(w, "a3.example", BLOCK, timeout=30)
        # the queries go on for a while on the new primary
        sent_at_push = qt.sent
        wait_until(lambda: qt.sent > sent_at_push + 300, 30, "queries after the failover")
    finally:
        qt.stop()
    assert not qt.is_alive()
    assert qt.bad == [], f"{len(qt.bad)} of {qt.sent} queries failed or were answered wrongly: {qt.bad[:20]}"

    # heartbeats and receipts continue on the new primary
    for n in w.country.names:
        wait_until(lambda: int(w.country.heartbeat(n, new).get("seen_at", 0)) > killed_at + 1, 20,
                   f"a heartbeat of {n} on the new primary")
    its = wait_until(lambda: all_processed(w.spec, "f", 1), 20, "the push after the failover receipted by all")
    assert [r["state"] for r in its[0]["resolvers"]] == ["processed"] * 3

    # hits: every blocked answer is counted once, on the new primary
    want = sent = sum(qt.sent_blocked.values())

    def counted():
        return hits(new, "q")
    after = {}

    def settled():
        for n in w.country.names:
            after[n] = w.country.metrics(n)
        return all(after[n].get("redsink_hits_pending_flush", 1) == 0 for n in w.country.names) and counted() >= want
    try:
        wait_until(settled, 20, "hits flushed")
    except AssertionError:
        pass
    answered = {n: after[n].get('redsink_blocked_answers_total{action="sinkhole"}', 0) - base_q[n]
                for n in w.country.names}
    flushed = {n: after[n].get("redsink_hits_flushed_total", 0) for n in w.country.names}
    dropped = {n: after[n].get("redsink_hits_dropped_total", 0) for n in w.country.names}
    got = counted()
    print(f"failover {failover_s:.1f} s; push exit codes {codes} (4 = no primary yet), "
          f"succeeded {push_s:.1f} s after the kill; enforced by all {enforced:.2f} s after; "
          f"{qt.sent} queries, {sent} blocked ({qt.sent_blocked}), none failed; "
          f"hits on the new primary {got} (want {want}); "
          f"module counted (all orders) {answered}, flushed {flushed}, dropped {dropped}")
    # (the module's count also holds the test's own checks of a3.example: at least the querier's)
    assert all(answered[n] >= qt.sent_blocked[n] for n in answered), "blocked answers not counted by the module"
    assert got == want, (f"hits on the new primary {got}, blocked answers {want}: "
                         f"{'lost' if got < want else 'counted twice'} {abs(want - got)}")


# ---------------------------------------------------------------------------
# 3. a replica killed: its resolver keeps blocking; late but enforced
# ---------------------------------------------------------------------------

def test_replica_killed_its_resolver_keeps_blocking_and_catches_up_late(world):
    w = world
    add_order(w.spec, "k")
    ok(push(w.spec, "k", ["a1.example"]))
    wait_enforced(w, "a1.example", BLOCK, timeout=5)
    w.B.kill()
    # r3 keeps what it had: its list is in memory
    assert answers(w, "a1.example") == [BLOCK] * 3
    assert answers(w, "a5.example") == [BLOCK] * 3
    t_push = time.monotonic()
    ok(push(w.spec, "k", ["a2.example"]))
    # r1, r2 (replica A) enforce it; r3 cannot see it while B is down
    rs.wait_for(lambda: [rs.first_a(w.r1, "a2.example"), rs.first_a(w.r2, "a2.example")], [BLOCK] * 2,
                timeout=5)
    # down long enough for --deadline 1s to call the item late
    while time.monotonic() - t_push < 2.5:
        assert rs.first_a(w.r3, "a2.example") == REAL["a2.example"]
        assert rs.first_a(w.r3, "a1.example") == BLOCK
        time.sleep(0.1)
    its = items_of(w.spec, "k")
    assert [(r["name"], r["state"], r["reason"]) for r in its[-1]["resolvers"]] == [
        ("r1", "processed", None), ("r2", "processed", None), ("r3", "unprocessed", "not_applied")]
    # B comes back on the same port, empty (no persistence), and re-syncs from the primary
    w.B.start()
    took = rs.wait_for(lambda: rs.first_a(w.r3, "a2.example"), BLOCK, timeout=60, step=0.05)
    assert rs.first_a(w.r3, "a1.example") == BLOCK and rs.first_a(w.r3, "a5.example") == BLOCK
    its = wait_until(lambda: all_processed(w.spec, "k", 2), 20, "r3's receipt of a2")
    it = its[-1]
    by = {r["name"]: r for r in it["resolvers"]}
    assert by["r3"]["processed_at_ms"] > max(by["r1"]["processed_at_ms"], by["r2"]["processed_at_ms"])
    assert by["r3"]["latency_ms"] > 2500 > by["r1"]["latency_ms"]
    assert it["processed_at_ms"] == by["r3"]["processed_at_ms"]
    js, p = receipts(w.spec, "k", "--deadline", "1s")
    assert p.returncode == 1, p.stderr
    assert js["late"] == 1 and [i["late"] for i in js["items"]] == [False, True]
    assert "late: " in p.stderr and "a2.example" in p.stderr and "enforced by all after" in p.stderr
    assert "1 of 2 items late" in p.stderr
    ok(ctl(w.spec, "receipts", "k", "--deadline", "5m"))
    hb = w.country.heartbeat("r3")
    print(f"r3 enforced a2 {took:.1f} s after B came back ({by['r3']['latency_ms']} ms after the push; "
          f"r1 {by['r1']['latency_ms']} ms, r2 {by['r2']['latency_ms']} ms); r3 resyncs {hb.get('resyncs')}, "
          f"alarm {hb.get('dataset_alarm')!r}; late report: {p.stderr.strip()}")


# ---------------------------------------------------------------------------
# 4. a resolver gone: DOWN in status, resolver_down in receipts
# ---------------------------------------------------------------------------

def test_resolver_gone_is_down_in_status_and_receipts(world):
    w = world
    add_order(w.spec, "d")
    ok(ctl(w.spec, "status", "--check"))
    w.r2.stop()
    # what the heartbeat's 30 s expiry does, without the wait
    w.fleet.primary.client().delete(f"{rs.PREFIX}resolver:r2")
    ok(push(w.spec, "d", ["a4.example"]))
    rs.wait_for(lambda: [rs.first_a(w.r1, "a4.example"), rs.first_a(w.r3, "a4.example")], [BLOCK] * 2, timeout=5)
    p = ok(ctl(w.spec, "status"))
    line = [ln for ln in p.stdout.splitlines() if "r2" in ln]
    assert line and "DOWN" in " ".join(line), p.stdout
    p = ctl(w.spec, "status", "--check")
    assert p.returncode == 1 and "resolver r2: down: on the roster" in p.stderr, p.stderr
    js = json.loads(ok(ctl(w.spec, "status", "--json")).stdout)
    assert {r["name"]: r["state"] for r in js["resolvers"]} == {"r1": "up", "r2": "down", "r3": "up"}

    def r2_down():
        (it,) = items_of(w.spec, "d")
        by = {r["name"]: r for r in it["resolvers"]}
        return by["r1"]["state"] == by["r3"]["state"] == "processed" and it
    it = wait_until(r2_down, 10, "r1 and r3 processed a4")
    assert (it["state"], it["reason"]) == ("unprocessed", "resolver down: r2")
    assert [(r["name"], r["state"], r["reason"]) for r in it["resolvers"]] == [
        ("r1", "processed", None), ("r2", "unprocessed", "resolver_down"), ("r3", "processed", None)]
    assert it["piracy_shield"]["status"] == "unprocessed" and it["piracy_shield"]["reason"] == "UNKNOWN"
    p = ctl(w.spec, "receipts", "d")
    assert p.returncode == 0 and "resolver down" in p.stdout, p.stdout


# ---------------------------------------------------------------------------
# 5. a failover to a replica that lagged: the resolvers that saw more resync
# ---------------------------------------------------------------------------

def lagging_failover(w):
    """a1 everywhere; then B's link to the primary is cut (fleet.Node.
    cut_replication: it still answers, stale), a2 is pushed (primary and A:
    r1, r2 enforce it; r3 does not), and the primary is killed. Sentinel
    promotes B — the only replica it may (A has replica-priority 0: the
    world fixture), and a link down for less than ten down-after periods
    does not disqualify it — so the new primary never got a2; no second
    failover can move the primary on to A, which has a2. Returns (the
    old primary, the id of a2's lost stream entry, the receipts written to
    the old primary)."""
    add_order(w.spec, "L")
    ok(push(w.spec, "L", ["a1.example"]))
    wait_until(lambda: all_processed(w.spec, "L", 1), 10, "a1 applied by all")
    w.B.cut_replication()
    wait_until(lambda: w.B.client().info("replication").get("master_link_status") == "down", 10, "B cut off")
    ok(push(w.spec, "L", ["a2.example"]))
    lost_id = w.fleet.primary.client().xrevrange(f"{rs.PREFIX}changes", count=1)[0][0]
    rs.wait_for(lambda: [rs.first_a(w.r1, "a2.example"), rs.first_a(w.r2, "a2.example")], [BLOCK] * 2, timeout=5)
    assert w.A.client().sismember(f"{rs.PREFIX}order:L:domains", "a2.example")
    assert not w.B.client().sismember(f"{rs.PREFIX}order:L:domains", "a2.example")
    assert rs.first_a(w.r3, "a2.example") == REAL["a2.example"]
    wait_until(lambda: [r["state"] for r in items_of(w.spec, "L")[-1]["resolvers"]] ==
               ["processed", "processed", "unprocessed"], 10, "a2 receipted by r1, r2")
    before = {n: w.fleet.primary.client().xrange(f"{rs.PREFIX}receipts:{n}") for n in w.country.names}
    # the blocked answers of a2 above are flushed (acknowledged) to the primary, not to B
    wait_until(lambda: all(w.country.metrics(n).get("redsink_hits_pending_flush", 1) == 0
                           for n in w.country.names), 10, "hits flushed")
    w.hits_acknowledged = hits(w.fleet.primary, "L")
    w.hits_on_B = hits(w.B, "L")
    old = w.fleet.primary
    w.fleet.kill_primary()
    return old, lost_id, before


def resync_report(w, new, before):
    after = {n: new.client().xrange(f"{rs.PREFIX}receipts:{n}") for n in w.country.names}
    hbs = {n: w.country.heartbeat(n, new) for n in w.country.names}
    for n in w.country.names:
        print(n, "heartbeat resyncs", hbs[n].get("resyncs"), "last_id", hbs[n].get("last_id"))
        print("   receipts on the old primary (tail):", [(i, f.get("applied")) for i, f in before[n][-3:]])
        print("   receipts on B:", [(i, f.get("applied")) for i, f in after[n]])
    for ub in (w.r1, w.r2, w.r3):
        print("\n".join(ln for ln in ub.log().splitlines() if "redsink" in ln and (
            "resync" in ln or "rollback" in ln or "lost" in ln or "following" in ln or "full load" in ln)))
    return after, hbs


def test_failover_to_a_lagging_replica_resyncs_who_saw_more(world):
    """r1 and r2 had applied a2, which the new primary B never got. When
    their replica A has re-synced from B (a full resync: B's history is
    shorter than A's; Redis delays it by repl-diskless-sync-delay, 5 s), the
    stream's newest id is older than theirs: the module's periodic check
    (5 s) sees the rollback, logs it and reloads the list from A."""
    w = world
    old, lost_id, before = lagging_failover(w)
    with explained(w):  # a failure shows the fleet's state and the module's sync lines
        new = w.fleet.wait_failover(old.port, timeout=60)
        assert new is w.B, f"Sentinel promoted {new.port}, not the lagging B {w.B.port}"
        promoted = time.time()
        # the new truth has no a2, nor the stream entry that added it
        assert not new.client().sismember(f"{rs.PREFIX}order:L:domains", "a2.example")
        assert new.client().xrange(f"{rs.PREFIX}changes", lost_id, lost_id) == []
        newest = new.client().xrevrange(f"{rs.PREFIX}changes", count=1)[0][0]
        # hit counts the old primary acknowledged but never sent to B are lost
        # with it (asynchronous replication; doc/fleet.md, "Limits")
        assert w.hits_acknowledged > w.hits_on_B == hits(new, "L")
        took = rs.wait_for(lambda: answers(w, "a2.example"), [REAL["a2.example"]] * 3, timeout=30, step=0.05)
        assert answers(w, "a1.example") == [BLOCK] * 3
        for ub in (w.r1, w.r2):
            assert rs.unbound_log_has(ub, f"full resync from {w.A.url}: rollback: the stream's newest id {newest} "
                                          f"is older than the list's {lost_id}"), ub.log()[-3000:]
        assert not rs.unbound_log_has(w.r3, "full resync")
        # what the receipts and heartbeats on the new primary show
        after, hbs = resync_report(w, new, before)
        for n in ("r1", "r2"):
            # before the failover it had receipted a2 (on the old primary: gone with it)
            assert before[n][-1][1]["applied"] == lost_id
            assert all(f["applied"] != lost_id for _, f in after[n])
            # after it, a receipt of the resync: the older position of the new truth
            late = [f for i, f in after[n] if int(i.split("-")[0]) > promoted * 1000]
            assert late and late[0]["applied"] == newest, after[n]
            wait_until(lambda: w.country.heartbeat(n, new).get("resyncs") == "1", 10, f"{n} reports its resync")
        assert w.country.heartbeat("r3", new).get("resyncs") == "0"
        # a push on the new primary is enforced by all
        ok(push(w.spec, "L", ["a3.example"]))
        wait_enforced(w, "a3.example", BLOCK, timeout=10)
        its = wait_until(lambda: all_processed(w.spec, "L", 2), 20, "L's items on B receipted by all")
        assert [(i["domain"], i["op"]) for i in its] == [("a1.example", "block"), ("a3.example", "block")]
        print(f"rollback seen and undone by r1, r2 {took:.1f} s after the promotion; hits of order L "
              f"acknowledged by the old primary {w.hits_acknowledged}, on B when promoted {w.hits_on_B}")


def test_lagging_failover_then_a_push_at_once(world):
    """The same, but a regulator pushes as soon as the new primary takes
    writes. The stream then grows past the position r1 and r2 hold before A
    re-syncs: its newest id is no longer older than theirs, and their own
    last entry is a new one. They still find out: the probe checks that the
    stream holds every position they reached in the last two minutes, and
    a2's is gone (module/sync.c, lost_position), so they resync."""
    w = world
    old, lost_id, before = lagging_failover(w)
    with explained(w):  # a failure shows the fleet's state and the module's sync lines
        _, codes = push_until_primary(w.spec, "L", ["a3.example"])
        new = w.fleet.wait_failover(old.port, timeout=60)
        assert new is w.B
        # r1 and r2 see a3 once A re-synced from B (repl-diskless-sync-delay, 5 s,
        # then the transfer): generous, as the ASan pass on a loaded machine is slow
        wait_enforced(w, "a3.example", BLOCK, timeout=45)
        try:
            # A's full resync (after repl-diskless-sync-delay, 5 s) + the module's 5 s check + margin
            took = rs.wait_for(lambda: answers(w, "a2.example"), [REAL["a2.example"]] * 3, timeout=45, step=0.1)
        finally:
            print(f"\npush exit codes {codes}; a2 now {answers(w, 'a2.example')} (r1, r2, r3)")
            resync_report(w, new, before)
        print(f"a2 unblocked by all {took:.1f} s after")
