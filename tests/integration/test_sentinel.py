"""Sentinel everywhere an endpoint is accepted (issue 12, doc/fleet.md).

On loopback: one primary, one replica (replicaof) and three real Sentinels
(tests/integration/fleet.py). The module's read-redis/write-redis, redsink-ctl,
redsink-stats and redsink-warnd are given `sentinel:H:P,H:P,H:P/redsink`; the
primary is killed (its PID, SIGKILL) and everything must follow the failover
with no configuration change. A stand-in Sentinel (fleet.FakeSentinel) covers
what a real one heals by itself: a primary demoted under a live connection
(READONLY), which must make the module discover again.
"""

import os
import subprocess
import time

import pytest

import harness
import rs
from fleet import FakeSentinel, Fleet, Node
from test_ctl import add_order, ctl, ok, push
from test_stats_tool import stats_binary
from test_warnd import get, make_warnd  # noqa: F401 (fixture)


@pytest.fixture
def fleet(tmp_path, server_logs):
    f = Fleet(tmp_path / "fleet")
    server_logs.extend(f.servers())
    try:
        yield f
    finally:
        f.stop()


class Spec:
    """What rs.write_conf needs of a server: its endpoint text."""

    def __init__(self, url):
        self.url = url


def resolver(make_unbound, tmp_path, read, write=None, **over):
    conf = rs.write_conf(tmp_path / "redsink.conf", Spec(read), write_redis=write, **over)
    return make_unbound(module_so=rs.module_so(), env={"REDSINK_CONF": str(conf)})


def heartbeat(node):
    return node.client().hgetall(f"{rs.PREFIX}resolver:test-resolver")


def wait_until(fn, timeout, what, step=0.1):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = fn()
        if last:
            return last
        time.sleep(step)
    raise AssertionError(f"{what}: not within {timeout} s (last {last!r})")


# ---------------------------------------------------------------------------

def test_ctl_push_through_sentinel(fleet):
    spec = fleet.spec()
    add_order(spec, "S1")
    ok(push(spec, "S1", ["pirate.example"]))
    # written on the primary, replicated to the replica
    assert fleet.primary.client().smembers(f"{rs.PREFIX}order:S1:domains") == {"pirate.example"}
    replica = fleet.nodes[1]
    wait_until(lambda: replica.client().sismember(f"{rs.PREFIX}order:S1:domains", "pirate.example"), 10,
               "replicated")
    # reads may go to a replica; writes through role=replica are refused by
    # Redis (READONLY) and reported: never silently lost
    p = ok(ctl(fleet.spec("replica"), "order", "list"))
    assert "S1" in p.stdout
    p = push(fleet.spec("replica"), "S1", ["other.example"])
    assert p.returncode == 4, p.stderr
    assert "READONLY" in p.stderr
    assert not fleet.primary.client().sismember(f"{rs.PREFIX}order:S1:domains", "other.example")


def test_unreachable_or_unknown_through_sentinel_exits_4(fleet):
    dead = harness.free_port()
    p = ctl(f"sentinel:127.0.0.1:{dead}/redsink", "status")
    assert p.returncode == 4, p.stderr
    assert f"sentinel 127.0.0.1:{dead}" in p.stderr and "no primary of 'redsink'" in p.stderr
    # a dead sentinel first: the next one is asked
    p = ok(ctl(f"sentinel:127.0.0.1:{dead},127.0.0.1:{fleet.sentinels[0].port}/redsink", "status"))
    p = ctl(fleet.spec().replace("/redsink", "/nosuch"), "status")
    assert p.returncode == 4 and "does not monitor a master named 'nosuch'" in p.stderr, p.stderr
    p = ctl("sentinel:127.0.0.1:1,/redsink", "status")
    assert p.returncode == 2 and "sentinel 2 is empty" in p.stderr, p.stderr


def test_resolver_follows_a_failover(fleet, make_unbound, tmp_path):
    spec = fleet.spec()
    add_order(spec, "F1")
    ok(push(spec, "F1", ["before.example"]))
    # read-redis: a replica (the default role there); write-redis: the primary
    ub = resolver(make_unbound, tmp_path, spec, spec)
    rs.wait_for(lambda: rs.first_a(ub, "before.example"), rs.SINK4, timeout=10)
    replica = fleet.nodes[1]
    wait_until(lambda: heartbeat(fleet.primary), 15, "heartbeat on the first primary")

    old = fleet.primary
    fleet.kill_primary()
    t0 = time.monotonic()
    # during the failover (down-after 1 s): reported, exit 4, nothing written
    during = push(spec, "F1", ["during.example"])
    assert during.returncode == 4, during.stderr
    assert "no primary of 'redsink' found through 3 sentinels" in during.stderr, during.stderr
    new = fleet.wait_failover(old.port)
    assert new is replica
    failover_s = time.monotonic() - t0
    assert not new.client().sismember(f"{rs.PREFIX}order:F1:domains", "during.example")

    # the same endpoint, no configuration change: the write reaches the new primary
    ok(push(spec, "F1", ["after.example"]))
    assert new.client().sismember(f"{rs.PREFIX}order:F1:domains", "after.example")
    took = rs.wait_for(lambda: rs.first_a(ub, "after.example"), rs.SINK4, timeout=10)
    assert rs.first_a(ub, "before.example") == rs.SINK4
    # heartbeats go on, now on the new primary
    new.client().delete(f"{rs.PREFIX}resolver:test-resolver")
    hb = wait_until(lambda: heartbeat(new), 40, "heartbeat on the new primary")
    assert hb.get("link") == "up"
    print(f"failover {failover_s:.1f} s; enforced {took:.2f} s after the push")


def test_read_and_write_through_sentinel_primary_only(fleet, make_unbound, tmp_path):
    """read-redis with role=primary: the read connection itself is lost with
    the primary and must be discovered again."""
    spec = fleet.spec()
    add_order(spec, "P1")
    ub = resolver(make_unbound, tmp_path, fleet.spec("primary"))
    old = fleet.primary
    fleet.kill_primary()
    fleet.wait_failover(old.port)
    ok(push(spec, "P1", ["late.example"]))
    rs.wait_for(lambda: rs.first_a(ub, "late.example"), rs.SINK4, timeout=40)


def test_replica_down_reads_fall_back_to_the_primary(fleet, make_unbound, tmp_path):
    """read-redis on a replica (the default): when the replica dies, the
    sentinels flag it down and the reconnect reads the primary instead."""
    spec = fleet.spec()
    add_order(spec, "D1")
    ok(push(spec, "D1", ["first.example"]))
    ub = resolver(make_unbound, tmp_path, spec)
    rs.wait_for(lambda: rs.first_a(ub, "first.example"), rs.SINK4, timeout=10)
    replica = fleet.nodes[1]
    # the change stream is read from the replica, not the primary
    wait_until(lambda: any(c.get("cmd") == "xread" for c in replica.client().client_list()), 10,
               "XREAD on the replica")
    assert not any(c.get("cmd") == "xread" for c in fleet.primary.client().client_list())
    replica.kill()
    ok(push(spec, "D1", ["second.example"]))
    took = rs.wait_for(lambda: rs.first_a(ub, "second.example"), rs.SINK4, timeout=30)
    assert any(c.get("cmd") == "xread" for c in fleet.primary.client().client_list())
    print(f"replica lost: enforced through the primary {took:.1f} s after the push")


def test_one_replica_per_resolver(tmp_path, server_logs, make_unbound):
    """Two replicas: the change stream and the fetches of orders of one
    resolver read the same replica (two replicas at different offsets could
    make a fetch miss an order the stream already named)."""
    f = Fleet(tmp_path / "fleet", replicas=2)
    server_logs.extend(f.servers())
    try:
        spec = f.spec()
        ub = resolver(make_unbound, tmp_path, spec)
        for i in range(3):  # new orders: each is fetched by the module
            add_order(spec, f"O{i}")
            ok(push(spec, f"O{i}", [f"name{i}.example"]))
            rs.wait_for(lambda: rs.first_a(ub, f"name{i}.example"), rs.SINK4, timeout=10)

        def clients(node):
            """The module's connections: not the link to the primary (flag
            M), not a sentinel's, not this CLIENT LIST."""
            return [c.get("cmd") for c in node.client().client_list()
                    if "M" not in c.get("flags", "") and not c.get("name", "").startswith("sentinel")
                    and c.get("cmd") != "client|list"]
        seen = {n.port: clients(n) for n in f.nodes[1:]}
        used = [n for n in f.nodes[1:] if "xread" in seen[n.port]]
        assert len(used) == 1, seen
        # the stream and the blocking fetch/probe connection (its last command: PING)
        assert len(seen[used[0].port]) >= 2, seen
        other = [n for n in f.nodes[1:] if n is not used[0]][0]
        assert seen[other.port] == [], seen
    finally:
        f.stop()


def test_stats_and_warnd_accept_sentinel(fleet, make_warnd):
    spec = fleet.spec()
    add_order(spec, "W1")
    ok(push(spec, "W1", ["pirate.example"]))
    env = {k: v for k, v in os.environ.items() if not k.startswith("REDSINK_")}
    for url in (spec, fleet.spec("replica")):
        p = subprocess.run([stats_binary(), "--redis", url, "top", "--by", "domain"], env=env,
                           capture_output=True, text=True, timeout=60)
        assert p.returncode == 0, p.stderr
    bad = subprocess.run([stats_binary(), "--redis", f"sentinel:127.0.0.1:{harness.free_port()}/redsink", "top"],
                         env=env, capture_output=True, text=True, timeout=60)
    assert bad.returncode == 4, bad.stderr
    assert "no primary of 'redsink'" in bad.stderr
    # warnd reads its list through Sentinel (a replica) and writes page views
    # to the primary
    w = make_warnd(fleet.spec("replica"), args=["--write-redis", spec])
    st, _, body = get(w.port, host="pirate.example")
    assert st == 451 and "RG W1/2026" in body, body[:500]


def test_auth_for_sentinel_and_redis(tmp_path, server_logs, make_unbound):
    f = Fleet(tmp_path / "fleet", node_password="node-pw", sentinel_password="sentinel-pw")
    server_logs.extend(f.servers())
    try:
        spec = f.spec()
        env = {"REDSINK_REDIS_PASSWORD": "node-pw", "REDSINK_SENTINEL_PASSWORD": "sentinel-pw"}
        ok(ctl(spec, "order", "add", "A1", "--authority", "Tribunale", "--reference", "RG 1/2026",
               "--reason", "Copyright", "--url", "https://orders.example.org/1", "--scope", "*",
               "--action", "sinkhole", "--lang", "en", env=env))
        ok(push(spec, "A1", ["pirate.example"], env=env))
        # a wrong sentinel password: exit 4, naming the sentinel
        p = ctl(spec, "status", env=dict(env, REDSINK_SENTINEL_PASSWORD="wrong"))
        assert p.returncode == 4 and "sentinel 127.0.0.1" in p.stderr and "authentication" in p.stderr, p.stderr
        # no sentinel password at all
        p = ctl(spec, "status", env={"REDSINK_REDIS_PASSWORD": "node-pw"})
        assert p.returncode == 4 and "NOAUTH" in p.stderr, p.stderr
        # the sentinel password from a mode-600 file
        af = tmp_path / "sentinel.auth"
        af.write_text("sentinel-pw\n")
        af.chmod(0o600)
        ok(ctl(spec, "status", env={"REDSINK_REDIS_PASSWORD": "node-pw",
                                    "REDSINK_SENTINEL_AUTH_FILE": str(af)}))
        # the module: both passwords from files
        npw = tmp_path / "node.pw"
        npw.write_text("node-pw\n")
        spw = tmp_path / "sentinel.pw"
        spw.write_text("sentinel-pw\n")
        ub = resolver(make_unbound, tmp_path, spec, None, read_redis_password_file=str(npw),
                      read_redis_sentinel_password_file=str(spw))
        rs.wait_for(lambda: rs.first_a(ub, "pirate.example"), rs.SINK4, timeout=10)
        wait_until(lambda: heartbeat(f.primary), 15, "heartbeat (write-redis inherits the sentinels' password)")
    finally:
        f.stop()


def test_demoted_primary_readonly_rediscovers(tmp_path, server_logs, make_unbound):
    """A primary demoted under a live connection (no CLIENT KILL, as after a
    partition heals): the first write answered READONLY drops the write
    connection, and the reconnect asks the sentinel again."""
    a = Node(tmp_path / "a")
    b = Node(tmp_path / "b")
    server_logs.extend([a, b])
    fake = FakeSentinel(("127.0.0.1", a.port))
    try:
        rs.put_order(a.client(), "R1", ["pirate.example"])
        ub = resolver(make_unbound, tmp_path, a.url, f"sentinel:127.0.0.1:{fake.port}/redsink")
        wait_until(lambda: heartbeat(a), 15, "heartbeat on a")
        asked = fake.asked
        # b becomes the primary, a its replica; the sentinel now names b
        fake.primary = ("127.0.0.1", b.port)
        a.client().execute_command("REPLICAOF", "127.0.0.1", str(b.port))
        wait_until(lambda: a.client().info("replication").get("master_link_status") == "up", 15, "a follows b")
        b.client().delete(f"{rs.PREFIX}resolver:test-resolver")
        wait_until(lambda: heartbeat(b), 30, "heartbeat on b after READONLY on a")
        assert fake.asked > asked
        assert rs.unbound_log_has(ub, "no longer the primary")
    finally:
        fake.stop()
        a.stop()
        b.stop()
