"""The roster (issue 12): `redsink-ctl fleet add|remove|list`, and a rostered
resolver that stops is reported DOWN by `status`, not forgotten.

Real servers: a Redis, NSD and an Unbound with the module (conftest.py)."""

import json

import rs
from test_ctl import add_order, ctl, ok

HB = rs.PREFIX + "resolver:test-resolver"


def test_roster_edit_and_list(redis):
    p = ok(ctl(redis, "fleet", "add", "mil-1", "--jurisdiction", "it"))
    assert "mil-1 is on the roster, jurisdiction IT" in p.stdout
    ok(ctl(redis, "fleet", "add", "rom-2"))
    assert redis.client().hgetall(rs.PREFIX + "roster") == {"mil-1": "IT", "rom-2": ""}
    js = json.loads(ok(ctl(redis, "fleet", "list", "--json")).stdout)
    assert [(r["name"], r["rostered"], r["state"], r["seen_at"]) for r in js["resolvers"]] == \
        [("mil-1", True, "down", None), ("rom-2", True, "down", None)]
    p = ok(ctl(redis, "fleet", "remove", "rom-2", "--json"))
    assert json.loads(p.stdout) == {"resolver": "rom-2", "rostered": False, "jurisdiction": "", "changed": True}
    p = ctl(redis, "fleet", "remove", "rom-2")
    assert p.returncode == 1 and "'rom-2' is not on the roster" in p.stderr
    for argv, msg in ((["fleet", "add", "bad name"], "1-64 letters"),
                      (["fleet", "add", "x", "--jurisdiction", "ITA"], "not an ISO 3166-1"),
                      (["fleet", "remove", "x", "--jurisdiction", "IT"], "goes with 'fleet add'"),
                      (["fleet", "bogus"], "unknown subcommand"),
                      (["fleet", "list", "extra"], "unexpected argument")):
        p = ctl(redis, *argv)
        assert p.returncode == 2 and msg in p.stderr, (argv, p.stderr)
    # a roster hash written by hand with junk is read, the junk ignored with a warning
    redis.client().hset(rs.PREFIX + "roster", "bad name!", "IT")
    p = ok(ctl(redis, "fleet", "list"))
    assert "mil-1" in p.stdout and "is not a resolver name: ignored" in p.stderr


def test_stopped_rostered_resolver_is_down_not_forgotten(redis, make_unbound, tmp_path):
    add_order(redis, "o1")
    ub = rs.start_resolver(make_unbound, redis, tmp_path, {"jurisdiction": "IT"})
    ok(ctl(redis, "fleet", "add", "test-resolver", "--jurisdiction", "IT"))
    rs.wait_for(lambda: redis.client().exists(HB), 1, timeout=10)
    js = json.loads(ok(ctl(redis, "status", "--json")).stdout)
    (r,) = js["resolvers"]
    assert (r["name"], r["rostered"], r["state"], r["healthy"]) == ("test-resolver", True, "up", True)
    ok(ctl(redis, "status", "--check"))
    ok(ctl(redis, "fleet", "add", "test-resolver", "--jurisdiction", "FR"))
    p = ctl(redis, "status", "--check")
    assert p.returncode == 1 and "it reports 'IT', the roster says FR" in p.stderr
    ok(ctl(redis, "fleet", "add", "test-resolver", "--jurisdiction", "IT"))

    ub.stop()
    redis.client().delete(HB)  # what its 30 s expiry does
    p = ctl(redis, "status")
    assert p.returncode == 0 and "DOWN" in p.stdout and "test-resolver" in p.stdout
    p = ctl(redis, "status", "--check")
    assert p.returncode == 1 and "resolver test-resolver: down: on the roster" in p.stderr
    p = ctl(redis, "status", "o1", "--json")
    assert p.returncode == 1
    (r,) = json.loads(p.stdout)["resolvers"]
    assert (r["state"], r["healthy"], r["order_applied"], r["seen_at"]) == ("down", False, False, None)
    # taken off the roster (decommissioned), it is gone from status
    ok(ctl(redis, "fleet", "remove", "test-resolver"))
    assert json.loads(ok(ctl(redis, "status", "--json")).stdout)["resolvers"] == []
