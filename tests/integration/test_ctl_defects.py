"""redsink-ctl defects of issue 11, each reproduced: export to a path that
cannot be written, `expire --now` in the future, `status` with no, stale or
still-loading resolvers and typed `--json`, what `order update` records, and
the minor ones (program name in errors, `help --help`, `log --op`, control
characters echoed, dates stored as typed, no `issued`).
"""

import json
import time

import pytest

import rs
from test_ctl import add_order, ctl, ok, push, stream


def order_hash(redis, oid):
    return redis.client().hgetall(f"{rs.PREFIX}order:{oid}")


def heartbeat(redis, name, **fields):
    hb = {"last_id": "0-0", "last_applied_at": int(time.time()), "seen_at": int(time.time()), "entries": 0,
          "orders": 1, "link": "up", "version": "test", "jurisdiction": "", "applied": 0,
          "malformed_skipped": 0, "resyncs": 0, "dataset": "", "dataset_alarm": ""}
    hb.update(fields)
    c = redis.client()
    c.hset(f"{rs.PREFIX}resolver:{name}", mapping=hb)
    c.expire(f"{rs.PREFIX}resolver:{name}", 300)


# ---- 1. export -o into a directory that does not exist ----------------------

@pytest.mark.parametrize("fmt", ["--json", "--csv", "--rpz"])
def test_export_to_an_unwritable_path_names_it_and_does_not_crash(redis, fmt):
    add_order(redis, "o1")
    ok(push(redis, "o1", ["a1.example"]))
    p = ctl(redis, "export", fmt, "-o", "/nonexistent/x")
    assert p.returncode == 1, p.stderr
    assert "/nonexistent/x: No such file or directory" in p.stderr and ".tmp." not in p.stderr


# ---- 2. expire --now in the future -------------------------------------------

def test_expire_refuses_a_future_now_except_as_a_dry_run(redis):
    add_order(redis, "o1", "--expires", "2099-01-01")
    ok(push(redis, "o1", ["a1.example"]))
    n = len(stream(redis))
    p = ctl(redis, "expire", "--now", "2099-02-01")
    assert p.returncode == 2 and "--now 2099-02-01 is in the future" in p.stderr, p.stderr
    assert redis.client().sismember(rs.PREFIX + "orders", "o1") and len(stream(redis)) == n
    p = ok(ctl(redis, "expire", "--now", "+100000d", "--dry-run"))
    assert "would revoke order o1 (expires at 2099-01-01T00:00:00Z): 1 domains" in p.stdout
    assert redis.client().sismember(rs.PREFIX + "orders", "o1") and len(stream(redis)) == n
    # a past --now revokes only what has really expired: nothing here
    assert "no expired orders" in ok(ctl(redis, "expire", "--now", "-1d")).stdout


# ---- 3. status ----------------------------------------------------------------

def test_status_order_without_any_resolver_fails(redis):
    add_order(redis, "o1")
    p = ctl(redis, "status", "o1")
    assert p.returncode == 1 and "no resolver has sent a heartbeat" in p.stderr, (p.returncode, p.stderr)
    p = ctl(redis, "status", "o1", "--json")
    assert p.returncode == 1
    st = json.loads(p.stdout)
    assert st["resolvers"] == [] and st["order"]["in_force"] is True
    # the fleet view itself is a report, not a check
    ok(ctl(redis, "status"))


def test_status_stale_and_loading_resolvers_and_typed_json(redis):
    add_order(redis, "o1")
    now = int(time.time())
    last = redis.client().xrevrange(rs.PREFIX + "changes", count=1)[0][0]
    heartbeat(redis, "gone", seen_at=now - 25, last_applied_at=now - 40, entries=7, link="up", last_id=last)
    heartbeat(redis, "loading", last_applied_at=0, last_id="", entries=0, link="up")
    text = ok(ctl(redis, "status")).stdout
    gone = next(ln for ln in text.splitlines() if ln.startswith("gone"))
    assert "STALE: last seen 2" in gone and " up " not in gone, gone
    loading = next(ln for ln in text.splitlines() if ln.startswith("loading"))
    assert "(never)" not in loading and "list not loaded yet" in loading, loading
    rep = ok(ctl(redis, "status", "o1")).stdout
    assert "NOT YET LOADED" in next(ln for ln in rep.splitlines() if ln.startswith("loading")), rep
    st = json.loads(ok(ctl(redis, "status", "--json")).stdout)
    r = {x["name"]: x for x in st["resolvers"]}
    g = r["gone"]
    assert g["stale"] is True and g["link"] == "stale" and g["reported_link"] == "up"
    assert g["seen_ago"] >= 25 and g["seen_at"] == now - 25 and g["entries"] == 7 and g["orders"] == 1
    assert g["last_applied_at"] == now - 40 and g["resyncs"] == 0 and g["malformed_skipped"] == 0
    assert g["lag"] == 0 and g["resync_needed"] is False
    assert r["loading"]["stale"] is False and r["loading"]["link"] == "up"
    assert st["stream"]["length"] >= 1 and isinstance(st["dataset"]["generation"], int)
    st = json.loads(ok(ctl(redis, "status", "o1", "--json")).stdout)
    assert st["order"]["domains"] == 0 and st["order"]["expired"] is False
    assert {x["name"]: x["order_applied"] for x in st["resolvers"]} == {"gone": True, "loading": False}


def test_status_says_applied_as_soon_as_the_resolver_reports_it(redis, make_unbound, tmp_path):
    add_order(redis, "o1")
    ub = rs.start_resolver(make_unbound, redis, tmp_path)
    rs.wait_for(lambda: "test-resolver" in ctl(redis, "status").stdout, True, timeout=10, step=0.2)
    rep = ok(ctl(redis, "status", "o1")).stdout
    line = next(ln for ln in rep.splitlines() if ln.startswith("test-resolver"))
    assert "applied: enforced" in line and "(never)" not in line and " - (" not in line, rep
    time.sleep(1)
    ok(push(redis, "o1", ["a1.example"]))
    t0 = time.monotonic()
    rs.wait_for(lambda: "applied: enforced" in ctl(redis, "status", "o1").stdout, True, timeout=3, step=0.1)
    assert time.monotonic() - t0 < 3
    assert rs.first_a(ub, "a1.example") == rs.SINK4


# ---- 4. order update records what changed --------------------------------------

def test_order_update_records_fields_and_old_and_new_values(redis):
    add_order(redis, "o1", scope="IT")
    ok(ctl(redis, "order", "update", "o1", "--scope", "IT FR", "--action", "nxdomain", "--why", "appeal"))
    e = stream(redis)[-1]
    assert (e["op"], e["order"], e["fields"]) == ("order", "o1", "scope,action")
    assert (e["old.scope"], e["new.scope"], e["old.action"], e["new.action"]) == ("IT", "IT FR", "sinkhole", "nxdomain")
    created = stream(redis)[0]
    assert created["fields"].startswith("authority,reference,issued,") and created["new.scope"] == "IT"
    assert "old.scope" not in created
    text = ok(ctl(redis, "log", "--order", "o1")).stdout.splitlines()[-1]
    assert 'fields=scope,action old.scope=IT new.scope="IT FR" old.action=sinkhole new.action=nxdomain' in text
    j = json.loads(ok(ctl(redis, "log", "--order", "o1", "--json")).stdout.splitlines()[-1])
    assert j["fields"] == ["scope", "action"]
    assert j["old"] == {"scope": "IT", "action": "sinkhole"} and j["new"] == {"scope": "IT FR", "action": "nxdomain"}


# ---- 5. minor ----------------------------------------------------------------

def test_errors_name_the_program_and_help_help_works(redis):
    p = ctl(redis, "push", "--bogus")
    assert p.returncode == 2 and p.stderr.startswith("redsink-ctl: push: unrecognized option '--bogus'"), p.stderr
    p = ctl(redis, "order", "add", "o1", "--scope")
    assert p.returncode == 2 and p.stderr.startswith("redsink-ctl: order add: "), p.stderr
    p = ctl(redis, "order", "add", "o1")
    assert p.returncode == 2 and p.stderr.startswith("redsink-ctl: order add: --authority is required"), p.stderr
    p = ctl(redis, "help", "--help")
    assert p.returncode == 0 and p.stdout.startswith("Usage: redsink-ctl"), p.stderr
    p = ctl(redis, "log", "--op", "bogus")
    assert p.returncode == 2 and "--op: 'bogus' is not an op" in p.stderr
    assert ok(ctl(redis, "log", "--op", "revoke")).stdout == ""


def test_control_characters_are_refused_and_never_echoed_raw(redis):
    add_order(redis, "o1")
    for args in (["order", "update", "o1", "--reason", "evil\nline"], ["order", "add", "o2\nx"],
                 ["order", "revoke", "o1", "--why", "a\nb"], ["expire", "--now", "x\ny"]):
        p = ctl(redis, *args)
        assert p.returncode == 2, (args, p.stderr)
        assert "\nline" not in p.stderr and "o2\nx" not in p.stderr and "x\ny" not in p.stderr, p.stderr
    p = ctl(redis, "order", "update", "o1", "--reason", "evil\nline")
    assert "'evil\\x0aline' contains a control character" in p.stderr
    assert order_hash(redis, "o1")["reason"] == "Copyright infringement"


def test_dates_are_stored_in_utc_and_issued_defaults_to_now(redis):
    add_order(redis, "o1", "--issued", "2026-05-01T12:00:00+02:00", "--expires", "2099-01-01")
    h = order_hash(redis, "o1")
    assert (h["issued"], h["expires"]) == ("2026-05-01T10:00:00Z", "2099-01-01T00:00:00Z")
    ok(ctl(redis, "order", "update", "o1", "--expires", "2099-06-30T23:00:00-01:00"))
    assert order_hash(redis, "o1")["expires"] == "2099-07-01T00:00:00Z"
    t0 = int(time.time())
    add_order(redis, "o2")
    issued = order_hash(redis, "o2")["issued"]
    got = int(time.mktime(time.strptime(issued, "%Y-%m-%dT%H:%M:%SZ"))) - time.timezone
    assert issued.endswith("Z") and t0 - 2 <= got <= int(time.time()) + 2, issued


# ---- 6. --json of expire and order revoke (one interface) ---------------------

def test_expire_json_lists_orders_with_rfc3339_expiry_and_numeric_counts(redis):
    add_order(redis, "o1", "--expires", "2099-01-01")
    ok(push(redis, "o1", ["a1.example", "a2.example"]))
    add_order(redis, "o2", "--issued", "2020-01-01")
    ok(push(redis, "o2", ["b1.example"]))
    ok(ctl(redis, "order", "update", "o2", "--expires", "2021-03-04T05:06:07+01:00"))
    add_order(redis, "o3")          # never expires
    n = len(stream(redis))
    # the dry run: what would be revoked at a pretended (future) time, nothing written
    j = json.loads(ok(ctl(redis, "expire", "--dry-run", "--now", "+100000d", "--json")).stdout)
    assert (j["op"], j["dry_run"], j["written"], j["exit"]) == ("expire", True, False, 0), j
    assert j["revoked"] == 2 and isinstance(j["revoked"], int)
    assert j["first_change"] is None and j["last_change"] is None
    assert j["now"].endswith("Z") and j["now"] > "2099-01-01T00:00:00Z", j["now"]
    rows = {o["order"]: o for o in j["orders"]}
    assert set(rows) == {"o1", "o2"}, j
    assert rows["o1"]["expires"] == "2099-01-01T00:00:00Z" and rows["o1"]["expired"] is False
    assert rows["o2"]["expires"] == "2021-03-04T04:06:07Z" and rows["o2"]["expired"] is True
    assert rows["o1"]["domains"] == 2 and rows["o2"]["domains"] == 1
    assert all(o["change"] is None for o in j["orders"])
    assert rows["o2"]["why"] == "expired at 2021-03-04T04:06:07Z"
    assert rows["o1"]["authority"] == "Tribunale di Milano" and rows["o1"]["reference"] == "RG o1/2026"
    assert len(stream(redis)) == n and redis.client().sismember(rs.PREFIX + "orders", "o2")
    # for real: only o2 has expired; the receipt names the change written
    j = json.loads(ok(ctl(redis, "expire", "--why", "cron", "--json")).stdout)
    assert (j["dry_run"], j["written"], j["revoked"]) == (False, True, 1), j
    assert [o["order"] for o in j["orders"]] == ["o2"]
    ids = [i for i, _ in redis.client().xrange(rs.PREFIX + "changes")]
    assert len(ids) == n + 1
    assert j["orders"][0]["change"] == ids[-1] == j["first_change"] == j["last_change"]
    assert j["orders"][0]["why"] == "expired at 2021-03-04T04:06:07Z: cron"
    assert stream(redis)[-1]["why"] == "expired at 2021-03-04T04:06:07Z: cron"
    assert not redis.client().sismember(rs.PREFIX + "orders", "o2")
    # nothing left to expire: still one object, with an empty list
    j = json.loads(ok(ctl(redis, "expire", "--json")).stdout)
    assert (j["revoked"], j["orders"], j["written"]) == (0, [], False), j


def test_order_revoke_json_receipt(redis):
    add_order(redis, "o1", "--expires", "2099-01-01")
    ok(push(redis, "o1", ["a1.example", "a2.example", "a3.example"]))
    n = len(stream(redis))
    j = json.loads(ok(ctl(redis, "order", "revoke", "o1", "--dry-run", "--json", "--why", "settled")).stdout)
    assert j == {"order": "o1", "op": "revoke", "dry_run": True, "written": False,
                 "authority": "Tribunale di Milano", "reference": "RG o1/2026", "expires": "2099-01-01T00:00:00Z",
                 "domains": 3, "why": "settled", "change": None, "exit": 0}, j
    assert len(stream(redis)) == n
    j = json.loads(ok(ctl(redis, "order", "revoke", "o1", "--json", "--why", "settled", "-q")).stdout)
    ids = [i for i, _ in redis.client().xrange(rs.PREFIX + "changes")]
    assert (j["dry_run"], j["written"], j["domains"], j["change"]) == (False, True, 3, ids[-1]), j
    assert stream(redis)[-1]["op"] == "revoke" and not redis.client().sismember(rs.PREFIX + "orders", "o1")
    # an order without expiry: null, not "" nor "-"
    add_order(redis, "o2")
    j = json.loads(ok(ctl(redis, "order", "revoke", "o2", "--dry-run", "--json")).stdout)
    assert j["expires"] is None and j["domains"] == 0 and j["why"] == "", j
    # an error is a message on standard error, nothing on standard output
    p = ctl(redis, "order", "revoke", "o1", "--json")
    assert p.returncode == 1 and p.stdout == "" and "already revoked" in p.stderr, p


def test_a_bad_option_is_one_line_naming_program_command_and_option(redis):
    for args, cmd, what in ((["push", "--bogus"], "push: ", "unrecognized option '--bogus'"),
                            (["order", "revoke", "--bogus=1"], "order revoke: ", "unrecognized option '--bogus'"),
                            (["expire", "-z"], "expire: ", "unrecognized option '-z'"),
                            (["expire", "--json=yes"], "expire: ", "no value allowed for option '--json'"),
                            (["export", "-o"], "export: ", "missing value for option '-o'"),
                            (["--redis"], "", "missing value for option '--redis'"),
                            (["--bogus", "status"], "", "unrecognized option '--bogus'"),
                            (["status", "--x\x01y"], "status: ", "unrecognized option '--x\\x01y'"),
                            (["bogus"], "", "unknown command 'bogus'")):
        p = ctl(redis, *args)
        assert p.returncode == 2, (args, p.stderr)
        assert p.stderr.splitlines() == [f"redsink-ctl: {cmd}{what} (see 'redsink-ctl {cmd.rstrip(': ')}"
                                         f"{' ' if cmd else ''}--help')"], (args, p.stderr)
