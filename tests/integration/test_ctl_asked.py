"""What users asked for first (issue 11): `redsink-ctl check NAME...` (agreeing
with the module's own answer), `status --check` for monitoring, `log --follow`,
and `validate FILE`: a file checked with no Redis at all.
"""

import json
import os
import signal
import socket
import subprocess
import time

import pytest

import rs
from test_ctl import REAL, add_order, ctl, ctl_binary, ok, push


def closed_port():
    """An address on 127.0.0.1 where nothing listens."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return f"127.0.0.1:{port}"


def check_json(redis, *args):
    p = ctl(redis, "check", "--json", *args)
    assert p.returncode in (0, 1), p.stderr
    return p, json.loads(p.stdout)


# ---------------------------------------------------------------------------
# check
# ---------------------------------------------------------------------------

@pytest.fixture
def checked(redis):
    """Orders covering every case `check` tells apart: a listed name, a listed
    parent, a protected child, an order of another jurisdiction, an expired
    order, and a revoked one."""
    add_order(redis, "o1")
    ok(push(redis, "o1", ["pirate.example", "pirate2.example"]))
    ok(ctl(redis, "protect", "add", "good.pirate2.example", "--why", "a lawful site"))
    add_order(redis, "fr", scope="FR")
    ok(push(redis, "fr", ["scoped.example"]))
    past = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - 3600))
    rs.put_order(redis.client(), "old", ["expired.example"], expires=past)
    add_order(redis, "gone")
    ok(push(redis, "gone", ["a3.example"]))
    ok(ctl(redis, "order", "revoke", "gone", "--why", "annulled"))
    return redis


NAMES = ["pirate.example", "www.pirate.example", "good.pirate2.example", "other.pirate2.example",
         "scoped.example", "expired.example", "a3.example", "ok.example"]


def test_check_verdicts_and_exit_codes(checked):
    redis = checked
    p, j = check_json(redis, "--jurisdiction", "IT", *NAMES)
    assert p.returncode == 1 and j["jurisdiction"] == "IT" and j["blocked"] == 3
    v = {n["name"]: n for n in j["names"]}
    assert (v["pirate.example"]["verdict"], v["pirate.example"]["order"], v["pirate.example"]["entry"]) == \
        ("blocked", "o1", "pirate.example")
    assert v["www.pirate.example"]["entry"] == "pirate.example"
    assert v["www.pirate.example"]["listed"][0]["parent"] is True
    assert v["good.pirate2.example"]["verdict"] == "protected"
    assert v["good.pirate2.example"]["protected_by"] == "good.pirate2.example"
    assert v["other.pirate2.example"]["verdict"] == "blocked"
    assert v["scoped.example"]["verdict"] == "not blocked"
    assert [(l["order"], l["state"], l["applies"], l["in_scope"]) for l in v["scoped.example"]["listed"]] == \
        [("fr", "out of scope", False, False)]
    assert v["expired.example"]["listed"][0]["state"] == "expired"
    assert v["expired.example"]["listed"][0]["expired"] is True
    assert v["a3.example"]["listed"][0]["state"] == "not in force"
    assert v["ok.example"] == {**v["ok.example"], "verdict": "not blocked", "listed": [], "order": None}
    assert isinstance(v["ok.example"]["blocked"], bool)
    # in France the French order applies
    p, j = check_json(redis, "--jurisdiction", "fr", "scoped.example")
    assert p.returncode == 1 and j["names"][0]["order"] == "fr"
    # exit 0 when nothing asked about is blocked; the text says why not
    p = ctl(redis, "check", "--jurisdiction", "IT", "scoped.example", "ok.example")
    assert p.returncode == 0, p.stderr
    assert "scoped.example: not blocked" in p.stdout
    assert "listed as scoped.example by order fr: out of scope (scope FR, jurisdiction IT)" in p.stdout
    p = ctl(redis, "check", "--jurisdiction", "IT", "www.pirate.example")
    assert p.returncode == 1
    assert "www.pirate.example: BLOCKED by order o1 (sinkhole), listed entry pirate.example" in p.stdout
    # --now: expiry judged at another time
    p, j = check_json(redis, "--jurisdiction", "IT", "--now", "2000-01-01", "expired.example")
    assert p.returncode == 1 and j["names"][0]["order"] == "old"
    # an order in force without its hash, and one with a bad scope, block nothing: shown as malformed
    c = redis.client()
    c.sadd(rs.PREFIX + "orders", "ghost")
    c.sadd(rs.PREFIX + "order:ghost:domains", "ok.example")
    rs.put_order(c, "bad", ["ok.example"], scope="ITALY")
    p, j = check_json(redis, "--jurisdiction", "IT", "www.ok.example")
    assert p.returncode == 0 and j["names"][0]["verdict"] == "not blocked"
    assert sorted((l["order"], l["state"], l["parent"]) for l in j["names"][0]["listed"]) == \
        [("bad", "malformed", True), ("ghost", "malformed", True)]
    assert all(l["problem"] for l in j["names"][0]["listed"])
    # usage and Redis errors
    assert ctl(redis, "check").returncode == 2
    assert ctl(redis, "check", "bad..name").returncode == 2
    assert ctl(redis, "check", "--jurisdiction", "ITA", "x.example").returncode == 2
    assert ctl(closed_port(), "check", "x.example").returncode == 4


def test_check_unicode_names_show_both_forms(redis):
    add_order(redis, "o1")
    ok(push(redis, "o1", ["münchen-stream.example"]))
    p = ctl(redis, "check", "www.münchen-stream.example")
    assert p.returncode == 1
    assert "münchen-stream.example (xn--mnchen-stream-wob.example)" in p.stdout
    p, j = check_json(redis, "www.xn--mnchen-stream-wob.example")
    n = j["names"][0]
    assert n["name"] == "www.xn--mnchen-stream-wob.example" and n["unicode"] == "www.münchen-stream.example"
    assert n["entry"] == "xn--mnchen-stream-wob.example"


def test_check_agrees_with_the_module(checked, make_unbound, tmp_path):
    """The tool's verdict is the resolver's answer, for every case."""
    redis = checked
    ub = rs.start_resolver(make_unbound, redis, tmp_path, conf_over={"jurisdiction": "IT"})
    # the default jurisdiction is the one the live resolvers report
    rs.wait_for(lambda: bool(redis.client().keys(rs.PREFIX + "resolver:*")), True, timeout=15)
    p, j = check_json(redis, *NAMES)
    assert (j["jurisdiction"], j["jurisdiction_from"]) == ("IT", "resolvers")
    for n in j["names"]:
        answer = rs.first_a(ub, n["name"])
        assert (answer == rs.SINK4) == n["blocked"], (n["name"], answer, n)
        if not n["blocked"]:
            assert answer == REAL[n["name"]]


# ---------------------------------------------------------------------------
# status --check
# ---------------------------------------------------------------------------

def heartbeat(redis, name, **fields):
    now = int(time.time())
    h = {"last_id": "0-0", "last_applied_at": now, "seen_at": now, "entries": 0, "orders": 0, "link": "up",
         "version": "test", "jurisdiction": "IT", "applied": 0, "malformed_skipped": 0, "resyncs": 0,
         "dataset": "", "dataset_alarm": ""}
    h.update(fields)
    c = redis.client()
    c.hset(rs.PREFIX + f"resolver:{name}", mapping=h)
    c.expire(rs.PREFIX + f"resolver:{name}", 30)


def test_status_check_for_monitoring(redis, make_unbound, tmp_path):
    add_order(redis, "o1")
    ok(push(redis, "o1", ["pirate.example"]))
    # nobody to report on: not healthy
    p = ctl(redis, "status", "--check")
    assert p.returncode == 1 and "no resolver" in p.stderr
    assert ctl(redis, "status", "o1", "--check").returncode == 1
    ub = rs.start_resolver(make_unbound, redis, tmp_path, conf_over={"jurisdiction": "IT"})
    assert rs.first_a(ub, "pirate.example") == rs.SINK4
    rs.wait_for(lambda: ctl(redis, "status", "o1", "--check").returncode, 0, timeout=30, step=0.5)
    p = ok(ctl(redis, "status", "--check", "--json"))
    j = json.loads(p.stdout)
    assert j["healthy"] is True and j["resolvers"][0]["healthy"] is True and j["resolvers"][0]["problem"] is None
    # a revoked order is not enforced by anyone
    add_order(redis, "o2")
    ok(ctl(redis, "order", "revoke", "o2", "--why", "test"))
    p = ctl(redis, "status", "o2", "--check")
    assert p.returncode == 1 and "not in force" in p.stderr
    # without --check the exit status does not change
    assert ctl(redis, "status", "o2").returncode == 0


def test_status_check_stale_alarm_lagging(redis):
    c = redis.client()
    c.xadd(rs.PREFIX + "changes", {"op": "protect", "order": "", "domain": "a.example", "by": "t"}, id="1000-0")
    c.xadd(rs.PREFIX + "changes", {"op": "protect", "order": "", "domain": "b.example", "by": "t"}, id="2000-0")
    heartbeat(redis, "fine", last_id="2000-0")
    assert ok(ctl(redis, "status", "--check"))
    heartbeat(redis, "late", last_id="1000-0")
    p = ctl(redis, "status", "--check")
    assert p.returncode == 1 and "resolver late: lagging: 1 changes not applied" in p.stderr
    c.delete(rs.PREFIX + "resolver:late")
    heartbeat(redis, "old", last_id="2000-0", seen_at=int(time.time()) - 25)
    p = ctl(redis, "status", "--check", "--json")
    assert p.returncode == 1 and "resolver old: stale" in p.stderr
    j = json.loads(p.stdout)
    assert j["healthy"] is False
    assert {r["name"]: r["healthy"] for r in j["resolvers"]} == {"fine": True, "old": False}
    c.delete(rs.PREFIX + "resolver:old")
    heartbeat(redis, "alarmed", last_id="2000-0", dataset_alarm="foreign")
    p = ctl(redis, "status", "--check")
    assert p.returncode == 1 and "dataset alarm 'foreign'" in p.stderr
    assert ctl(closed_port(), "status", "--check").returncode == 4


# ---------------------------------------------------------------------------
# log --follow
# ---------------------------------------------------------------------------

def read_lines(proc, n, timeout=20):
    """n lines of proc's stdout, within timeout seconds."""
    import select
    buf, lines, end = b"", [], time.time() + timeout
    while len(lines) < n and time.time() < end:
        r, _, _ = select.select([proc.stdout], [], [], 0.2)
        if r:
            chunk = os.read(proc.stdout.fileno(), 65536)
            if not chunk:
                break
            buf += chunk
            *done, buf = buf.split(b"\n")
            lines += [d.decode() for d in done]
    return lines


def test_log_follow(redis):
    add_order(redis, "o1")
    ok(push(redis, "o1", ["before.example"]))
    e = {k: v for k, v in os.environ.items() if not k.startswith("REDSINK_REDIS")}
    e.update({"REDSINK_REDIS": redis.url, "USER": "tester"})
    proc = subprocess.Popen([ctl_binary(), "log", "--follow", "--json", "--op", "add"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=e)
    try:
        first = read_lines(proc, 1)
        assert [json.loads(l)["domain"] for l in first] == ["before.example"]
        ok(push(redis, "o1", ["after1.example", "after2.example"]))
        ok(ctl(redis, "protect", "add", "ignored.example", "--why", "not an add"))
        ok(push(redis, "o1", ["after3.example"]))
        more = [json.loads(l) for l in read_lines(proc, 3)]
        assert sorted(m["domain"] for m in more) == ["after1.example", "after2.example", "after3.example"]
        assert all(m["op"] == "add" and isinstance(m, dict) for m in more)
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=20) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert ctl(redis, "log", "--follow", "--until", "now").returncode == 2


# ---------------------------------------------------------------------------
# validate / push --dry-run --offline
# ---------------------------------------------------------------------------

def test_validate_offline_never_connects(tmp_path):
    f = tmp_path / "ticket.txt"
    f.write_text("pirate.example\nmünchen.example\nco.uk\n1.2.3.4\nhttps://www.foo.example/x\n")
    good = tmp_path / "good.json"
    good.write_text(json.dumps({"ticket": "T-1", "fqdn": ["a.example", "b.example"], "ipv4": ["192.0.2.1"]}))
    # a listener that counts connections: nothing may connect to it
    lsn = socket.socket()
    lsn.bind(("127.0.0.1", 0))
    lsn.listen(8)
    lsn.setblocking(False)
    addr = "127.0.0.1:%d" % lsn.getsockname()[1]
    try:
        for target in (addr, closed_port()):
            p = ctl(target, "validate", f)
            assert p.returncode == 3, p.stderr        # refused: a public suffix
            assert "+ münchen.example (xn--mnchen-3ya.example)" in p.stdout
            assert "ticket.txt:3: refused: 'co.uk' is a public suffix" in p.stdout
            assert "ticket.txt:4: error: '1.2.3.4'" in p.stdout
            assert "not checked (they need Redis)" in p.stdout
            p = ctl(target, "push", "o1", "--dry-run", "--offline", "--json", f)
            assert p.returncode == 3
            j = json.loads(p.stdout)
            assert (j["offline"], j["order"], j["accepted"], j["rejected"], j["public_suffixes"], j["ok"]) == \
                (True, "o1", 3, 1, 1, False)
            assert j["skipped_checks"] == ["order", "protected", "already-listed"]
            assert {n["name"]: n["status"] for n in j["names"]}["co.uk"] == "refused: public suffix"
            assert [d["line"] for d in j["diagnostics"] if d["severity"] == "error"] == [4]
            # a good ticket passes; rejected lines alone give 1
            p = ctl(target, "validate", "--json", good)
            assert p.returncode == 0, p.stderr
            assert json.loads(p.stdout)["accepted"] == 2
            p = ctl(target, "validate", "--allow-public-suffix", "--reason", "test", f)
            assert p.returncode == 1
            assert ctl(target, "validate", "--allow-public-suffix", "--reason", "test", "--skip-invalid",
                       f).returncode == 0
            assert ctl(target, "validate", "--max-batch", "1", good).returncode == 3
        with pytest.raises(BlockingIOError):
            lsn.accept()
    finally:
        lsn.close()
    # --offline needs --dry-run (it never writes)
    assert ctl(addr, "push", "o1", "--offline", f).returncode == 2


def test_push_json_receipt(redis):
    add_order(redis, "o1")
    p = push(redis, "o1", ["a.example", "münchen.example"], "--json", "--dry-run")
    assert p.returncode == 0, p.stderr
    j = json.loads(p.stdout)
    assert (j["dry_run"], j["written"], j["added"], j["first_change"]) == (True, False, 2, None)
    assert {n["name"]: n["unicode"] for n in j["names"]}["xn--mnchen-3ya.example"] == "münchen.example"
    p = push(redis, "o1", ["a.example", "münchen.example"], "--json")
    j = json.loads(ok(p).stdout)
    assert (j["written"], j["added"], j["already_present"]) == (True, 2, 0)
    assert j["first_change"] and j["last_change"]
    j = json.loads(ok(push(redis, "o1", ["a.example"], "--json")).stdout)
    assert (j["written"], j["added"], j["already_present"]) == (False, 0, 1)
    p = push(redis, "o1", ["co.uk"], "--json")
    assert p.returncode == 3
    j = json.loads(p.stdout)
    assert (j["written"], j["public_suffixes"], j["names"][0]["status"]) == (False, 1, "refused: public suffix")
    j = json.loads(ok(ctl(redis, "withdraw", "o1", "--json", input="a.example\n")).stdout)
    assert (j["op"], j["withdrawn"], j["not_listed"]) == ("withdraw", 1, 0)
