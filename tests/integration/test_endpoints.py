"""The module's Redis endpoints as doc/configuration.md documents them.

A separate `write-redis` (the list is read from one redis-server, heartbeats
and hit counts go to another), a non-default `key-prefix`, a `unix:` socket,
and `read-redis-db` / `write-redis-db`. Each test checks both sides: what must
happen (blocked, changes followed, heartbeat and hits written where they
belong) and what must not (nothing read from or written to the other place).
"""

import time

import pytest

import harness
import rs
from test_stats import assert_counted


class UnixRedis(harness.Redis):
    """A harness.Redis that also listens on a unix socket in its directory."""

    @property
    def sock(self):
        return self.dir / "redis.sock"

    def _write_conf(self):
        super()._write_conf()
        with open(self.conf, "a") as f:
            f.write(f'unixsocket "{self.sock}"\nunixsocketperm 700\n')


@pytest.fixture
def unix_redis(tmp_path, server_logs):
    server = UnixRedis(tmp_path / "uredis")
    server_logs.append(server)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def second_redis(tmp_path, server_logs):
    server = harness.Redis(tmp_path / "redis-2")
    server_logs.append(server)
    try:
        yield server
    finally:
        server.stop()


def put_order(c, prefix, oid, domains):
    """rs.put_order for any key prefix (one MULTI/EXEC with its stream entries)."""
    p = c.pipeline(transaction=True)
    p.hset(f"{prefix}order:{oid}", mapping={
        "authority": "Tribunale di Milano", "reference": f"REF-{oid}", "scope": "*",
        "action": "sinkhole", "expires": "", "reason": "Copyright infringement",
        "url": "https://orders.example.org/1", "lang": "en", "issued": "2026-01-10T00:00:00Z"})
    p.sadd(f"{prefix}orders", oid)
    p.xadd(f"{prefix}changes", {"op": "order", "order": oid, "domain": "", "by": "test"})
    for d in domains:
        p.sadd(f"{prefix}order:{oid}:domains", d)
        p.xadd(f"{prefix}changes", {"op": "add", "order": oid, "domain": d, "by": "test"})
    p.execute()


def add_domain(c, prefix, oid, domain):
    p = c.pipeline(transaction=True)
    p.sadd(f"{prefix}order:{oid}:domains", domain)
    p.xadd(f"{prefix}changes", {"op": "add", "order": oid, "domain": domain, "by": "test"})
    p.execute()


def hits(c, prefix=rs.PREFIX):
    out = {}
    for key in c.scan_iter(prefix + "hits:*"):
        for f, n in c.hgetall(key).items():
            out[f] = out.get(f, 0) + int(n)
    return out


def heartbeat(c, prefix=rs.PREFIX):
    return c.hgetall(f"{prefix}resolver:test-resolver")


def check_live(ub, c, prefix, oid, name, real):
    """The listed name is blocked; a name added through the stream follows."""
    assert rs.first_a(ub, name) == real
    add_domain(c, prefix, oid, name)
    rs.wait_for(lambda: rs.first_a(ub, name), rs.SINK4, timeout=2)


def test_separate_write_redis(redis, second_redis, make_unbound, tmp_path):
    """Reads from read-redis only; heartbeat and hits only to write-redis (its db 2)."""
    rd, wr = redis.client(), second_redis.client(db=2)
    put_order(rd, rs.PREFIX, "o1", ["pirate.example"])
    # a decoy on the write side: the list must never be read from there
    put_order(second_redis.client(), rs.PREFIX, "decoy", ["a2.example"])
    put_order(wr, rs.PREFIX, "decoy", ["a2.example"])
    ub = rs.start_resolver(make_unbound, redis, tmp_path, {"write_redis": second_redis.url,
                                                           "write_redis_db": "2",
                                                           "stats_flush_interval": "1"})
    assert rs.first_a(ub, "www.pirate.example") == rs.SINK4
    assert rs.first_a(ub, "a2.example") == "198.51.100.62"
    check_live(ub, rd, rs.PREFIX, "o1", "a1.example", "198.51.100.61")
    rs.wait_for(lambda: heartbeat(wr).get("last_id"), rd.xrevrange(rs.PREFIX + "changes", count=1)[0][0],
                timeout=7, step=0.2)
    assert_counted(lambda: hits(wr), {"o1|pirate.example|ZZ": 1, "o1|a1.example|ZZ": 1})
    # nothing written to the read side, nor to the write side's db 0
    assert heartbeat(rd) == {} and hits(rd) == {}
    assert heartbeat(second_redis.client()) == {} and hits(second_redis.client()) == {}
    assert sorted(k for k in rd.keys("*")) == sorted([
        rs.PREFIX + "orders", rs.PREFIX + "order:o1", rs.PREFIX + "order:o1:domains", rs.PREFIX + "changes"])


def test_key_prefix(redis, make_unbound, tmp_path):
    """key-prefix: blocklist: -- every key read and written under it, none under redsink:."""
    c = redis.client()
    pre = "blocklist:"
    put_order(c, pre, "o1", ["pirate.example"])
    put_order(c, rs.PREFIX, "decoy", ["a2.example"])     # the default prefix: not ours
    ub = rs.start_resolver(make_unbound, redis, tmp_path, {"key_prefix": pre, "stats_flush_interval": "1"})
    assert rs.first_a(ub, "www.pirate.example") == rs.SINK4
    assert rs.first_a(ub, "a2.example") == "198.51.100.62"
    check_live(ub, c, pre, "o1", "a1.example", "198.51.100.61")
    add_domain(c, rs.PREFIX, "decoy", "a3.example")          # the other stream is not followed
    rs.wait_for(lambda: heartbeat(c, pre).get("last_id"), c.xrevrange(pre + "changes", count=1)[0][0],
                timeout=7, step=0.2)
    assert_counted(lambda: hits(c, pre), {"o1|pirate.example|ZZ": 1, "o1|a1.example|ZZ": 1})
    assert rs.first_a(ub, "a3.example") == "198.51.100.63"
    assert heartbeat(c) == {} and hits(c) == {}
    assert not [k for k in c.keys(rs.PREFIX + "*") if "decoy" not in k and not k.endswith(("orders", "changes"))]


def test_unix_socket(unix_redis, make_unbound, tmp_path):
    """read-redis: unix:/path -- loads, follows the stream, writes heartbeat and hits."""
    c = unix_redis.client()
    rs.put_order(c, "o1", ["pirate.example"])
    conf = rs.write_conf(tmp_path / "redsink.conf", unix_redis, read_redis=f"unix:{unix_redis.sock}",
                         stats_flush_interval="1")
    ub = make_unbound(module_so=rs.module_so(), env={"REDSINK_CONF": str(conf)})
    assert rs.first_a(ub, "www.pirate.example") == rs.SINK4
    check_live(ub, c, rs.PREFIX, "o1", "a1.example", "198.51.100.61")
    rs.wait_for(lambda: heartbeat(c).get("link"), "up", timeout=7, step=0.2)
    assert_counted(lambda: hits(c), {"o1|pirate.example|ZZ": 1, "o1|a1.example|ZZ": 1})
    # the configuration names no TCP port at all; the module's connections are the unix ones
    unix_clients = [cl for cl in c.client_list() if cl["addr"].startswith(str(unix_redis.sock))
                    or cl.get("laddr", "").startswith(str(unix_redis.sock))]
    assert len(unix_clients) >= 1, c.client_list()


def test_read_redis_db(redis, make_unbound, tmp_path):
    """read-redis-db: 3 -- the list comes from db 3 and, with no write-redis, the
    heartbeat and hits go to db 3 as well; db 0 is neither read nor written."""
    c0, c3 = redis.client(), redis.client(db=3)
    put_order(c3, rs.PREFIX, "o1", ["pirate.example"])
    put_order(c0, rs.PREFIX, "decoy", ["a2.example"])
    ub = rs.start_resolver(make_unbound, redis, tmp_path, {"read_redis_db": "3", "stats_flush_interval": "1"})
    assert rs.first_a(ub, "www.pirate.example") == rs.SINK4
    assert rs.first_a(ub, "a2.example") == "198.51.100.62"
    check_live(ub, c3, rs.PREFIX, "o1", "a1.example", "198.51.100.61")
    add_domain(c0, rs.PREFIX, "decoy", "a3.example")
    rs.wait_for(lambda: heartbeat(c3).get("last_id"), c3.xrevrange(rs.PREFIX + "changes", count=1)[0][0],
                timeout=7, step=0.2)
    assert_counted(lambda: hits(c3), {"o1|pirate.example|ZZ": 1, "o1|a1.example|ZZ": 1})
    assert rs.first_a(ub, "a3.example") == "198.51.100.63"
    assert heartbeat(c0) == {} and hits(c0) == {}
