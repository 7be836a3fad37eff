"""redsink-ctl against a real redis-server and a real Unbound with the module.

Push -> blocked, withdraw -> unblocked, revoke, all-or-nothing batches (also
when Redis refuses part of one), protected names and public suffixes refused,
the Redis ACL roles of doc/acl.md (refusals and a resolver running as the
`resolver` user), `status` showing the change a resolver applied, an RPZ
export loaded by Unbound's own rpz: blocking the same names, the audit log,
expiry, the input formats of zones/ctl-*, and a 1,000,000-domain push.
"""

import json
import os
import pty
import subprocess
import threading
import time
from pathlib import Path

import dns.rcode
import pytest

import rs
from harness import REPO_ROOT

REAL = {"pirate.example": "198.51.100.20", "www.pirate.example": "198.51.100.21",
        "pirate2.example": "198.51.100.41", "good.pirate2.example": "198.51.100.40",
        "other.pirate2.example": "198.51.100.42",
        "a1.example": "198.51.100.61", "a2.example": "198.51.100.62", "a3.example": "198.51.100.63",
        "a4.example": "198.51.100.64", "a5.example": "198.51.100.65", "ok.example": "198.51.100.10",
        "scoped.example": "198.51.100.50", "expired.example": "198.51.100.51"}
ZONES = REPO_ROOT / "zones"
PW = {"regulator": "reg-pw-1", "resolver": "res-pw-2", "researcher": "sci-pw-3", "noeval": "ne-pw-4",
      "operator": "ops-pw-5"}

# The roles of doc/acl.md, as the test's Redis gets them (kept in step with the doc:
# test_acl_doc_matches checks that every line here is in it).
ACL_ROLES = {
    "regulator": "on >{pw} resetkeys resetchannels nocommands ~redsink:* "
                 "+ping +select +multi +exec +discard +watch +unwatch +eval "
                 "+hset +hdel +hgetall +sadd +srem +sismember +smismember +scard +sscan "
                 "+xadd +xrange +xrevrange +xinfo|stream +scan +role +wait +info",
    "operator": "on >{pw} resetkeys resetchannels nocommands %R~redsink:* "
                "+ping +select +hgetall +sismember +scard +sscan +xrange +xrevrange +xinfo|stream +scan +info",
    "resolver": "on >{pw} resetkeys resetchannels nocommands "
                "%R~redsink:* %RW~redsink:resolver:* %RW~redsink:hits:* %RW~redsink:receipts:* "
                "+ping +select +multi +exec +discard +smembers +sscan +sismember +hgetall "
                "+xread +xrevrange +xinfo|stream +hset +expire +hincrby +xadd +role +info",
    "researcher": "on >{pw} resetkeys resetchannels nocommands "
                  "%R~redsink:hits:* %R~redsink:views:* %R~redsink:order:* "
                  "+ping +select +hgetall +hmget",
}


def ctl_binary():
    """The tool to test: $REDSINK_CTL, else the one of the build $REDSINK_MODULE
    comes from (scripts/test.sh's second pass: build/asan), else build/redsink's."""
    if os.environ.get("REDSINK_CTL"):
        return os.environ["REDSINK_CTL"]
    if os.environ.get("REDSINK_MODULE"):     # the tool of the build the module comes from
        b = Path(os.environ["REDSINK_MODULE"]).resolve().parents[2] / "tools" / "ctl" / "redsink-ctl"
        if b.exists():
            return str(b)
    return str(REPO_ROOT / "build" / "redsink" / "tools" / "ctl" / "redsink-ctl")


def ctl(redis, *args, input=None, env=None, user="tester", timeout=120):
    """Run redsink-ctl against `redis` (a harness.Redis, or an address string);
    returns the CompletedProcess (text)."""
    e = {k: v for k, v in os.environ.items() if not k.startswith("REDSINK_REDIS")}
    e.update({"REDSINK_REDIS": redis if isinstance(redis, str) else redis.url, "USER": user,
              "ASAN_OPTIONS": "detect_leaks=1:abort_on_error=0:exitcode=99"})
    e.pop("REDSINK_MAX_BATCH", None)
    e.update(env or {})
    return subprocess.run([ctl_binary(), *map(str, args)], input=input, capture_output=True, text=True,
                          env=e, timeout=timeout)


def ok(p):
    assert p.returncode == 0, f"exit {p.returncode}\nstdout: {p.stdout}\nstderr: {p.stderr}"
    return p


def add_order(redis, oid, *extra, scope="*", action="sinkhole"):
    ok(ctl(redis, "order", "add", oid, "--authority", "Tribunale di Milano", "--reference", f"RG {oid}/2026",
           "--scope", scope, "--action", action, "--reason", "Copyright infringement",
           "--url", "https://orders.example.org/1", "--lang", "en", *extra))


def push(redis, oid, names, *args, env=None):
    return ctl(redis, "push", oid, *args, input="".join(n + "\n" for n in names), env=env)


def domains(redis, oid):
    return redis.client().smembers(f"{rs.PREFIX}order:{oid}:domains")


def stream(redis):
    return [f for _, f in redis.client().xrange(rs.PREFIX + "changes")]


def set_acl_users(redis):
    c = redis.client()
    for name, rule in ACL_ROLES.items():
        c.execute_command("ACL", "SETUSER", name, *rule.format(pw=PW[name]).split())
    # a regulator that may not run Lua: its batches are refused while queueing
    c.execute_command("ACL", "SETUSER", "noeval",
                      *ACL_ROLES["regulator"].format(pw=PW["noeval"]).replace(" +eval", "").split())


def auth_env(tmp_path, user):
    f = tmp_path / f"{user}.auth"
    f.write_text(f"{user} {PW[user]}\n")
    f.chmod(0o600)
    return {"REDSINK_REDIS_AUTH_FILE": str(f)}


# ---------------------------------------------------------------------------
# push, withdraw, revoke, with a resolver watching
# ---------------------------------------------------------------------------

@pytest.fixture
def live(redis, make_unbound, tmp_path):
    add_order(redis, "o1")
    ub = rs.start_resolver(make_unbound, redis, tmp_path)
    return ub


def test_push_blocks_withdraw_unblocks(redis, live):
    ub = live
    assert rs.first_a(ub, "www.pirate.example") == REAL["www.pirate.example"]
    p = ok(push(redis, "o1", ["Pirate.Example.", "https://a1.example/live"], "--why", "decision 12/2026"))
    assert "order o1: 2 added, 0 already present" in p.stdout
    assert "URL reduced to its host 'a1.example'" in p.stderr
    rs.wait_for(lambda: rs.first_a(ub, "www.pirate.example"), rs.SINK4)
    assert rs.first_a(ub, "a1.example") == rs.SINK4
    assert domains(redis, "o1") == {"pirate.example", "a1.example"}
    adds = [e for e in stream(redis) if e["op"] == "add"]
    assert [(e["order"], e["domain"], e["by"], e["why"]) for e in adds] == [
        ("o1", "pirate.example", "tester", "decision 12/2026"), ("o1", "a1.example", "tester", "decision 12/2026")]

    p = ok(ctl(redis, "withdraw", "o1", "--why", "appeal granted", "--by", "judge", input="pirate.example\n"))
    assert "order o1: 1 withdrawn" in p.stdout
    rs.wait_for(lambda: rs.first_a(ub, "www.pirate.example"), REAL["www.pirate.example"])
    assert rs.first_a(ub, "a1.example") == rs.SINK4
    last = stream(redis)[-1]
    assert (last["op"], last["domain"], last["by"], last["why"]) == ("del", "pirate.example", "judge", "appeal granted")


def test_push_again_is_a_no_op_and_dry_run_writes_nothing(redis, live):
    ok(push(redis, "o1", ["a1.example"]))
    n = len(stream(redis))
    p = ok(push(redis, "o1", ["a1.example", "a2.example", "192.0.2.1"], "--dry-run", "--skip-invalid"))
    assert p.stdout.splitlines() == [
        "= a1.example  already listed", "+ a2.example",
        "! <stdin>:3: error: '192.0.2.1': an IP address: redsink blocks names, not addresses",
        "dry run, order o1: 1 to add, 1 already present, 0 refused, 1 rejected; nothing written"]
    assert len(stream(redis)) == n and domains(redis, "o1") == {"a1.example"}
    p = ok(push(redis, "o1", ["A1.EXAMPLE"]))
    assert "nothing to add (1 already listed)" in p.stdout and len(stream(redis)) == n


def test_revoke_withdraws_every_domain_at_once(redis, live):
    ub = live
    add_order(redis, "o2", action="nxdomain")
    ok(push(redis, "o2", ["a2.example", "a3.example"]))
    rs.wait_for(lambda: rs.first_a(ub, "a3.example"), "NXDOMAIN")
    n = len(stream(redis))
    p = ok(ctl(redis, "order", "revoke", "o2", "--why", "order annulled on appeal"))
    assert "order o2 revoked" in p.stdout and "its 2 domains are no longer blocked" in p.stdout
    # one entry for the whole order
    new = stream(redis)[n:]
    assert [(e["op"], e["order"], e["why"]) for e in new] == [("revoke", "o2", "order annulled on appeal")]
    rs.wait_for(lambda: rs.first_a(ub, "a2.example"), REAL["a2.example"])
    assert rs.first_a(ub, "a3.example") == REAL["a3.example"]
    c = redis.client()
    assert not c.sismember(rs.PREFIX + "orders", "o2")
    # kept for the record, but closed
    assert c.hget(rs.PREFIX + "order:o2", "reference") == "RG o2/2026"
    assert "revoked" in ok(ctl(redis, "order", "show", "o2")).stdout
    p = push(redis, "o2", ["a4.example"])
    assert p.returncode == 1 and "order 'o2' was revoked: nothing pushed" in p.stderr
    assert ctl(redis, "order", "revoke", "o2").returncode == 1


def test_order_update_reaches_the_resolver(redis, live):
    ub = live
    ok(push(redis, "o1", ["a1.example"]))
    rs.wait_for(lambda: rs.first_a(ub, "a1.example"), rs.SINK4)
    ok(ctl(redis, "order", "update", "o1", "--action", "nxdomain", "--why", "court changed the measure"))
    rs.wait_for(lambda: rs.first_a(ub, "a1.example"), "NXDOMAIN")
    assert redis.client().hget(rs.PREFIX + "order:o1", "action") == "nxdomain"
    p = ctl(redis, "order", "update", "o1", "--scope", "")
    assert p.returncode == 2 and "--scope: '' must not be empty" in p.stderr


def test_order_validation(redis):
    p = ctl(redis, "order", "add", "o:x", "--authority", "A", "--reference", "R", "--scope", "*")
    assert p.returncode == 2 and "no space, ':' or '|'" in p.stderr
    # one rule for every command (revoke and push used to accept what add refused)
    for argv in (["order", "add", "o|x", "--authority", "A", "--reference", "R", "--scope", "*"],
                 ["order", "revoke", "o:x"], ["push", "o:x", "--dry-run"], ["status", "o|x"]):
        p = ctl(redis, *argv, input="a1.example\n")
        assert p.returncode == 2 and "no space, ':' or '|'" in p.stderr, argv
    p = ctl(redis, "order", "add", "o9", "--authority", "A", "--reference", "R", "--scope", "* IT")
    assert p.returncode == 2 and "'*' already means every jurisdiction" in p.stderr
    p = ctl(redis, "order", "add", "o9", "--authority", "A", "--reference", "R", "--scope", "IT",
            "--expires", "2001-01-01")
    assert p.returncode == 1 and "has already passed" in p.stderr
    p = ctl(redis, "order", "add", "o9", "--authority", "A", "--scope", "IT")
    assert p.returncode == 2 and "--reference is required" in p.stderr
    p = ctl(redis, "order", "add", "o9", "--authority", "A\nB", "--reference", "R", "--scope", "IT")
    assert p.returncode == 2 and "control character" in p.stderr
    ok(ctl(redis, "order", "add", "o9", "--authority", "A", "--reference", "R", "--scope", "it, sm"))
    assert redis.client().hget(rs.PREFIX + "order:o9", "scope") == "IT SM"
    p = ctl(redis, "order", "add", "o9", "--authority", "A", "--reference", "R", "--scope", "IT")
    assert p.returncode == 1 and "already exists" in p.stderr
    assert ctl(redis, "push", "nope", input="a1.example\n").returncode == 1
    assert redis.client().xlen(rs.PREFIX + "changes") == 1


# ---------------------------------------------------------------------------
# all or nothing
# ---------------------------------------------------------------------------

def test_batch_with_a_bad_line_writes_nothing(redis):
    add_order(redis, "o1")
    n = len(stream(redis))
    p = push(redis, "o1", ["a1.example", "a2.example", "pi rate.example", "a3.example"])
    assert p.returncode == 1
    assert "<stdin>:3: error: 'pi rate.example': white space or a control character inside the name" in p.stderr
    assert "1 line rejected: nothing written" in p.stderr
    assert domains(redis, "o1") == set() and len(stream(redis)) == n
    p = ok(push(redis, "o1", ["a1.example", "pi rate.example"], "--skip-invalid"))
    assert domains(redis, "o1") == {"a1.example"}


def test_batch_refused_by_redis_while_queueing_writes_nothing(redis, tmp_path):
    """A regulator without EVAL: the SADDs and the first XADD are accepted while
    queueing, the script calls are not; Redis discards the whole transaction."""
    set_acl_users(redis)
    add_order(redis, "o1")
    names = [f"n{i}.a1.example" for i in range(2500)]
    n = len(stream(redis))
    p = push(redis, "o1", names, "--max-batch", "0", env=auth_env(tmp_path, "noeval"))
    assert p.returncode == 4, p.stderr
    assert "refused: NOPERM" in p.stderr and "'eval'" in p.stderr and "nothing was written" in p.stderr
    assert domains(redis, "o1") == set() and len(stream(redis)) == n
    ok(push(redis, "o1", names, "--max-batch", "0", env=auth_env(tmp_path, "regulator")))
    assert len(domains(redis, "o1")) == 2500 and len(stream(redis)) == n + 2500


def test_readers_never_see_half_a_batch(redis):
    """While a 30,000-name push runs, a reader polling the domain set and the
    stream (atomically) sees the batch either entirely or not at all."""
    add_order(redis, "o1")
    c = redis.client()
    seen, stop = set(), threading.Event()

    def poll():
        while not stop.is_set():
            p = c.pipeline(transaction=True)
            p.scard(rs.PREFIX + "order:o1:domains")
            p.xlen(rs.PREFIX + "changes")
            seen.add(tuple(p.execute()))

    t = threading.Thread(target=poll)
    t.start()
    try:
        ok(push(redis, "o1", [f"d{i}.example" for i in range(30000)], "--max-batch", "30000"))
    finally:
        time.sleep(0.05)
        stop.set()
        t.join()
    assert seen <= {(0, 1), (30000, 30001)}, seen
    assert (30000, 30001) in seen


# ---------------------------------------------------------------------------
# safety checks
# ---------------------------------------------------------------------------

def test_protected_names_are_refused_unless_overridden(redis, make_unbound, tmp_path):
    add_order(redis, "o1")
    p = ok(ctl(redis, "protect", "add", "good.pirate2.example", "--why", "a legitimate service"))
    assert "protected good.pirate2.example" in p.stdout
    ub = rs.start_resolver(make_unbound, redis, tmp_path)
    n = len(stream(redis))
    p = push(redis, "o1", ["a1.example", "pirate2.example", "x.good.pirate2.example"])
    assert p.returncode == 3, p.stderr
    assert "<stdin>:2: refused: 'pirate2.example' is a parent of the protected name 'good.pirate2.example'" in p.stderr
    assert "<stdin>:3: refused: 'x.good.pirate2.example' is below the protected name 'good.pirate2.example'" in p.stderr
    assert domains(redis, "o1") == set() and len(stream(redis)) == n
    p = push(redis, "o1", ["pirate2.example"], "--override-protected")
    assert p.returncode == 2 and "needs --reason" in p.stderr
    p = ok(push(redis, "o1", ["pirate2.example"], "--override-protected", "--reason", "court order names the parent",
                "--by", "alice"))
    e = stream(redis)[-1]
    assert (e["op"], e["domain"], e["override"], e["why"], e["by"]) == (
        "add", "pirate2.example", "protected", "court order names the parent", "alice")
    log = ok(ctl(redis, "log", "--domain", "pirate2.example")).stdout
    assert "override=protected" in log and 'why="court order names the parent"' in log
    # the module still never blocks the protected name itself
    rs.wait_for(lambda: rs.first_a(ub, "other.pirate2.example"), rs.SINK4)
    assert rs.first_a(ub, "good.pirate2.example") == REAL["good.pirate2.example"]


def test_public_suffixes_and_batch_size_are_refused(redis):
    add_order(redis, "o1")
    p = push(redis, "o1", ["com", "co.uk", "github.io", "a1.example"])
    assert p.returncode == 3
    for name in ("com", "co.uk", "github.io"):
        assert f"refused: '{name}' is a public suffix" in p.stderr
    assert domains(redis, "o1") == set()
    p = push(redis, "o1", [f"d{i}.example" for i in range(5)], env={"REDSINK_MAX_BATCH": "4"})
    assert p.returncode == 3 and "would block 5 new names at once, more than the limit of 4" in p.stderr
    ok(push(redis, "o1", [f"d{i}.example" for i in range(5)], "--max-batch", "5", env={"REDSINK_MAX_BATCH": "4"}))
    ok(push(redis, "o1", ["github.io"], "--allow-public-suffix", "--reason", "court order 7"))
    assert stream(redis)[-1]["override"] == "public-suffix"


def test_protect_list_remove(redis):
    ok(ctl(redis, "protect", "add", "drive.google.com", "Docs.Google.Com", "--why", "shared platform"))
    assert ok(ctl(redis, "protect", "list")).stdout.split() == ["docs.google.com", "drive.google.com"]
    p = ctl(redis, "protect", "remove", "docs.google.com")
    assert p.returncode == 2 and "needs --why" in p.stderr
    ok(ctl(redis, "protect", "remove", "docs.google.com", "--why", "no longer needed"))
    assert json.loads(ok(ctl(redis, "protect", "list", "--json")).stdout) == ["drive.google.com"]
    assert [e["op"] for e in stream(redis)] == ["protect", "protect", "unprotect"]
    p = ctl(redis, "protect", "add", "co.uk", "--why", "x")
    assert p.returncode == 3 and "public suffix" in p.stderr


# ---------------------------------------------------------------------------
# Redis: connection, authentication, ACL roles
# ---------------------------------------------------------------------------

def test_unreachable_and_bad_credentials(redis, tmp_path):
    dead = f"127.0.0.1:{redis.port}"
    redis.stop()
    p = ctl(dead, "order", "list")
    assert p.returncode == 4 and f"cannot connect to Redis {dead}" in p.stderr
    redis.start()
    set_acl_users(redis)
    redis.client().execute_command("ACL", "SETUSER", "default", "off")
    p = ctl(redis, "order", "list")
    assert p.returncode == 4 and "NOAUTH" in p.stderr and "REDSINK_REDIS_USER" in p.stderr
    p = ctl(redis, "order", "list", env={"REDSINK_REDIS_USER": "regulator", "REDSINK_REDIS_PASSWORD": "wrong"})
    assert p.returncode == 4 and "authentication as regulator failed: WRONGPASS" in p.stderr
    p = ctl(redis, "--redis", f"redis://regulator:{PW['regulator']}@{redis.url}", "order", "list")
    assert p.returncode == 2 and "visible to every user" in p.stderr
    ok(ctl(redis, "order", "list", env=auth_env(tmp_path, "regulator")))


def test_acl_roles(redis, make_unbound, tmp_path):
    """The roles of doc/acl.md: the regulator manages orders, the operator reads
    them and the fleet's status, the resolver (the module) reads the list and
    writes its heartbeat, the researcher reads hits; each is refused what is
    not its job."""
    set_acl_users(redis)
    reg, res, sci, ops = (auth_env(tmp_path, u) for u in ("regulator", "resolver", "researcher", "operator"))
    ok(ctl(redis, "order", "add", "o1", "--authority", "A", "--reference", "R", "--scope", "*", env=reg))
    ok(ctl(redis, "push", "o1", input="pirate.example\n", env=reg))
    ok(ctl(redis, "protect", "add", "good.pirate2.example", "--why", "x", env=reg))
    n = len(stream(redis))
    for env, who in ((res, "resolver"), (sci, "researcher"), (ops, "operator")):
        p = ctl(redis, "push", "o1", input="a1.example\n", env=env)
        assert p.returncode == 4, p.stderr
        assert f"(ACL user '{who}')" in p.stderr and "NOPERM" in p.stderr and "doc/acl.md" in p.stderr
        assert ctl(redis, "order", "revoke", "o1", env=env).returncode == 4
    assert len(stream(redis)) == n and domains(redis, "o1") == {"pirate.example"}
    # the module runs as `resolver`: it loads, follows the stream and writes its heartbeat
    pwfile = tmp_path / "resolver.pw"
    pwfile.write_text(PW["resolver"] + "\n")
    ub = rs.start_resolver(make_unbound, redis, tmp_path, {"read_redis_user": "resolver",
                                                           "read_redis_password_file": str(pwfile),
                                                           "stats_flush_interval": "1"})
    assert rs.first_a(ub, "www.pirate.example") == rs.SINK4
    ok(ctl(redis, "push", "o1", input="a1.example\n", env=reg))
    rs.wait_for(lambda: rs.first_a(ub, "a1.example"), rs.SINK4)
    rs.wait_for(lambda: "test-resolver" in ctl(redis, "status", env=ops).stdout, True, timeout=10)
    # ... and writes its hit counts (HINCRBY, EXPIRE in MULTI/EXEC) as that user:
    # wait for the flush and check it landed, not just that nothing was refused yet
    c = redis.client()

    def hits():
        return {f: int(n) for k in c.scan_iter(rs.PREFIX + "hits:*") for f, n in c.hgetall(k).items()}
    rs.wait_for(hits, {"o1|pirate.example|ZZ": 1, "o1|a1.example|ZZ": 1}, timeout=5, step=0.2)
    assert all(0 < c.ttl(k) for k in c.scan_iter(rs.PREFIX + "hits:*"))
    time.sleep(2.5)                           # two more flushes: nothing refused, nothing twice
    assert hits() == {"o1|pirate.example|ZZ": 1, "o1|a1.example|ZZ": 1}
    assert "NOPERM" not in ub.log() + ub.stderr()
    assert c.xlen(rs.PREFIX + "receipts:test-resolver") >= 1  # its receipts, written as `resolver`
    assert "could not be written" not in ub.log() and "writing hit counts" not in ub.log()
    c.delete(*c.keys(rs.PREFIX + "hits:*"))
    # the operator reads everything redsink-ctl shows
    for args in (["status", "o1"], ["log", "--order", "o1"], ["export", "--rpz"], ["order", "list", "--all"],
                 ["order", "show", "o1", "--domains"], ["protect", "list"]):
        ok(ctl(redis, *args, env=ops))
    # the researcher reads hit counters and orders, nothing else
    c = redis.client()
    c.hset(rs.PREFIX + "hits:2026-05-01T10", "o1|pirate.example|IT", 3)
    r = redis.client(username="researcher", password=PW["researcher"])
    assert r.hgetall(rs.PREFIX + "hits:2026-05-01T10") == {"o1|pirate.example|IT": "3"}
    with pytest.raises(Exception, match="no permissions"):
        r.hset(rs.PREFIX + "hits:2026-05-01T10", "x", 1)
    with pytest.raises(Exception, match="no permissions"):
        r.xrange(rs.PREFIX + "changes")
    # the resolver cannot touch the list
    w = redis.client(username="resolver", password=PW["resolver"])
    with pytest.raises(Exception, match="no permissions"):
        w.sadd(rs.PREFIX + "order:o1:domains", "evil.example")
    with pytest.raises(Exception, match="no permissions"):
        w.xadd(rs.PREFIX + "changes", {"op": "add"})


def test_acl_doc_matches():
    doc = (REPO_ROOT / "doc" / "acl.md").read_text()
    for name, rule in ACL_ROLES.items():
        assert f"ACL SETUSER {name} " + rule.format(pw="PASSWORD") in " ".join(doc.replace("\\\n", " ").split()), name


# ---------------------------------------------------------------------------
# status: the fleet and the compliance report
# ---------------------------------------------------------------------------

def test_status_shows_the_applied_change(redis, make_unbound, tmp_path):
    add_order(redis, "o1", scope="IT")
    add_order(redis, "o2")
    ub = rs.start_resolver(make_unbound, redis, tmp_path, {"jurisdiction": "FR"})
    ok(push(redis, "o1", ["a1.example"]))
    p = ok(push(redis, "o2", ["a2.example"]))
    last = p.stdout.split("..")[-1].strip(" )\n")
    rs.wait_for(lambda: rs.first_a(ub, "a2.example"), rs.SINK4)

    def hb_last():
        return redis.client().hget(rs.PREFIX + "resolver:test-resolver", "last_id")
    rs.wait_for(hb_last, last, timeout=10)
    st = json.loads(ok(ctl(redis, "status", "--json")).stdout)
    (r,) = st["resolvers"]
    assert (r["name"], r["last_id"], r["lag"], r["link"], r["jurisdiction"]) == ("test-resolver", last, 0, "up", "FR")
    assert st["stream"]["last_id"] == last
    text = ok(ctl(redis, "status")).stdout
    assert "test-resolver" in text and last in text and "RESOLVER" in text
    # the compliance report: o2 applies here, o1 (scope IT) does not
    rep = ok(ctl(redis, "status", "o2")).stdout
    assert "applied: enforced" in rep
    rep = json.loads(ok(ctl(redis, "status", "o1", "--json")).stdout)
    assert rep["resolvers"][0]["order_status"] == "applied: not in scope"
    # a change the resolver has not seen yet: stop it, push, look
    ub.stop()
    ok(push(redis, "o2", ["a3.example"]))
    st = json.loads(ok(ctl(redis, "status", "o2", "--json")).stdout)
    (r,) = st["resolvers"]
    assert r["lag"] == 1 and r["order_status"] == "NOT YET APPLIED"


# ---------------------------------------------------------------------------
# export
# ---------------------------------------------------------------------------

def test_rpz_export_blocks_the_same_names_in_unbound(redis, make_unbound, tmp_path):
    add_order(redis, "o-sink")
    add_order(redis, "o-nx", action="nxdomain")
    add_order(redis, "o-nd", action="nodata")
    add_order(redis, "o-it", scope="IT")       # not in this resolver's jurisdiction
    ok(push(redis, "o-sink", ["pirate.example", "pirate2.example"]))
    ok(push(redis, "o-nx", ["a1.example"]))
    ok(push(redis, "o-nd", ["a2.example"]))
    ok(push(redis, "o-it", ["a3.example"]))
    ok(ctl(redis, "protect", "add", "good.pirate2.example", "--why", "x"))
    zone = tmp_path / "redsink.rpz"
    p = ok(ctl(redis, "export", "--rpz", "-o", zone, "--origin", "rpz.test.", "--sinkhole-ipv4", rs.SINK4))
    text = zone.read_text()
    assert "$ORIGIN rpz.test." in text and "pirate.example A 192.0.2.1" in text and "a3.example" not in text
    module_ub = rs.start_resolver(make_unbound, redis, tmp_path, ready_query=("ns.example", "A"))
    rpz_ub = make_unbound(ready_query=("ns.example", "A"), extra_conf=(
        '    module-config: "respip validator iterator"\n'
        "\n"
        "rpz:\n"
        '    name: "rpz.test."\n'
        f'    zonefile: "{zone}"\n'))
    names = ["pirate.example", "www.pirate.example", "pirate2.example", "other.pirate2.example",
             "good.pirate2.example", "a1.example", "a2.example", "a3.example", "ok.example", "notpirate.example"]

    def answer(ub, name):
        r = ub.query(name, "A")
        return dns.rcode.to_text(r.rcode()), sorted(x[3] for x in rs.rrs(r) if x[1] == "A")
    got_module = {n: answer(module_ub, n) for n in names}
    got_rpz = {n: answer(rpz_ub, n) for n in names}
    assert got_module == got_rpz
    assert got_rpz["www.pirate.example"] == ("NOERROR", [rs.SINK4])
    assert got_rpz["a1.example"] == ("NXDOMAIN", [])
    assert got_rpz["a2.example"] == ("NOERROR", [])
    assert got_rpz["good.pirate2.example"] == ("NOERROR", [REAL["good.pirate2.example"]])
    assert got_rpz["a3.example"] == ("NOERROR", [REAL["a3.example"]])


def test_export_csv_and_json(redis):
    add_order(redis, "o1")
    ok(push(redis, "o1", ["a1.example", "bücher.example"]))
    ok(ctl(redis, "order", "update", "o1", "--reference", "=HYPERLINK(\"http://evil\")"))
    csv = ok(ctl(redis, "export", "--csv")).stdout.splitlines()
    assert csv[0] == "order,domain,authority,reference,issued,expires,scope,action,state,prefix"
    assert csv[1].startswith("o1,a1.example,Tribunale di Milano,\"'=HYPERLINK(\"\"http://evil\"\")\"")
    assert csv[2].startswith("o1,xn--bcher-kva.example,")
    j = json.loads(ok(ctl(redis, "export", "--json")).stdout)
    assert j["orders"][0]["domains"] == ["a1.example", "xn--bcher-kva.example"]
    assert j["orders"][0]["state"] == "in force"


# ---------------------------------------------------------------------------
# expiry, log
# ---------------------------------------------------------------------------

def test_expire_revokes_orders_past_their_date(redis, make_unbound, tmp_path):
    add_order(redis, "short", "--expires", "2099-01-01")
    add_order(redis, "long")
    ok(push(redis, "short", ["a1.example"]))
    ok(push(redis, "long", ["a2.example"]))
    ub = rs.start_resolver(make_unbound, redis, tmp_path)
    assert rs.first_a(ub, "a1.example") == rs.SINK4
    p = ok(ctl(redis, "expire", "--dry-run", "--now", "2099-06-01"))
    assert "would revoke order short (expires at 2099-01-01T00:00:00Z): 1 domains" in p.stdout
    assert redis.client().sismember(rs.PREFIX + "orders", "short")
    assert "no expired orders" in ok(ctl(redis, "expire")).stdout
    # a future --now only previews: it would end an order still in force for good
    p = ctl(redis, "expire", "--now", "2099-06-01", "--by", "cron")
    assert p.returncode == 2 and "in the future" in p.stderr
    assert redis.client().sismember(rs.PREFIX + "orders", "short")
    # the order really expires: expire revokes it, recording its real expiry
    past = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - 60))
    ok(ctl(redis, "order", "update", "short", "--issued", "2000-01-01", "--expires", past))
    p = ok(ctl(redis, "expire", "--by", "cron"))
    assert "revoked order short" in p.stdout
    e = stream(redis)[-1]
    assert (e["op"], e["order"], e["by"], e["why"]) == ("revoke", "short", "cron", f"expired at {past}")
    rs.wait_for(lambda: rs.first_a(ub, "a1.example"), REAL["a1.example"])
    assert rs.first_a(ub, "a2.example") == rs.SINK4


def test_log_filters(redis):
    add_order(redis, "o1")
    add_order(redis, "o2")
    ok(push(redis, "o1", ["a1.example", "www.a2.example"], "--why", "first", "--by", "alice"))
    ok(push(redis, "o2", ["a2.example"], "--why", "second", "--by", "bob"))
    lines = ok(ctl(redis, "log", "--order", "o1")).stdout.splitlines()
    assert len(lines) == 3 and all("order=o1" in ln for ln in lines)
    assert "op=add order=o1 domain=a1.example by=alice why=first" in lines[1]
    lines = ok(ctl(redis, "log", "--domain", "a2.example")).stdout.splitlines()
    assert [ln.split(" domain=")[1].split()[0] for ln in lines] == ["www.a2.example", "a2.example"]
    assert len(ok(ctl(redis, "log", "--author", "bob")).stdout.splitlines()) == 1
    assert len(ok(ctl(redis, "log", "--op", "order")).stdout.splitlines()) == 2
    assert ok(ctl(redis, "log", "--since", "2099-01-01")).stdout == ""
    assert len(ok(ctl(redis, "log", "--since", "-1h", "--until", "+1h")).stdout.splitlines()) == 5
    last = [json.loads(ln) for ln in ok(ctl(redis, "log", "--limit", "2", "--json")).stdout.splitlines()]
    assert [(e["op"], e["domain"], e["by"]) for e in last] == [("add", "www.a2.example", "alice"),
                                                              ("add", "a2.example", "bob")]


# ---------------------------------------------------------------------------
# input formats (the samples in zones/)
# ---------------------------------------------------------------------------

def test_sample_files_in_every_format(redis, make_unbound, tmp_path):
    add_order(redis, "o1")
    files = [ZONES / f for f in ("ctl-list.txt", "ctl-orders.csv", "ctl-ticket.json", "ctl-policy.rpz")]
    p = ok(ctl(redis, "push", "o1", *files, "--dry-run"))
    assert "dry run, order o1: 9 to add" in p.stdout
    p = ok(ctl(redis, "push", "o1", *files))
    assert domains(redis, "o1") == {"pirate.example", "a1.example", "a2.example", "a3.example", "a4.example",
                                    "a5.example", "www.pirate.example", "scoped.example", "expired.example"}
    assert "ctl-ticket.json:4: warning: '192.0.2.10': IP address ignored" in p.stderr
    assert "ctl-policy.rpz:9: warning: 'ok.example': passthru rule ignored" in p.stderr
    ub = rs.start_resolver(make_unbound, redis, tmp_path)
    for name in ("a3.example", "a4.example", "a5.example", "scoped.example", "expired.example"):
        assert rs.first_a(ub, name) == rs.SINK4, name
    assert rs.first_a(ub, "ok.example") == REAL["ok.example"]


def test_unicode_and_hostile_input_end_to_end(redis):
    add_order(redis, "o1")
    data = ("\ufeffBÜCHER.example\r\n"
            "ｅｘａｍｐｌｅ-a1.com\r\n"
            "pаypal.com\r\n"          # Cyrillic а
            + "x" * 10000 + ".example\r\n"
            "a\u202eb.example\r\n")
    p = ctl(redis, "push", "o1", "--dry-run", input=data)
    assert p.returncode == 1
    out = p.stdout.splitlines()
    assert out[0] == "+ b\u00fccher.example (xn--bcher-kva.example)" and out[1] == "+ example-a1.com"
    assert "! <stdin>:3: error: 'pаypal.com': label 'pаypal' mixes scripts (Latin + Cyrillic): confusable" in out
    assert any(ln.startswith("! <stdin>:4: error: 'xxxx") and "far too long" in ln for ln in out)
    assert any("<stdin>:5: error: 'a\\u{202e}b.example'" in ln for ln in out)
    assert "\u202e" not in p.stdout + p.stderr       # never echoed raw to a terminal
    assert "Unicode mapping turned the name into plain 'example-a1.com'" in p.stderr


# ---------------------------------------------------------------------------
# scale and the terminal
# ---------------------------------------------------------------------------

def test_push_of_a_million_domains(redis, tmp_path):
    add_order(redis, "big")
    f = tmp_path / "million.txt"
    with open(f, "w") as out:
        for i in range(1_000_000):
            out.write(f"site{i}.pirate-{i % 997}.example\n")
    t0 = time.monotonic()
    p = ok(ctl(redis, "push", "big", f, "--max-batch", "0", "--why", "bulk order", timeout=300))
    took = time.monotonic() - t0
    print(f"1,000,000 domains pushed in {took:.1f} s")
    assert took < 30
    assert "\r" not in p.stderr             # no progress bar when stderr is not a terminal
    c = redis.client()
    assert c.scard(rs.PREFIX + "order:big:domains") == 1_000_000
    assert c.xlen(rs.PREFIX + "changes") == 1_000_001


def test_progress_bar_on_a_terminal(redis, tmp_path):
    add_order(redis, "o1")
    f = tmp_path / "list.txt"
    f.write_text("".join(f"d{i}.example\n" for i in range(50000)))
    master, slave = pty.openpty()
    e = dict(os.environ, REDSINK_REDIS=redis.url, USER="tester")
    proc = subprocess.Popen([ctl_binary(), "push", "o1", str(f), "--max-batch", "0"], stdout=subprocess.PIPE,
                            stderr=slave, env=e)
    os.close(slave)
    tty = b""
    while True:
        try:
            chunk = os.read(master, 4096)
        except OSError:
            break
        if not chunk:
            break
        tty += chunk
    os.close(master)
    assert proc.wait(timeout=60) == 0
    proc.stdout.close()
    assert b"%" in tty and b"\r" in tty and b"50000/50000" in tty
