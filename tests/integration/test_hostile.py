"""Hostile data in Redis: nothing in it may crash, stall, empty or bypass a resolver.

One Redis feeds every resolver. Each test writes something malformed into one
key of the schema (doc/redis-schema.md) -- the wrong type, nothing, binary
junk, 1 MB values, 10,000 invalid members, keys deleted during a load, stream
entries with fields missing or oversized -- and then checks, on a real Unbound
with the module, that

  - Unbound is alive and resolves;
  - the healthy orders are enforced (pirate.example sinkholed by order "good",
    a1.example NXDOMAIN by order "nx"), and nothing else is blocked;
  - the next valid change is applied within 1 s (an add, then its withdrawal);
  - the same holds after a restart from the snapshot and after a fresh start
    that loads everything from Redis (a full load skips what is bad and loads
    the rest).

The dataset-identity cases (an emptied Redis, a foreign or broken identity, a
rollback) check that the resolver keeps what it enforces and raises the alarm
(log, heartbeat, metric) until the dataset is its own again.
"""

import time
import urllib.request

import pytest

import harness
import rs

P = rs.PREFIX
REAL = {"pirate.example": "198.51.100.20", "a1.example": "198.51.100.61", "a2.example": "198.51.100.62",
        "a5.example": "198.51.100.65", "ok.example": "198.51.100.10", "notpirate.example": "198.51.100.30"}
DATASET = "0123456789abcdef0123456789abcdef"
MB = "m" * (1 << 20)
JUNK = bytes(range(256)).decode("latin-1")


def seed(c):
    """The healthy state: a dataset identity, two healthy orders and a victim order."""
    c.hset(P + "dataset", mapping={"id": DATASET, "generation": 1, "supersedes": "",
                                   "created": "2026-11-30T00:00:00Z", "by": "test", "why": "seed"})
    rs.put_order(c, "good", ["pirate.example"])
    rs.put_order(c, "nx", ["a1.example"], action="nxdomain")
    rs.put_order(c, "victim", ["a5.example"])


def bulk_orders(c, prefix, n, domains_of):
    """n sinkhole orders <prefix><i>, each listing domains_of(i); written in batches."""
    p = c.pipeline(transaction=False)
    for i in range(n):
        p.hset(P + f"order:{prefix}{i}", mapping={"authority": "A", "reference": f"R{i}", "scope": "*",
                                                    "action": "sinkhole"})
        p.sadd(P + f"order:{prefix}{i}:domains", *domains_of(i))
        if i % 5000 == 4999 or i == n - 1:
            p.sadd(P + "orders", *[f"{prefix}{k}" for k in range(i - i % 5000, i + 1)])
            p.execute()


def alive(ub):
    assert ub.running(), "Unbound died"
    assert rs.first_a(ub, "ok.example") == REAL["ok.example"]


def enforced(ub):
    assert rs.first_a(ub, "pirate.example") == rs.SINK4
    assert rs.first_a(ub, "a1.example") == "NXDOMAIN"
    for name in ("ok.example", "notpirate.example"):
        assert rs.first_a(ub, name) == REAL[name], f"{name} must not be blocked"


def next_change_applies(ub, c, timeout=1.0):
    rs.add_domains(c, "good", ["a2.example"])
    rs.wait_for(lambda: rs.first_a(ub, "a2.example"), rs.SINK4, timeout=timeout)
    rs.del_domains(c, "good", ["a2.example"])
    rs.wait_for(lambda: rs.first_a(ub, "a2.example"), REAL["a2.example"], timeout=timeout)


def healthy(ub, c, timeout=1.0):
    alive(ub)
    enforced(ub)
    next_change_applies(ub, c, timeout)


@pytest.fixture
def env(redis, make_unbound, tmp_path):
    c = redis.client()
    seed(c)
    snap = tmp_path / "redsink.snap"
    ub = rs.start_resolver(make_unbound, redis, tmp_path, {"snapshot_file": str(snap)})
    healthy(ub, c)
    return c, ub, snap


def restarts(ub, c, snap, fresh=True):
    """Restart from the snapshot, then (fresh) without it: a full load from Redis."""
    ub.stop()
    ub.start()
    healthy(ub, c)
    if fresh:
        ub.stop()
        snap.unlink()
        ub.start()
        healthy(ub, c)


# ---- the victim order's keys ----------------------------------------------------

def hset_raw(c, key, mapping):
    c.delete(key)
    c.hset(key, mapping=mapping)


ORDER_CASES = {
    "wrong-type": lambda c: (c.delete(P + "order:victim"), c.set(P + "order:victim", "x")),
    "list-type": lambda c: (c.delete(P + "order:victim"), c.rpush(P + "order:victim", "a", "b")),
    "absent": lambda c: c.delete(P + "order:victim"),
    "binary-junk": lambda c: hset_raw(c, P + "order:victim", {JUNK: JUNK, "authority": JUNK, "scope": JUNK,
                                                              "action": JUNK, "reference": "\0nul"}),
    "1mb-fields": lambda c: hset_raw(c, P + "order:victim", {
        "authority": MB, "reference": MB, "scope": "* " + MB, "action": "sinkhole", "reason": MB, "url": MB,
        "lang": MB, "issued": MB, "expires": MB}),
    "10k-fields": lambda c: hset_raw(c, P + "order:victim", {f"f{i}": "x" for i in range(10000)}),
    "domains-wrong-type": lambda c: (c.delete(P + "order:victim:domains"), c.set(P + "order:victim:domains", "x")),
    "domains-junk": lambda c: c.sadd(P + "order:victim:domains", JUNK, "\0", "", ".", "a..b", "x" * 300, MB),
    "domains-10k-invalid": lambda c: c.sadd(P + "order:victim:domains", *[f"bad name {i}" for i in range(10000)]),
}


@pytest.mark.parametrize("case", sorted(ORDER_CASES))
def test_malformed_order_keys_hurt_nobody_else(env, case):
    c, ub, snap = env
    ORDER_CASES[case](c)
    c.xadd(P + "changes", {"op": "order", "order": "victim", "domain": ""})
    c.xadd(P + "changes", {"op": "add", "order": "victim", "domain": "a5.example"})
    healthy(ub, c)
    restarts(ub, c, snap)
    assert "malformed" in ub.log() or "skipping" in ub.log()


# ---- the global keys ------------------------------------------------------------

def test_orders_set_members_junk_and_10k_invalid(env):
    c, ub, snap = env
    c.sadd(P + "orders", JUNK, "", "has space", "x" * 200, MB, *[f"bad id {i}" for i in range(10000)])
    healthy(ub, c)
    restarts(ub, c, snap)


def test_orders_set_of_the_wrong_type_keeps_the_list(env):
    c, ub, snap = env
    c.delete(P + "orders")
    c.set(P + "orders", "x")
    healthy(ub, c)                                    # changes to known orders still apply
    ub.stop()
    ub.start()                                        # from the snapshot
    alive(ub)
    enforced(ub)
    # a full load is impossible: the resolver keeps its list and says why
    ub.stop()
    c.xtrim(P + "changes", maxlen=0)
    rs.add_domains(c, "good", ["a2.example"])
    ub.start()
    # (the full load waits 0-3 s: restart-storm jitter, module/sync.c)
    rs.wait_for(lambda: "is not a set" in ub.log(), True, timeout=8, step=0.25)
    alive(ub)
    enforced(ub)
    c.delete(P + "orders")
    c.sadd(P + "orders", "good", "nx", "victim")
    rs.wait_for(lambda: rs.first_a(ub, "a2.example"), rs.SINK4, timeout=35, step=0.25)


@pytest.mark.parametrize("case", ["wrong-type", "junk", "1mb", "10k-invalid", "absent"])
def test_protected_set(env, case):
    c, ub, snap = env
    key = P + "protected"
    if case == "wrong-type":
        c.set(key, "x")
    elif case == "junk":
        c.sadd(key, JUNK, "", "..", "pirate")            # "pirate" protects no listed name
    elif case == "1mb":
        c.sadd(key, MB)
    elif case == "10k-invalid":
        c.sadd(key, *[f"bad name {i}" for i in range(10000)])
    else:
        c.delete(key)
    c.xadd(P + "changes", {"op": "protect", "order": "", "domain": "x" * 1000})
    healthy(ub, c)
    restarts(ub, c, snap)


# op -> the fields it needs (doc/redis-schema.md, "The change stream")
STREAM_OPS = {"add": ("op", "order", "domain"), "del": ("op", "order", "domain"), "order": ("op", "order"),
              "revoke": ("op", "order"), "protect": ("op", "domain"), "unprotect": ("op", "domain"),
              "dataset": ("op",), "bogus": ("op",)}


def test_stream_entries_with_fields_missing_or_oversized(env):
    c, ub, snap = env
    x = P + "changes"
    target = {"order": "victim", "domain": "a5.example"}     # valid leftovers touch the victim only
    for op, needed in STREAM_OPS.items():
        full = {"op": op, **target}
        for field in ("op", "order", "domain"):
            if field in needed:
                missing = {k: v for k, v in full.items() if k != field}
                if missing:
                    c.xadd(x, missing)
            for big in (MB, JUNK, "x" * 300):
                c.xadd(x, {**full, field: big})
    c.xadd(x, {"op": "add", "order": "good", "domain": "pirate.example", JUNK: MB})
    healthy(ub, c)
    assert rs.first_a(ub, "pirate.example") == rs.SINK4   # no junk entry unblocked it
    restarts(ub, c, snap)
    assert "skipping malformed change" in ub.log() or "skipping malformed change" in ub.stderr()


def test_stream_of_the_wrong_type_keeps_the_list_and_backs_off(env):
    c, ub, snap = env
    c.delete(P + "changes")
    c.set(P + "changes", "x")
    time.sleep(4)
    alive(ub)
    enforced(ub)
    lines = ub.log().count("XREAD") + ub.log().count("is not a stream")
    assert lines < 30, f"{lines} log lines in 4 s: no backoff"
    c.delete(P + "changes")
    next_change_applies(ub, c, timeout=35)           # within the backoff once the stream is back
    restarts(ub, c, snap)


def test_stream_deleted(env):
    c, ub, snap = env
    c.delete(P + "changes")
    healthy(ub, c)
    restarts(ub, c, snap)


def test_keys_deleted_in_the_middle_of_a_load(redis, make_unbound, tmp_path):
    import threading
    c = redis.client()
    seed(c)
    bulk_orders(c, "bulk", 3000, lambda i: [f"n{j}.bulk{i}.example" for j in range(20)])
    stop = threading.Event()

    def deleter():
        d = redis.client()
        i = 0
        while not stop.is_set() and i < 3000:
            d.delete(P + f"order:bulk{i}", P + f"order:bulk{i}:domains")
            i += 7
    t = threading.Thread(target=deleter)
    t.start()
    try:
        ub = rs.start_resolver(make_unbound, redis, tmp_path)
    finally:
        stop.set()
        t.join()
    healthy(ub, c)


def test_hits_and_heartbeat_keys_of_the_wrong_type(redis, make_unbound, tmp_path):
    c = redis.client()
    seed(c)
    hour = time.strftime("%Y-%m-%dT%H", time.gmtime())
    c.set(P + f"hits:{hour}", "x")
    c.set(P + "resolver:test-resolver", "x")
    port = harness.free_port()
    ub = rs.start_resolver(make_unbound, redis, tmp_path, {"stats_flush_interval": "1",
                                                           "metrics_listen": f"127.0.0.1:{port}"})
    for _ in range(5):
        assert rs.first_a(ub, "pirate.example") == rs.SINK4
    time.sleep(2.5)
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=3).read().decode()
    dropped = [line for line in text.splitlines() if line.startswith("redsink_hits_dropped_total ")]
    assert dropped and float(dropped[0].split()[1]) == 5.0, dropped
    healthy(ub, c)
    assert c.type(P + f"hits:{hour}") == "string"       # untouched, not overwritten


# ---- the dataset identity ---------------------------------------------------------

def alarm_metric(port):
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=3).read().decode()
    for line in text.splitlines():
        if line.startswith("redsink_dataset_alarm "):
            return int(float(line.split()[1]))
    raise AssertionError("no redsink_dataset_alarm metric")


@pytest.fixture
def fleet_env(redis, make_unbound, tmp_path):
    c = redis.client()
    seed(c)
    port = harness.free_port()
    snap = tmp_path / "redsink.snap"
    ub = rs.start_resolver(make_unbound, redis, tmp_path, {"snapshot_file": str(snap),
                                                           "metrics_listen": f"127.0.0.1:{port}"})
    healthy(ub, c)
    return c, ub, port, snap


def heartbeat(c):
    return c.hgetall(P + "resolver:test-resolver")


def test_an_emptied_redis_is_not_an_empty_list(fleet_env, redis):
    c, ub, port, snap = fleet_env
    redis.stop()
    redis.start()                                       # no persistence: it comes back empty
    c = redis.client()
    rs.wait_for(lambda: alarm_metric(port), 1, timeout=12, step=0.25)
    enforced(ub)                                        # still blocking everything
    rs.wait_for(lambda: heartbeat(c).get("dataset_alarm"), "vanished", timeout=12, step=0.25)
    assert heartbeat(c)["dataset"] == DATASET
    assert "dataset alarm (vanished)" in ub.log()
    ub.stop()
    ub.start()                                          # a restart keeps the snapshot's list too
    time.sleep(1.5)
    enforced(ub)
    # a deliberate new dataset that supersedes ours is adopted
    rs.put_order(c, "fresh", ["a4.example"])
    c.hset(P + "dataset", mapping={"id": "f" * 32, "generation": 2, "supersedes": DATASET})
    c.xadd(P + "changes", {"op": "dataset", "order": "", "domain": ""})
    rs.wait_for(lambda: rs.first_a(ub, "a4.example"), rs.SINK4, timeout=8, step=0.25)
    assert rs.first_a(ub, "pirate.example") == REAL["pirate.example"]   # the new dataset does not list it
    rs.wait_for(lambda: alarm_metric(port), 0, timeout=6, step=0.25)


def test_flushall_under_a_live_connection(fleet_env):
    c, ub, port, snap = fleet_env
    c.flushall()
    rs.wait_for(lambda: alarm_metric(port), 1, timeout=8, step=0.25)
    enforced(ub)
    rs.put_order(c, "intruder", ["ok.example"])         # a foreign write to the empty Redis
    time.sleep(2)
    assert rs.first_a(ub, "ok.example") == REAL["ok.example"]
    seed(c)                                             # the dataset is back (restored)
    rs.wait_for(lambda: alarm_metric(port), 0, timeout=8, step=0.25)
    next_change_applies(ub, c)


@pytest.mark.parametrize("case", ["foreign", "wrong-type", "junk", "1mb"])
def test_a_foreign_or_broken_identity_is_not_adopted(fleet_env, case):
    c, ub, port, snap = fleet_env
    key = P + "dataset"
    if case == "foreign":
        c.hset(key, mapping={"id": "e" * 32, "generation": 7, "supersedes": "d" * 32})
    elif case == "wrong-type":
        c.delete(key)
        c.set(key, "x")
    elif case == "junk":
        c.hset(key, mapping={"id": JUNK, "supersedes": JUNK})
    else:
        c.hset(key, mapping={"id": MB})
    c.xadd(P + "changes", {"op": "dataset", "order": "", "domain": ""})
    rs.wait_for(lambda: alarm_metric(port), 1, timeout=8, step=0.25)
    rs.add_domains(c, "good", ["a2.example"])           # not followed while in alarm
    time.sleep(1.5)
    assert rs.first_a(ub, "a2.example") == REAL["a2.example"]
    enforced(ub)
    want = "foreign" if case == "foreign" else "malformed"
    assert f"dataset alarm ({want})" in ub.log()
    c.delete(key)
    c.hset(key, mapping={"id": DATASET, "generation": 1})
    rs.wait_for(lambda: rs.first_a(ub, "a2.example"), rs.SINK4, timeout=8, step=0.25)
    assert alarm_metric(port) == 0


def test_a_reload_keeps_the_list_whatever_redis_holds(redis, make_unbound, tmp_path):
    """No snapshot file: the list is handed from one generation to the next in memory."""
    c = redis.client()
    seed(c)
    ub = rs.start_resolver(make_unbound, redis, tmp_path)
    healthy(ub, c)
    c.flushall()
    ub.reload()
    time.sleep(1)
    enforced(ub)
    assert "kept the running list over the reload" in ub.log()
    assert "dataset alarm (vanished)" in ub.log()
    seed(c)                                             # restored: followed again
    next_change_applies(ub, c, timeout=8)
    c.delete(P + "orders")
    c.set(P + "orders", "x")
    ub.reload()
    time.sleep(1)
    enforced(ub)


@pytest.mark.parametrize("then_write", [False, True])
def test_a_rollback_forces_a_resync(fleet_env, redis, then_write):
    c, ub, port, snap = fleet_env
    # remember the state, then change it
    old = [(i, f) for i, f in c.xrange(P + "changes")]
    rs.add_domains(c, "good", ["a2.example"])
    rs.wait_for(lambda: rs.first_a(ub, "a2.example"), rs.SINK4)
    # a restore from the older backup: same dataset, older stream
    redis.stop()
    redis.start()
    c = redis.client()
    seed_without_stream = c.pipeline(transaction=True)
    seed_without_stream.hset(P + "dataset", mapping={"id": DATASET, "generation": 1})
    for oid, doms, action in (("good", ["pirate.example"], "sinkhole"), ("nx", ["a1.example"], "nxdomain"),
                              ("victim", ["a5.example"], "sinkhole")):
        seed_without_stream.hset(P + f"order:{oid}", mapping={"authority": "T", "reference": "R", "scope": "*",
                                                              "action": action})
        seed_without_stream.sadd(P + "orders", oid)
        seed_without_stream.sadd(P + f"order:{oid}:domains", *doms)
    for i, f in old:
        seed_without_stream.xadd(P + "changes", f, id=i)
    if then_write:
        # the restored primary took a write: its stream goes past the resolver's
        # position, but without the resolver's own last entries
        seed_without_stream.hset(P + "order:later", mapping={"authority": "T", "reference": "R2", "scope": "*",
                                                             "action": "sinkhole"})
        seed_without_stream.sadd(P + "orders", "later")
        seed_without_stream.sadd(P + "order:later:domains", "a4.example")
        seed_without_stream.xadd(P + "changes", {"op": "order", "order": "later", "domain": ""},
                                 id=f"{int(time.time() * 1000) + 60000}-0")
    seed_without_stream.execute()
    rs.wait_for(lambda: rs.first_a(ub, "a2.example"), REAL["a2.example"], timeout=12, step=0.25)
    enforced(ub)
    assert "rollback" in ub.log() or "divergent history" in ub.log()
    if then_write:
        assert rs.first_a(ub, "a4.example") == rs.SINK4
    next_change_applies(ub, c)


def test_many_orders_load(redis, make_unbound, tmp_path):
    """100,000 orders (one domain each) load: order lookups are O(1)."""
    c = redis.client()
    seed(c)
    bulk_orders(c, "m", 100000, lambda i: [f"m{i}.many.example"])
    ub = rs.start_resolver(make_unbound, redis, tmp_path, timeout=60)
    healthy(ub, c)
    r = ub.query("m99999.many.example", "A")
    assert rs.rrs(r)[0][3] == rs.SINK4
    assert "loaded 100003 orders, 100003 domains" in ub.log()
