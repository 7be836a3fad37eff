"""Live-event windows (issue 13): an order with `windows` applies only inside one.

A real Unbound with the module, a real Redis and redsink-ctl: a window opening
and closing seconds apart blocks (the cached answer purged at its start, so the
first query inside it is blocked) and unblocks (within a second of its end);
windows in the past never block, windows in the future not yet; `window set`
refuses invalid windows (exit 5, one clear line per problem, nothing written);
`window list`, `order show/list` and `status` say whether an order is active now.
"""
import json
import re
import time

import pytest

import harness
import rs
from test_ctl import ctl, ok, add_order

REAL = {"a1.example": "198.51.100.61", "a2.example": "198.51.100.62", "a3.example": "198.51.100.63",
        "a4.example": "198.51.100.64", "a5.example": "198.51.100.65"}


def iso(t):
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


def sleep_until(t):
    d = t - time.time()
    if d > 0:
        time.sleep(d)


def last_change(c):
    (eid, fields), = c.xrevrange(rs.PREFIX + "changes", count=1)
    return eid, fields


def test_window_opens_and_closes(redis, make_unbound, tmp_path):
    c = redis.client()
    rs.put_order(c, "live", ["a1.example"])
    start = int(time.time()) + 5
    end = start + 3
    ok(ctl(redis, "window", "set", "live", f"{iso(start)}/{iso(end)}", "--why", "match day"))
    ub = rs.start_resolver(make_unbound, redis, tmp_path)
    # before the window: resolves, and is cached
    assert time.time() < start - 1, "the resolver took too long to start for this test"
    assert rs.first_a(ub, "a1.example") == REAL["a1.example"]
    assert rs.first_a(ub, "a1.example") == REAL["a1.example"]
    assert "\na1.example." in ub.control("dump_cache")
    # inside the window: the cached answer was purged at its start (one tick,
    # 250 ms), so the very first query is blocked
    sleep_until(start + 0.6)
    assert "\na1.example." not in ub.control("dump_cache")
    assert rs.first_a(ub, "a1.example") == rs.SINK4
    assert rs.unbound_log_has(ub, "order live: window opened")
    sleep_until(end - 0.5)
    assert rs.first_a(ub, "a1.example") == rs.SINK4
    # after its end: resolves again within a second (blocked answers are never cached)
    sleep_until(end)
    took = rs.wait_for(lambda: rs.first_a(ub, "a1.example"), REAL["a1.example"], timeout=1.0)
    print(f"resolved again {took * 1000:.0f} ms after the end")
    rs.wait_for(lambda: rs.unbound_log_has(ub, "order live: window closed"), True, timeout=1.0)


def test_window_set_on_a_running_resolver(redis, make_unbound, tmp_path):
    """A window that holds now, set while the name is cached: blocked within a second; cleared: blocked
    at any time; a window in the past: resolves again."""
    c = redis.client()
    rs.put_order(c, "live", ["a4.example"])
    ok(ctl(redis, "window", "set", "live", f"{iso(time.time() - 7200)}/{iso(time.time() - 3600)}"))
    ub = rs.start_resolver(make_unbound, redis, tmp_path)
    assert rs.first_a(ub, "a4.example") == REAL["a4.example"]          # cached
    now = int(time.time())
    ok(ctl(redis, "window", "set", "live", f"{iso(now - 60)}/{iso(now + 3600)}"))
    rs.wait_for(lambda: rs.first_a(ub, "a4.example"), rs.SINK4, timeout=1.0)
    ok(ctl(redis, "window", "set", "live", f"{iso(now - 7200)}/{iso(now - 3600)}"))
    rs.wait_for(lambda: rs.first_a(ub, "a4.example"), REAL["a4.example"], timeout=1.0)
    ok(ctl(redis, "window", "clear", "live"))
    rs.wait_for(lambda: rs.first_a(ub, "a4.example"), rs.SINK4, timeout=1.0)
    assert c.hget(rs.PREFIX + "order:live", "windows") == ""


def test_past_windows_never_block_future_ones_not_yet(redis, make_unbound, tmp_path):
    c = redis.client()
    now = int(time.time())
    rs.put_order(c, "past", ["a2.example"])
    rs.put_order(c, "future", ["a3.example"])
    p = ok(ctl(redis, "window", "set", "past", f"{iso(now - 86400)}/{iso(now - 82800)}",
               f"{iso(now - 7200)}/{iso(now - 3600)}"))
    assert "every window of order past has ended" in p.stderr, p.stderr
    ok(ctl(redis, "window", "set", "future", f"{iso(now + 86400)}/{iso(now + 90000)}"))
    ub = rs.start_resolver(make_unbound, redis, tmp_path)
    for _ in range(3):
        assert rs.first_a(ub, "a2.example") == REAL["a2.example"]
        assert rs.first_a(ub, "a3.example") == REAL["a3.example"]
        time.sleep(0.3)
    # the list reports them as loaded orders (not malformed), not applying now
    js = json.loads(ok(ctl(redis, "window", "list", "--json")).stdout)
    by = {o["order"]: o for o in js}
    assert by["past"]["active"] is False and by["past"]["next_change"] is None
    assert [w["state"] for w in by["past"]["windows"]] == ["ended", "ended"]
    assert by["future"]["active"] is False and by["future"]["next_change"] == iso(now + 86400)
    assert by["future"]["windows"] == [{"start": iso(now + 86400), "end": iso(now + 90000), "state": "upcoming"}]


def test_window_set_writes_the_field_and_the_change(redis):
    c = redis.client()
    add_order(redis, "w1")
    n = c.xlen(rs.PREFIX + "changes")
    # given out of order, with an offset, two in one argument: stored sorted, in UTC
    p = ok(ctl(redis, "window", "set", "w1", "2030-05-02T20:00:00+02:00/2030-05-02T20:00:00Z",
               "2030-05-01T18:00:00Z/2030-05-01T20:00:00Z 2030-05-03/2030-05-04", "--why", "fixtures", "--by", "ofcom"))
    assert "windows set" in p.stdout and "active now: no, from 2030-05-01T18:00:00Z" in p.stdout, p.stdout
    want = "2030-05-01T18:00:00Z/2030-05-01T20:00:00Z 2030-05-02T18:00:00Z/2030-05-02T20:00:00Z " \
           "2030-05-03T00:00:00Z/2030-05-04T00:00:00Z"
    assert c.hget(rs.PREFIX + "order:w1", "windows") == want
    assert c.xlen(rs.PREFIX + "changes") == n + 1
    _, f = last_change(c)
    assert f["op"] == "order" and f["order"] == "w1" and f["fields"] == "windows"
    assert f["new.windows"] == want and f["old.windows"] == ""
    assert f["by"] == "ofcom" and f["why"] == "fixtures"
    # the same again: nothing written
    p = ok(ctl(redis, "window", "set", "w1", want))
    assert "unchanged" in p.stdout and c.xlen(rs.PREFIX + "changes") == n + 1
    ok(ctl(redis, "window", "clear", "w1", "--why", "season over"))
    _, f = last_change(c)
    assert f["fields"] == "windows" and f["new.windows"] == "" and f["old.windows"] == want
    assert f["why"] == "season over"
    # the log shows the change like any order update
    p = ok(ctl(redis, "log", "--order", "w1", "--json"))
    assert "season over" in p.stdout


BAD = [
    (["2030-05-01T20:00:00Z/2030-05-01T18:00:00Z"],
     "window 1 '2030-05-01T20:00:00Z/2030-05-01T18:00:00Z': the end is not after the start"),
    (["2030-05-01T18:00:00Z/2030-05-01T18:00:00Z"], "the end is not after the start"),
    (["2030-05-01T18:00:00Z/2030-05-01T20:00:00Z", "2030-05-01T19:00:00Z/2030-05-01T21:00:00Z"],
     "window 2 '2030-05-01T19:00:00Z/2030-05-01T21:00:00Z' overlaps window 1 '2030-05-01T18:00:00Z/2030-05-01T20:00:00Z'"),
    (["2030-05-02T18:00:00Z/2030-05-02T20:00:00Z", "2030-05-01T00:00:00Z/2030-05-03T00:00:00Z"],
     "window 2 '2030-05-01T00:00:00Z/2030-05-03T00:00:00Z' overlaps window 1 '2030-05-02T18:00:00Z/2030-05-02T20:00:00Z'"),
    (["2030-05-01T18:00:00Z/2030-05-01T20:00:00Z", "2030-05-01T18:00:00Z/2030-05-01T20:00:00Z"], "overlaps window 1"),
    (["2030-13-01T18:00:00Z/2030-05-01T20:00:00Z"],
     "window 1 '2030-13-01T18:00:00Z/2030-05-01T20:00:00Z': the start '2030-13-01T18:00:00Z' is not an RFC 3339"),
    (["2030-05-01T18:00:00/2030-05-01T20:00:00Z"], "the start '2030-05-01T18:00:00' is not an RFC 3339"),
    (["2030-05-01T18:00:00Z/PT2H"], "the end 'PT2H' is not an RFC 3339"),
    (["2030-05-01T18:00:00Z"], "not START/END"),
    (["2030-05-01T18:00:00Z/"], "the end is missing"),
    ([f"{y}-01-01/{y}-06-01" for y in range(2100, 2165)], "65 windows: at most 64 per order"),
]


@pytest.mark.parametrize("args,msg", BAD, ids=[f"bad{i}" for i in range(len(BAD))])
def test_window_set_refuses_invalid_windows(redis, args, msg):
    c = redis.client()
    add_order(redis, "w1")
    n = c.xlen(rs.PREFIX + "changes")
    p = ctl(redis, "window", "set", "w1", *args)
    assert p.returncode == 5, (p.returncode, p.stderr)
    assert msg in p.stderr, p.stderr
    lines = p.stderr.splitlines()
    assert all(line.startswith("redsink-ctl: window set: ") for line in lines), p.stderr
    assert lines[-1].endswith("nothing written"), p.stderr
    assert c.hget(rs.PREFIX + "order:w1", "windows") in (None, "")
    assert c.xlen(rs.PREFIX + "changes") == n


def test_window_set_reports_every_problem(redis):
    add_order(redis, "w1")
    p = ctl(redis, "window", "set", "w1", "tomorrow/2030-05-01", "2030-05-01T18:00:00Z/2030-05-01T20:00:00Z",
            "2030-05-02/2030-05-01", "2030-05-01T19:00:00Z/2030-05-01T19:30:00Z")
    assert p.returncode == 5
    assert "window 1 'tomorrow/2030-05-01': the start 'tomorrow'" in p.stderr
    assert "window 3 '2030-05-02/2030-05-01': the end is not after the start" in p.stderr
    assert "window 4 '2030-05-01T19:00:00Z/2030-05-01T19:30:00Z' overlaps window 2" in p.stderr
    assert "3 problems in the windows: nothing written" in p.stderr


def test_window_set_never_echoes_control_characters(redis):
    add_order(redis, "w1")
    p = ctl(redis, "window", "set", "w1", "2030-05-01\x1b[31m/2030-05-02")
    assert p.returncode == 5 and "\x1b" not in p.stderr, p.stderr
    assert "window 1 '2030-05-01\\x1b[31m/2030-05-02': the start '2030-05-01\\x1b[31m'" in p.stderr, p.stderr


def test_window_usage_errors(redis):
    add_order(redis, "w1")
    for argv, msg, code in ((["window", "set", "w1"], "expected windows", 2),
                            (["window", "set"], "expected an order ID", 2),
                            (["window", "clear", "w1", "x"], "expected one order ID", 2),
                            (["window", "set", "bad id", "2030-05-01/2030-05-02"], "order ID", 2),
                            (["window", "frob"], "unknown subcommand", 2),
                            (["window", "set", "nope", "2030-05-01/2030-05-02"], "no order 'nope'", 1)):
        p = ctl(redis, *argv)
        assert p.returncode == code and msg in p.stderr, (argv, p.returncode, p.stderr)
    ok(ctl(redis, "order", "revoke", "w1", "--why", "gone"))
    p = ctl(redis, "window", "set", "w1", "2030-05-01/2030-05-02")
    assert p.returncode == 1 and "revoked" in p.stderr


def test_active_now_is_shown(redis):
    c = redis.client()
    now = int(time.time())
    add_order(redis, "on")
    add_order(redis, "off")
    add_order(redis, "always")
    ok(ctl(redis, "window", "set", "on", f"{iso(now - 60)}/{iso(now + 3600)}", f"{iso(now + 7200)}/{iso(now + 9000)}"))
    ok(ctl(redis, "window", "set", "off", f"{iso(now + 3600)}/{iso(now + 7200)}"))
    # window list: table and JSON
    p = ok(ctl(redis, "window", "list"))
    rows = {ln.split()[0]: ln.split() for ln in p.stdout.splitlines()[1:] if ln and not ln.startswith(" ")}
    assert rows["on"][1:3] == ["yes", iso(now + 3600)], p.stdout
    assert rows["off"][1:3] == ["no", iso(now + 3600)], p.stdout
    assert rows["always"][1:3] == ["yes", "never"] and "applies at any time" in p.stdout, p.stdout
    assert "open" in p.stdout and "upcoming" in p.stdout
    js = json.loads(ok(ctl(redis, "window", "list", "on", "--json")).stdout)
    assert len(js) == 1 and js[0]["active"] is True and js[0]["next_change"] == iso(now + 3600)
    assert [w["state"] for w in js[0]["windows"]] == ["open", "upcoming"]
    # order show / list
    p = ok(ctl(redis, "order", "show", "on"))
    assert re.search(rf"active now:\s+yes, until {iso(now + 3600)}", p.stdout), p.stdout
    assert f"{iso(now - 60)}/{iso(now + 3600)}" in p.stdout
    p = ok(ctl(redis, "order", "show", "always"))
    assert re.search(r"windows:\s+none \(applies at any time\)", p.stdout) and re.search(r"active now:\s+yes", p.stdout)
    js = json.loads(ok(ctl(redis, "order", "show", "off", "--json")).stdout)
    assert js["active"] is False and js["next_change"] == iso(now + 3600)
    assert js["windows"] == f"{iso(now + 3600)}/{iso(now + 7200)}"
    js = {o["id"]: o for o in json.loads(ok(ctl(redis, "order", "list", "--json")).stdout)}
    assert js["on"]["active"] and not js["off"]["active"] and js["always"]["active"]
    p = ok(ctl(redis, "order", "list"))
    assert p.stdout.splitlines()[0].split()[:3] == ["ID", "STATE", "ACTIVE"]
    # status ORDER
    p = ctl(redis, "status", "off")
    assert f"active now: no, from {iso(now + 3600)}" in p.stdout, p.stdout
    js = json.loads(ctl(redis, "status", "on", "--json").stdout)
    assert js["order"]["active"] is True and js["order"]["next_change"] == iso(now + 3600)
    # a malformed field (written around the tool) is reported, never active
    c.hset(rs.PREFIX + "order:off", "windows", "junk")
    p = ok(ctl(redis, "order", "show", "off"))
    assert "windows are not valid" in p.stdout and re.search(r"active now:\s+no", p.stdout)
    js = json.loads(ok(ctl(redis, "window", "list", "off", "--json")).stdout)
    assert js[0]["windows_valid"] is False and js[0]["active"] is False


def test_receipts_show_whether_the_order_is_active_now(redis):
    """receipts ORDER says, as status ORDER does, whether the order applies
    now and when that changes (issue 13)."""
    import csv
    import io
    now = int(time.time())
    add_order(redis, "off")
    add_order(redis, "always")
    ok(ctl(redis, "window", "set", "off", f"{iso(now + 3600)}/{iso(now + 7200)}"))
    p = ok(ctl(redis, "receipts", "off"))
    assert f"order off (in force): active now: no, from {iso(now + 3600)}" in p.stdout, p.stdout
    p = ok(ctl(redis, "receipts", "always"))
    assert "order always (in force): active now: yes" in p.stdout, p.stdout
    js = json.loads(ok(ctl(redis, "receipts", "off", "--json")).stdout)
    assert (js["order_state"], js["active"], js["next_change"]) == ("in force", False, iso(now + 3600))
    js = json.loads(ok(ctl(redis, "receipts", "always", "--json")).stdout)
    assert (js["active"], js["next_change"]) == (True, None)
    ok(ctl(redis, "fleet", "add", "r1"))
    ok(ctl(redis, "push", "off", input="a1.example\n"))
    rows = list(csv.DictReader(io.StringIO(ok(ctl(redis, "receipts", "off", "--csv")).stdout)))
    assert [(r["domain"], r["resolver"], r["order_active"]) for r in rows] == [("a1.example", "r1", "no")]


def test_window_commands_follow_the_cli_conventions(redis):
    port = harness.free_port()
    for words in (["window", "set"], ["window", "clear"], ["window", "list"]):
        p = ctl(redis, *words, "--help")
        assert p.returncode == 0 and " ".join(words) in p.stdout
        p = ctl(redis, *words, "--no-such-option")
        assert p.returncode == 2 and len(p.stderr.splitlines()) == 1
        assert p.stderr.startswith(f"redsink-ctl: {' '.join(words)}: "), p.stderr
    for argv in (["window", "list"], ["window", "set", "o", "2030-05-01/2030-05-02"], ["window", "clear", "o"]):
        p = ctl(f"127.0.0.1:{port}", *argv)
        assert p.returncode == 4 and f"127.0.0.1:{port}" in p.stderr, (argv, p.stderr)
    # the man page documents the command and the field
    man = (harness.REPO_ROOT / "tools" / "ctl" / "redsink-ctl.1").read_text()
    assert ".SH WINDOWS" in man and "window set" in man.replace("\\-", "-")


def test_windows_survive_a_start_from_the_snapshot(redis, make_unbound, tmp_path):
    """A start with Redis down enforces the snapshot's list: an order whose window is in the
    future must not block (without its windows it would apply at any time)."""
    c = redis.client()
    snap = tmp_path / "redsink.snap"
    now = int(time.time())
    rs.put_order(c, "later", ["a5.example"])
    ok(ctl(redis, "window", "set", "later", f"{iso(now + 86400)}/{iso(now + 90000)}"))
    ub = rs.start_resolver(make_unbound, redis, tmp_path, {"snapshot_file": str(snap)})
    rs.wait_for(lambda: snap.exists(), True, timeout=7, step=0.1)
    assert rs.first_a(ub, "a5.example") == REAL["a5.example"]
    ub.stop()
    redis.stop()
    ub.start()
    assert "loaded the snapshot" in ub.log()
    assert rs.first_a(ub, "a5.example") == REAL["a5.example"]


# ---- windows gate answer-address triggers too (test_addresses.py) ---------------

from test_addresses import PIRATE4, add_ips, addr_nsd, start as start_addr  # noqa: E402,F401


def test_window_gates_an_address_trigger(redis, make_unbound, tmp_path, addr_nsd):
    """An order listing the pirate server's address, with a window: outside it names on the address
    resolve; at its start the cached RRset is purged and the first query is blocked; after it they
    resolve again within a second."""
    c = redis.client()
    rs.put_order(c, "liveip", [])
    add_ips(c, "liveip", [PIRATE4 + "/32"])
    start = int(time.time()) + 5
    end = start + 3
    ok(ctl(redis, "window", "set", "liveip", f"{iso(start)}/{iso(end)}"))
    ub = start_addr(make_unbound, redis, tmp_path, addr_nsd)
    assert time.time() < start - 1, "the resolver took too long to start for this test"
    assert rs.first_a(ub, "mirror1.example") == PIRATE4
    assert rs.first_a(ub, "mirror1.example") == PIRATE4          # from the cache
    assert "\nmirror1.example." in ub.control("dump_cache")
    sleep_until(start + 0.6)
    assert rs.first_a(ub, "mirror1.example") == rs.SINK4        # the first query in the window
    assert rs.first_a(ub, "mirror2.example") == rs.SINK4        # a new name on the address
    sleep_until(end)
    rs.wait_for(lambda: rs.first_a(ub, "mirror1.example"), PIRATE4, timeout=1.0)
    assert rs.first_a(ub, "mirror3.example") == PIRATE4
