"""Hit statistics in the module (issue: statistics by region).

Blocked queries from several client addresses (the test client binds to
different 127.x addresses) are counted into hits:<hour> in Redis by order,
listed domain and region; counts survive a Redis outage; the Prometheus
endpoint reports them; no client address ends up anywhere.
"""

import time
import urllib.request

import dns.message
import dns.query
import pytest

import harness
import rs


def ask(ub, name, source, qtype="A"):
    q = dns.message.make_query(name, qtype)
    return dns.query.udp(q, "127.0.0.1", port=ub.port, source=source, timeout=3)


def hour_now():
    return time.strftime("%Y-%m-%dT%H", time.gmtime())


def hits(c):
    out = {}
    for key in c.keys(rs.PREFIX + "hits:*"):
        for field, n in c.hgetall(key).items():
            out[field] = out.get(field, 0) + int(n)
    return out


@pytest.fixture
def counted(redis, make_unbound, tmp_path):
    c = redis.client()
    rs.put_order(c, "o1", ["pirate.example"])
    rs.put_order(c, "o2", ["pirate2.example"], action="nxdomain")
    metrics_port = harness.free_port()
    ub = rs.start_resolver(make_unbound, redis, tmp_path, {"stats_flush_interval": "1",
                                                           "metrics_listen": f"127.0.0.1:{metrics_port}"})
    return c, ub, metrics_port


def test_blocked_answers_are_counted_by_order_and_domain(counted):
    c, ub, _ = counted
    for _ in range(3):
        ask(ub, "www.pirate.example", "127.0.0.2")
        ask(ub, "pirate.example", "127.0.0.3", "AAAA")
    for _ in range(2):
        ask(ub, "x.pirate2.example", "127.0.0.2")
    for _ in range(5):
        ask(ub, "ok.example", "127.0.0.2")    # unblocked: not counted
    rs.wait_for(lambda: hits(c), {"o1|pirate.example|ZZ": 6, "o2|pirate2.example|ZZ": 2}, timeout=5, step=0.2)
    key = rs.PREFIX + "hits:" + hour_now()
    assert c.ttl(key) > 80 * 86400      # stats-retention: 90 days by default


def test_counts_survive_a_redis_outage(counted, redis):
    c, ub, _ = counted
    ask(ub, "pirate.example", "127.0.0.2")
    rs.wait_for(lambda: hits(c), {"o1|pirate.example|ZZ": 1}, timeout=5, step=0.2)
    c.save()
    redis.stop()
    for _ in range(7):
        ask(ub, "pirate.example", "127.0.0.2")    # answered from the list while Redis is away
    time.sleep(2.5)                               # flushes fail meanwhile; counts are kept
    redis.start()
    c = redis.client()
    rs.wait_for(lambda: hits(c), {"o1|pirate.example|ZZ": 8}, timeout=40, step=0.3)


def test_counts_written_at_stop(redis, make_unbound, tmp_path):
    c = redis.client()
    rs.put_order(c, "o1", ["pirate.example"])
    ub = rs.start_resolver(make_unbound, redis, tmp_path, {"stats_flush_interval": "3600"})
    for _ in range(3):
        ask(ub, "pirate.example", "127.0.0.2")
    time.sleep(0.5)
    ub.reload()                                    # deinit flushes what is pending
    assert hits(c) == {"o1|pirate.example|ZZ": 3}


def test_metrics_endpoint(counted):
    c, ub, port = counted
    for _ in range(4):
        ask(ub, "pirate.example", "127.0.0.2")
    ask(ub, "pirate2.example", "127.0.0.2")
    rs.wait_for(lambda: hits(c).get("o1|pirate.example|ZZ"), 4, timeout=5, step=0.2)
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=3).read().decode()
    m = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            k, v = line.rsplit(" ", 1)
            m[k] = float(v)
    assert m["redsink_list_entries"] == 2
    assert m['redsink_blocked_answers_total{action="sinkhole"}'] == 4
    assert m['redsink_blocked_answers_total{action="nxdomain"}'] == 1
    assert m['redsink_blocked_answers_by_country_total{country="ZZ"}'] == 5
    assert m["redsink_redis_link_up"] == 1
    assert m["redsink_hits_dropped_total"] == 0
    assert m["redsink_hits_pending_flush"] >= 0
    assert "redsink_malformed_skipped_total" in m and "redsink_last_applied_change_age_seconds" in m
    assert any(k.startswith("redsink_last_applied_change_info{id=") for k in m)


def test_no_client_address_is_stored_or_logged(counted):
    c, ub, port = counted
    for src in ("127.0.0.2", "127.0.0.3"):
        ask(ub, "pirate.example", src)
    rs.wait_for(lambda: sum(hits(c).values()), 2, timeout=5, step=0.2)
    time.sleep(5.5)  # a heartbeat too
    for key in c.keys("*"):
        t = c.type(key)
        dump = str(key) + str({"hash": c.hgetall, "set": c.smembers, "string": c.get,
                               "stream": lambda k: c.xrange(k)}.get(t, lambda k: "")(key))
        assert "127.0.0.2" not in dump and "127.0.0.3" not in dump, key
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=3).read().decode()
    assert "127.0.0.2" not in text
    assert "127.0.0.2" not in ub.log()
