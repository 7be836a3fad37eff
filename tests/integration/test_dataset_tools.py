"""The dataset identity in the tools (doc/dataset.md): redsink-ctl and redsink-warnd.

redsink-ctl creates the `dataset` identity on the first write, refuses to
write into a Redis that lost the dataset the resolvers enforce (heartbeats are
simulated with redis-py: `resolver:<name>` hashes with a `dataset` field), and
`dataset new` starts a new dataset that supersedes the old ones. redsink-warnd
keeps its list when Redis is flushed or restarted empty, says so on /healthz,
does not follow a foreign dataset, and adopts the new one after
`redsink-ctl dataset new`.
"""

import json
import re
import time

import pytest

import rs
from test_ctl import add_order, ctl, ok, push
from test_warnd import get, make_warnd, wait_until  # noqa: F401 (make_warnd is a fixture)

KEY = rs.PREFIX + "dataset"
ID_RE = re.compile(r"^[0-9a-f]{32}$")
OTHER = "0123456789abcdef0123456789abcdef"


def show(redis):
    return json.loads(ok(ctl(redis, "dataset", "show", "--json")).stdout)


def heartbeat(redis, name, dataset, alarm=""):
    """A resolver's heartbeat as the module writes it (the fields that matter here)."""
    c = redis.client()
    c.hset(f"{rs.PREFIX}resolver:{name}", mapping={"dataset": dataset, "dataset_alarm": alarm,
                                                   "seen_at": int(time.time()), "link": "up"})
    c.expire(f"{rs.PREFIX}resolver:{name}", 300)


def stream(redis):
    return [f for _, f in redis.client().xrange(rs.PREFIX + "changes")]


# ---------------------------------------------------------------------------
# redsink-ctl
# ---------------------------------------------------------------------------

def test_first_write_creates_the_identity(redis):
    d = show(redis)
    assert (d["present"], d["valid"], d["resolvers"]) == (False, False, [])
    assert "no dataset identity" in ok(ctl(redis, "dataset", "show")).stdout
    add_order(redis, "o1")
    d = show(redis)
    assert d["present"] and d["valid"] and ID_RE.match(d["id"])
    assert (d["generation"], d["supersedes"], d["by"]) == (1, [], "tester")
    assert re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$", d["created"])
    # silently: no stream entry of its own, in the same transaction as the order
    assert [e["op"] for e in stream(redis)] == ["order"]
    ok(push(redis, "o1", ["pirate.example"]))
    assert show(redis)["id"] == d["id"]                      # kept by later writes
    text = ok(ctl(redis, "status")).stdout
    assert f"dataset: {d['id']}, generation 1" in text


def test_dataset_new_supersedes_the_current_and_the_resolvers_datasets(redis):
    add_order(redis, "o1")
    first = show(redis)["id"]
    heartbeat(redis, "r1", first)
    heartbeat(redis, "r2", "fedcba9876543210fedcba9876543210", "foreign")
    heartbeat(redis, "r3", "")                               # holds nothing: nothing to supersede
    p = ctl(redis, "dataset", "new")
    assert p.returncode == 2 and "--why" in p.stderr
    p = ctl(redis, "dataset", "new", "--why", "x", "--supersedes", OTHER.upper())
    assert p.returncode == 2 and "not a dataset id" in p.stderr
    p = ok(ctl(redis, "dataset", "new", "--why", "start over", "-n", "--supersedes", OTHER))
    assert "nothing written" in p.stdout and show(redis)["id"] == first
    n = len(stream(redis))
    p = ok(ctl(redis, "dataset", "new", "--why", "start over", "--supersedes", OTHER, "--supersedes", first))
    d = show(redis)
    assert d["id"] != first and ID_RE.match(d["id"]) and d["id"] in p.stdout
    assert d["generation"] == 2 and (d["why"], d["by"]) == ("start over", "tester")
    assert sorted(d["supersedes"]) == sorted([first, "fedcba9876543210fedcba9876543210", OTHER])
    entries = stream(redis)
    assert len(entries) == n + 1
    assert entries[-1] == {"op": "dataset", "dataset": d["id"], "by": "tester", "why": "start over"}
    log = ok(ctl(redis, "log", "--op", "dataset")).stdout
    assert f"op=dataset dataset={d['id']} by=tester" in log
    # the resolvers and which dataset they hold
    res = {r["name"]: (r["dataset"], r["dataset_alarm"], r["same"]) for r in d["resolvers"]}
    assert res == {"r1": (first, "", False), "r2": ("fedcba9876543210fedcba9876543210", "foreign", False),
                   "r3": ("", "", False)}
    text = ok(ctl(redis, "dataset", "show")).stdout
    assert f"dataset {d['id']}, generation 2" in text and "r2" in text and "foreign" in text
    # status: a line per resolver in alarm
    text = ok(ctl(redis, "status")).stdout
    assert "DATASET ALARM: resolver r2: foreign" in text and "resolver r1:" not in text
    st = json.loads(ok(ctl(redis, "status", "--json")).stdout)
    assert st["dataset"] == {"present": True, "valid": True, "id": d["id"], "generation": 2}
    assert {r["name"]: r["dataset_alarm"] for r in st["resolvers"]}["r2"] == "foreign"


def test_dataset_new_refuses_more_than_16_superseded(redis):
    add_order(redis, "o1")
    cur = show(redis)["id"]
    for i in range(16):
        heartbeat(redis, f"r{i}", f"{i + 1:032x}")
    p = ctl(redis, "dataset", "new", "--why", "too many")
    assert p.returncode == 1 and "17 datasets" in p.stderr and "nothing written" in p.stderr
    assert show(redis)["id"] == cur
    p = ctl(redis, "dataset", "new", "--why", "x", *sum((["--supersedes", f"{i:032x}"] for i in range(17)), []))
    assert p.returncode == 2 and "at most 16" in p.stderr


def test_write_refused_when_redis_lost_the_resolvers_dataset(redis):
    add_order(redis, "o1")
    ok(push(redis, "o1", ["pirate.example"]))
    held = show(redis)["id"]
    c = redis.client()
    c.flushall()                                   # Redis restarted without its data ...
    heartbeat(redis, "r1", held, "vanished")       # ... while the resolvers keep their list
    heartbeat(redis, "r2", held, "vanished")
    before = sorted(c.keys("*"))
    for args, inp in ((["order", "add", "o2", "--authority", "A", "--reference", "R", "--scope", "*"], None),
                      (["push", "o1"], "a1.example\n"), (["protect", "add", "x.example", "--why", "w"], None)):
        p = ctl(redis, *args, input=inp)
        assert p.returncode == 1, p.stderr
        assert "has no dataset identity" in p.stderr and "resolvers r1, r2 enforce dataset " + held in p.stderr
        assert "restore it from a backup" in p.stderr.lower() and "redsink-ctl dataset new --why" in p.stderr
    assert sorted(c.keys("*")) == before                  # nothing written
    text = ok(ctl(redis, "status")).stdout
    assert f"DATASET ALARM: resolver r1: vanished: it keeps enforcing dataset {held}" in text
    assert "dataset: no identity" in text
    # the way out without a backup: a dataset the resolvers do not adopt yet, rebuilt, then handed over
    p = ok(ctl(redis, "dataset", "new", "--without-resolvers", "--why", "Redis lost its data; rebuilding"))
    assert "resolvers keep their lists" in p.stdout
    rebuilding = show(redis)
    assert rebuilding["supersedes"] == [] and rebuilding["generation"] == 1
    add_order(redis, "o1")
    ok(push(redis, "o1", ["pirate.example"]))
    assert show(redis)["id"] == rebuilding["id"]
    ok(ctl(redis, "dataset", "new", "--why", "rebuilt from the regulator's files"))
    d = show(redis)
    assert sorted(d["supersedes"]) == sorted([rebuilding["id"], held]) and d["generation"] == 2
    assert c.smembers(rs.PREFIX + "order:o1:domains") == {"pirate.example"}


def test_unreadable_identity_refuses_writes(redis):
    add_order(redis, "o1")
    c = redis.client()
    c.delete(KEY)
    c.set(KEY, "junk")
    p = push(redis, "o1", ["a1.example"])
    assert p.returncode == 1 and "not a hash" in p.stderr and "redis-cli DEL" in p.stderr
    p = ctl(redis, "dataset", "new", "--why", "x")
    assert p.returncode == 1 and "not a hash" in p.stderr
    assert show(redis)["error"] == "the key is not a hash"
    c.delete(KEY)
    c.hset(KEY, mapping={"id": OTHER.upper(), "generation": "1"})
    p = push(redis, "o1", ["a1.example"])
    assert p.returncode == 1 and "lowercase hex" in p.stderr
    assert "UNREADABLE" in ok(ctl(redis, "dataset", "show")).stdout
    c.hset(KEY, mapping={"id": OTHER, "generation": "0"})
    p = push(redis, "o1", ["a1.example"])
    assert p.returncode == 1 and "generation" in p.stderr
    assert c.smembers(rs.PREFIX + "order:o1:domains") == set()
    # dataset new repairs a malformed hash (it is a hash: HSET rewrites every field)
    ok(ctl(redis, "dataset", "new", "--why", "repair"))
    assert show(redis)["valid"]
    ok(push(redis, "o1", ["a1.example"]))


# ---------------------------------------------------------------------------
# redsink-warnd
# ---------------------------------------------------------------------------

def health(w):
    """(status, body); checks the alarm header against the body."""
    st, h, body = get(w.port, path="/healthz")
    m = re.match(r"dataset alarm: (\w+):", body)
    assert h.get("x-redsink-dataset-alarm") == (m.group(1) if m else None), (h, body)
    return st, body


def test_warnd_keeps_its_list_when_redis_is_flushed(redis, make_warnd):
    add_order(redis, "o1")
    ok(push(redis, "o1", ["pirate.example"]))
    held = show(redis)["id"]
    w = make_warnd(redis)
    assert get(w.port, "pirate.example")[0] == 451
    assert health(w) == (200, "ok\n")
    redis.client().flushall()
    wait_until(lambda: health(w)[1] != "ok\n", timeout=6)
    st, body = health(w)
    assert st == 200 and body.startswith("dataset alarm: vanished:") and held in body and "keeping 1 orders, 1 domains" in body
    assert get(w.port, "pirate.example")[0] == 451          # the list is kept
    # writes into the empty Redis make another dataset: not followed
    add_order(redis, "o2")
    ok(push(redis, "o2", ["other.example"]))
    new = show(redis)["id"]
    assert new != held
    wait_until(lambda: health(w)[1].startswith("dataset alarm: foreign:"), timeout=6)
    time.sleep(1)
    assert get(w.port, "pirate.example")[0] == 451 and get(w.port, "other.example")[0] == 404
    # logged once per state, not once per check
    log = w.log()
    # (the module's sync code logs it, in the module's words: "dataset alarm (vanished): ...")
    assert log.count("dataset alarm (vanished)") == 1 and log.count("dataset alarm (foreign)") == 1, log
    assert f"--supersedes {held}" in log
    # the deliberate new dataset (warnd writes no heartbeat: its id is given)
    ok(ctl(redis, "dataset", "new", "--why", "start over", "--supersedes", held))
    wait_until(lambda: health(w) == (200, "ok\n"), timeout=6)
    wait_until(lambda: get(w.port, "other.example")[0] == 451, timeout=3)
    assert get(w.port, "pirate.example")[0] == 404
    assert "adopting dataset" in w.log() and "dataset alarm cleared" in w.log()
    # and it follows the new dataset's changes
    ok(push(redis, "o2", ["third.example"]))
    wait_until(lambda: get(w.port, "third.example")[0] == 451, timeout=3)


def test_warnd_keeps_its_list_when_redis_restarts_empty(redis, make_warnd):
    add_order(redis, "o1")
    ok(push(redis, "o1", ["pirate.example"]))
    held = show(redis)["id"]
    w = make_warnd(redis)
    redis.stop()
    redis.start()                                  # no persistence: empty
    wait_until(lambda: health(w)[1].startswith("dataset alarm: vanished:"), timeout=10)
    assert get(w.port, "pirate.example")[0] == 451
    # a resolver reports the dataset too: redsink-ctl refuses to write ...
    heartbeat(redis, "r1", held, "vanished")
    p = push(redis, "o1", ["a1.example"])
    assert p.returncode == 1 and "resolver r1 enforces dataset " + held in p.stderr
    # ... until a new dataset supersedes the one the resolvers report
    ok(ctl(redis, "dataset", "new", "--why", "Redis came back empty; starting over"))
    assert show(redis)["supersedes"] == [held]
    wait_until(lambda: health(w) == (200, "ok\n"), timeout=6)
    assert get(w.port, "pirate.example")[0] == 404          # the new dataset is empty, deliberately
    add_order(redis, "o1")
    ok(push(redis, "o1", ["pirate.example"]))
    wait_until(lambda: get(w.port, "pirate.example")[0] == 451, timeout=3)


def test_warnd_follows_a_first_identity(redis, make_warnd):
    """A list loaded from a Redis without identity (before identities) takes the
    identity the first redsink-ctl write creates, and then keeps it."""
    c = redis.client()
    rs.put_order(c, "o1", ["pirate.example"])         # no identity
    w = make_warnd(redis)
    assert get(w.port, "pirate.example")[0] == 451
    ok(push(redis, "o1", ["a1.example"]))                # creates the identity
    wait_until(lambda: get(w.port, "a1.example")[0] == 451, timeout=3)
    ident = show(redis)["id"]
    wait_until(lambda: f"dataset {ident}" in w.log(), timeout=5)
    c.flushall()
    wait_until(lambda: health(w)[1].startswith(f"dataset alarm: vanished: Redis {redis.url} no longer holds "
                                               f"dataset {ident}"), timeout=6)
    assert get(w.port, "a1.example")[0] == 451
