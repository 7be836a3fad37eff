"""Lag is visible (issue 12, doc/fleet.md "Lag"): every heartbeat says which
node the resolver reads, its role, its link to the primary and how long ago it
last heard from it; `redsink-ctl status` lists the primary's replicas, shows
what each resolver reads, and flags a replica that lost its primary or went
quiet ("replica stale") and a resolver whose oldest change not applied is
older than --max-lag.

Real servers on loopback: a primary (the `redis` fixture), replicas made with
REPLICAOF (harness.Redis), Unbound with the module reading a replica and
writing heartbeats to the primary."""

import json
import os
import signal
import time

import harness
import rs
from test_ctl import ACL_ROLES, add_order, ctl, ok, push

HB = rs.PREFIX + "resolver:test-resolver"


def replica_of(tmp_path, name, primary):
    """A new Redis replicating primary, once its link is up."""
    r = harness.Redis(tmp_path / name)
    r.client().replicaof("127.0.0.1", primary.port)
    rs.wait_for(lambda: r.client().info("replication").get("master_link_status"), "up", timeout=15)
    return r


def heartbeat(primary):
    return primary.client().hgetall(HB)


def wait_heartbeat(primary, pred, timeout=20):
    """The heartbeat once pred(heartbeat) holds (heartbeats come every 5 s,
    the probe of the read node every 5 s)."""
    deadline = time.monotonic() + timeout
    hb = {}
    while time.monotonic() < deadline:
        hb = heartbeat(primary)
        if hb and pred(hb):
            return hb
        time.sleep(0.2)
    raise AssertionError(f"heartbeat never matched: {hb}")


def status_json(primary, *args):
    p = ctl(primary, "status", "--json", *args)
    assert p.returncode in (0, 1), p.stderr
    return json.loads(p.stdout)


def resolver(st):
    (r,) = [r for r in st["resolvers"] if r["name"] == "test-resolver"]
    return r


def start(make_unbound, primary, replica, tmp_path):
    return rs.start_resolver(make_unbound, primary, tmp_path,
                             {"read_redis": replica.url, "write_redis": primary.url})


def test_heartbeat_and_status_show_the_replica(redis, make_unbound, tmp_path):
    replica = replica_of(tmp_path, "replica", redis)
    try:
        add_order(redis, "o1")
        ok(push(redis, "o1", ["a1.example"]))
        ub = start(make_unbound, redis, replica, tmp_path)
        rs.wait_for(lambda: rs.first_a(ub, "a1.example"), rs.SINK4, timeout=10)
        hb = wait_heartbeat(redis, lambda h: h.get("read_role") == "slave")
        newest = redis.client().xrevrange(rs.PREFIX + "changes", count=1)[0][0]
        assert hb["read"] == replica.url
        assert hb["read_link"] == "up"
        assert 0 <= int(hb["read_io_age_s"]) <= 11          # the primary pings every 10 s at most
        assert hb["read_newest"] == newest and hb["last_id"] == newest
        assert hb["lag_ms"] == "0"                          # it applied all its replica holds

        st = status_json(redis, "--check")
        r = resolver(st)
        assert (r["read"], r["read_role"], r["read_link"]) == (replica.url, "slave", "up")
        assert isinstance(r["read_io_age_s"], int) and isinstance(r["lag_ms"], int)
        assert (r["replica_stale"], r["lagging"], r["behind_s"], r["lag"]) == (False, False, 0, 0)
        assert r["healthy"] is True and st["healthy"] is True
        repl = st["replication"]
        assert repl["role"] == "master" and isinstance(repl["offset"], int)
        (s,) = repl["replicas"]
        assert (s["host"], s["port"], s["state"], s["healthy"]) == ("127.0.0.1", replica.port, "online", True)
        assert isinstance(s["offset"], int) and isinstance(s["lag_s"], int) and s["problem"] is None

        text = ok(ctl(redis, "status")).stdout
        assert f"redis {redis.url}: primary, 1 replica" in text
        assert f"replica 127.0.0.1:{replica.port}: online" in text
        assert f"{replica.url} replica, io " in text and "READS" in text

        # read straight from the primary: role master, no link
        ub.stop()
        redis.client().delete(HB)
        start(make_unbound, redis, redis, tmp_path)
        hb = wait_heartbeat(redis, lambda h: h.get("read_role") == "master")
        assert (hb["read"], hb["read_link"], hb["read_io_age_s"]) == (redis.url, "", "")
        r = resolver(status_json(redis))
        assert r["read_io_age_s"] is None and r["replica_stale"] is False
    finally:
        replica.stop()


def test_replica_link_down_is_flagged(redis, make_unbound, tmp_path):
    replica = replica_of(tmp_path, "replica", redis)
    try:
        add_order(redis, "o1")
        ub = start(make_unbound, redis, replica, tmp_path)
        wait_heartbeat(redis, lambda h: h.get("read_link") == "up")
        ok(ctl(redis, "status", "--check"))
        # cut the replica from its primary: it keeps its data and keeps serving reads
        replica.client().replicaof("127.0.0.1", harness.free_port())
        replica.client().client_kill_filter(_type="master")
        hb = wait_heartbeat(redis, lambda h: h.get("read_link") == "down")
        assert hb["read_role"] == "slave"
        p = ctl(redis, "status", "--check")
        assert p.returncode == 1, p.stdout + p.stderr
        assert f"resolver test-resolver: replica stale: {replica.url}" in p.stderr
        assert "link DOWN (STALE)" in p.stdout
        r = resolver(status_json(redis))
        assert r["replica_stale"] is True and r["healthy"] is False and r["read_link"] == "down"
        assert r["problem"].startswith("replica stale:")
        # a push made meanwhile does not reach it: the resolver lags behind the primary too
        ok(push(redis, "o1", ["late.example"]))
        time.sleep(2.2)
        r = resolver(status_json(redis, "--max-lag", "1"))
        assert r["lag"] == 1 and r["behind_s"] >= 2 and r["lagging"] is True
        # linked again: it catches up and the fleet is healthy
        replica.client().replicaof("127.0.0.1", redis.port)
        rs.wait_for(lambda: rs.first_a(ub, "late.example"), rs.SINK4, timeout=15)
        wait_heartbeat(redis, lambda h: h.get("read_link") == "up")
        rs.wait_for(lambda: ctl(redis, "status", "--check").returncode, 0, timeout=10)
    finally:
        replica.stop()


def test_quiet_replica_and_lagging_resolver_are_flagged(redis, make_unbound, tmp_path):
    """primary -> a -> b; the resolver reads b. a frozen (SIGSTOP): b's link to
    a stays up but hears nothing; a push on the primary does not reach b.
    First the resolver lags (--max-lag), then b is stale (--stale), and the
    primary flags a, which stopped acknowledging."""
    a = replica_of(tmp_path, "a", redis)
    b = replica_of(tmp_path, "b", a)
    frozen = False
    try:
        add_order(redis, "o1")
        ub = start(make_unbound, redis, b, tmp_path)
        wait_heartbeat(redis, lambda h: h.get("read_link") == "up" and h.get("read") == b.url)
        ok(ctl(redis, "status", "--check"))
        os.kill(a.pid, signal.SIGSTOP)
        frozen = True
        t0 = time.monotonic()
        p = push(redis, "o1", ["late.example"], "--timeout", "1000")
        # written on the primary; a is frozen, so no replica acknowledges it (exit 4, said so)
        assert p.returncode == 4 and "written on the primary, but no replica acknowledged" in p.stderr, p.stderr
        time.sleep(2.2)
        p = ctl(redis, "status", "--check", "--max-lag", "2")
        assert p.returncode == 1, p.stdout + p.stderr
        assert "resolver test-resolver: lagging: 1 changes not applied, the oldest" in p.stderr
        assert "(--max-lag 2)" in p.stderr
        r = resolver(status_json(redis, "--max-lag", "2"))
        assert r["lagging"] is True and r["behind_s"] >= 3 and r["replica_stale"] is False
        assert r["lag_ms"] == 0  # b itself does not have the change: the resolver is level with b
        assert rs.first_a(ub, "late.example") != rs.SINK4
        if time.monotonic() - t0 < 10:  # b's quiet is still under --stale 12: the default max-lag is 12 too
            assert ctl(redis, "status", "--check").returncode == 0
        # b's last I/O from a grows past --stale (12 s): replica stale, its link still up
        hb = wait_heartbeat(redis, lambda h: h.get("read_io_age_s", "").isdigit() and int(h["read_io_age_s"]) > 13,
                            timeout=30)
        assert hb["read_link"] == "up"
        p = ctl(redis, "status", "--check", "--max-lag", "600")
        assert p.returncode == 1, p.stdout + p.stderr
        assert f"replica stale: {b.url} last heard from its primary" in p.stderr
        assert f"replica 127.0.0.1:{a.port}: stale: last acknowledged" in p.stderr
        st = status_json(redis, "--max-lag", "600")
        (sa,) = st["replication"]["replicas"]
        assert sa["healthy"] is False and sa["lag_s"] > 12 and sa["problem"].startswith("stale")
        assert resolver(st)["replica_stale"] is True
        os.kill(a.pid, signal.SIGCONT)
        frozen = False
        rs.wait_for(lambda: rs.first_a(ub, "late.example"), rs.SINK4, timeout=15)
    finally:
        if frozen:
            os.kill(a.pid, signal.SIGCONT)
        b.stop()
        a.stop()


def test_info_refused_leaves_the_replica_unknown(redis, make_unbound, tmp_path):
    """A resolver whose ACL user lacks +info: INFO's error reply rides in the
    probe's pipeline without shifting any reply (the list keeps following the
    stream over several probes); read_role/read_link/read_io_age_s are "",
    the lag is still measured, the refusal is logged once; status does not
    call that replica stale."""
    rule = ACL_ROLES["resolver"].replace(" +info", "").format(pw="noinfo-pw")
    assert "+info" not in rule
    redis.client().execute_command("ACL", "SETUSER", "noinfo", *rule.split())
    pw = tmp_path / "noinfo.pw"
    pw.write_text("noinfo-pw\n")
    add_order(redis, "o1")
    ub = rs.start_resolver(make_unbound, redis, tmp_path, {
        "read_redis_user": "noinfo", "read_redis_password_file": str(pw)})
    hb = wait_heartbeat(redis, lambda h: h.get("read") == redis.url and h.get("lag_ms") == "0")
    assert (hb["read_role"], hb["read_link"], hb["read_io_age_s"]) == ("", "", "")
    for i in range(3):  # across probes (every 5 s): changes still apply
        ok(push(redis, "o1", [f"n{i}.example"]))
        rs.wait_for(lambda: rs.first_a(ub, f"n{i}.example"), rs.SINK4, timeout=5)
        time.sleep(2.6)
    hb = heartbeat(redis)
    assert hb["last_id"] == redis.client().xrevrange(rs.PREFIX + "changes", count=1)[0][0]
    assert (ub.log() + ub.stderr()).count("grant +info") == 1, ub.log()
    r = resolver(status_json(redis, "--check"))
    assert r["healthy"] is True and r["replica_stale"] is False and r["read_role"] == ""
