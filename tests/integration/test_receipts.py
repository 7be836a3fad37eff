"""Receipts (issue 12): every resolver records on the primary when its list
reached each stream position; `redsink-ctl receipts ORDER` turns that into a
per-item, per-resolver proof of enforcement (processed, or unprocessed with a
reason), with --deadline for the regulator's 30 minutes.

Real servers: Redis, NSD, Unbound with the module (conftest.py)."""

import csv
import io
import json
import time

import rs
from test_ctl import REAL, add_order, ctl, ok, push

RECEIPTS = rs.PREFIX + "receipts:test-resolver"


def receipts(redis, *args):
    p = ctl(redis, "receipts", *args)
    assert p.returncode in (0, 1), p.stderr
    return p


def items(redis, oid, *args):
    return json.loads(receipts(redis, oid, "--json", *args).stdout)["items"]


def test_push_and_withdraw_are_receipted(redis, make_unbound, tmp_path):
    add_order(redis, "o1")
    ub = rs.start_resolver(make_unbound, redis, tmp_path, {"jurisdiction": "IT"})
    ok(ctl(redis, "fleet", "add", "test-resolver", "--jurisdiction", "IT"))
    ok(push(redis, "o1", ["a1.example", "a2.example"]))
    rs.wait_for(lambda: rs.first_a(ub, "a2.example"), rs.SINK4)

    def processed():
        return [i["state"] for i in items(redis, "o1")]
    rs.wait_for(processed, ["processed", "processed"], timeout=10)
    # the receipt is on the primary, with the position the list reached
    last = redis.client().xrevrange(RECEIPTS, count=1)[0][1]
    assert last["applied"] == redis.client().xrevrange(rs.PREFIX + "changes", count=1)[0][0]
    assert last["dataset"] and int(last["at_ms"]) > 0
    its = items(redis, "o1")
    for it in its:
        assert it["op"] == "block" and it["late"] is False and it["reason"] == ""
        assert 0 <= it["latency_ms"] < 5000 and it["processed_at_ms"] >= it["pushed_at_ms"]
        assert it["piracy_shield"] == {"value": it["domain"], "status": "processed", "reason": None,
                                       "timestamp": it["processed_at"], "timestamp_ms": it["processed_at_ms"]}
        (r,) = it["resolvers"]
        assert (r["name"], r["state"], r["reason"]) == ("test-resolver", "processed", None)
    # an unblocking gets its receipt too
    ok(ctl(redis, "withdraw", "o1", input="a1.example\n"))
    rs.wait_for(lambda: rs.first_a(ub, "a1.example"), REAL["a1.example"])
    rs.wait_for(lambda: [(i["op"], i["state"]) for i in items(redis, "o1")][-1], ("unblock", "processed"),
                timeout=10)
    assert items(redis, "o1")[-1]["piracy_shield"]["status"] == "unblocked"
    ok(receipts(redis, "o1", "--deadline", "30m"))
    rows = list(csv.DictReader(io.StringIO(ok(receipts(redis, "o1", "--csv")).stdout)))
    assert [(r["domain"], r["op"], r["state"], r["resolver"]) for r in rows] == [
        ("a1.example", "block", "processed", "test-resolver"), ("a2.example", "block", "processed", "test-resolver"),
        ("a1.example", "unblock", "processed", "test-resolver")]
    assert all(int(r["latency_ms"]) >= 0 for r in rows)
    table = ok(receipts(redis, "o1")).stdout
    assert "order o1: 3 items, 3 processed" in table and "unblock" in table


def test_down_out_of_scope_protected_and_late(redis, make_unbound, tmp_path):
    add_order(redis, "o1")
    add_order(redis, "fr", scope="FR")
    ub = rs.start_resolver(make_unbound, redis, tmp_path, {"jurisdiction": "IT"})
    ok(ctl(redis, "fleet", "add", "test-resolver", "--jurisdiction", "IT"))
    ok(push(redis, "fr", ["f1.example"]))
    ok(push(redis, "o1", ["a1.example", "keep.a3.example"]))
    rs.wait_for(lambda: [i["state"] for i in items(redis, "o1")], ["processed", "processed"], timeout=10)
    (it,) = items(redis, "fr")
    assert (it["state"], it["reason"], it["resolvers"][0]["reason"]) == \
        ("unprocessed", "out of this resolver's jurisdiction", "out_of_jurisdiction")
    assert it["piracy_shield"]["reason"] == "UNDEFINED" and it["late"] is False
    # a name protected after it was listed: the resolvers refuse to block it
    ok(ctl(redis, "protect", "add", "a3.example", "--why", "court exempted it"))
    its = items(redis, "o1")
    assert its[1]["domain"] == "keep.a3.example" and its[1]["resolvers"][0]["reason"] == "protected"

    # the resolver goes down; a push meanwhile is unprocessed (resolver down), and late
    ub.stop()
    redis.client().delete(rs.PREFIX + "resolver:test-resolver")
    ok(push(redis, "o1", ["a2.example"]))
    it = items(redis, "o1")[-1]
    assert (it["domain"], it["state"], it["reason"]) == ("a2.example", "unprocessed",
                                                          "resolver down: test-resolver")
    time.sleep(1.2)
    p = receipts(redis, "o1", "--deadline", "1s")
    assert p.returncode == 1
    assert "late: " in p.stderr and "a2.example" in p.stderr and "unprocessed: resolver down" in p.stderr
    assert "1 of 3 items late" in p.stderr
    js = json.loads(receipts(redis, "o1", "--deadline", "1s", "--json").stdout)
    assert js["late"] == 1 and js["deadline_ms"] == 1000 and js["items"][-1]["late"] is True


def test_receipts_input_errors(redis):
    for argv, msg in ((["receipts"], "expected one order ID"),
                      (["receipts", "o:1"], "no space, ':' or '|'"),
                      (["receipts", "o1", "--deadline", "soon"], "a duration"),
                      (["receipts", "o1", "--deadline", "0"], "a duration"),
                      (["receipts", "o1", "--since", "yesterday-ish"], "not a time"),
                      (["receipts", "o1", "--json", "--csv"], "not both")):
        p = ctl(redis, *argv)
        assert p.returncode == 2 and msg in p.stderr, (argv, p.stderr)
    p = ctl(redis, "receipts", "nope")
    assert p.returncode == 1 and "no order 'nope'" in p.stderr
    # receipts written by a hostile hand: junk entries are skipped, not trusted
    add_order(redis, "o1")
    ok(ctl(redis, "fleet", "add", "test-resolver"))
    ok(push(redis, "o1", ["a1.example"]))
    redis.client().xadd(RECEIPTS, {"applied": "not-an-id"})
    redis.client().xadd(RECEIPTS, {"other": "x"})
    (it,) = items(redis, "o1")
    assert it["state"] == "unprocessed" and it["reason"] == "resolver down: test-resolver"
    redis.client().delete(RECEIPTS)
    redis.client().set(RECEIPTS, "a string")
    p = ctl(redis, "receipts", "o1")
    assert p.returncode != 0 and "WRONGTYPE" in p.stderr
    # with no roster, the fleet is whoever has a heartbeat: nobody here
    ok(ctl(redis, "fleet", "remove", "test-resolver"))
    redis.client().delete(RECEIPTS)
    (it,) = items(redis, "o1")
    assert (it["state"], it["reason"], it["resolvers"]) == ("unprocessed", "no resolver (no roster, no heartbeat)", [])
    time.sleep(1.1)
    p = receipts(redis, "o1", "--deadline", "1s")
    assert p.returncode == 1 and "1 of 1 items late" in p.stderr
