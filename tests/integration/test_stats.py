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


def assert_counted(fn, want, timeout=5, flush_interval=1):
    """Wait until fn() == want, then wait past two more flush intervals and
    check it is still exactly want: a count written twice (a batch retried
    after it was applied, a ring drained twice) shows up as a later flush."""
    rs.wait_for(fn, want, timeout=timeout, step=0.2)
    time.sleep(2 * flush_interval + 0.5)
    assert fn() == want


def metrics(port):
    """{sample name with labels: value} of the /metrics page."""
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=3).read().decode()
    m = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            k, v = line.rsplit(" ", 1)
            m[k] = float(v)
    return m


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
    want = {"o1|pirate.example|ZZ": 6, "o2|pirate2.example|ZZ": 2}
    assert_counted(lambda: hits(c), want)
    key = rs.PREFIX + "hits:" + hour_now()
    assert c.ttl(key) > 80 * 86400      # stats-retention: 90 days by default


def test_counts_survive_a_redis_outage(counted, redis):
    c, ub, _ = counted
    ask(ub, "pirate.example", "127.0.0.2")
    assert_counted(lambda: hits(c), {"o1|pirate.example|ZZ": 1})
    c.save()
    redis.stop()
    for _ in range(7):
        ask(ub, "pirate.example", "127.0.0.2")    # answered from the list while Redis is away
    time.sleep(2.5)                               # flushes fail meanwhile; counts are kept
    redis.start()
    c = redis.client()
    assert_counted(lambda: hits(c), {"o1|pirate.example|ZZ": 8}, timeout=40)


def test_counts_written_at_stop(redis, make_unbound, tmp_path):
    c = redis.client()
    rs.put_order(c, "o1", ["pirate.example"])
    ub = rs.start_resolver(make_unbound, redis, tmp_path, {"stats_flush_interval": "3600"})
    for _ in range(3):
        ask(ub, "pirate.example", "127.0.0.2")
    time.sleep(0.5)
    ub.reload()                                    # deinit flushes what is pending
    assert hits(c) == {"o1|pirate.example|ZZ": 3}


def test_metrics_endpoint(counted, redis):
    """Every documented metric, with the value it must have (doc/configuration.md)."""
    c, ub, port = counted
    last_id = lambda: c.xrevrange(rs.PREFIX + "changes", count=1)[0][0]   # noqa: E731
    m0 = metrics(port)
    # at start: the initial load (not a resync), nothing from the stream yet
    assert m0["redsink_list_entries"] == 2
    assert m0["redsink_list_orders"] == 2
    assert m0["redsink_list_protected"] == 0
    assert m0["redsink_list_memory_bytes"] > 0
    assert m0["redsink_resyncs_total"] == 0
    assert m0["redsink_changes_applied_total"] == 0
    assert m0["redsink_malformed_skipped_total"] == 0
    assert m0["redsink_redis_link_up"] == 1
    assert m0[f'redsink_last_applied_change_info{{id="{last_id()}"}}'] == 1
    assert m0["redsink_last_change_id_ms"] == int(last_id().split("-")[0])   # what the lag rules compare
    # nothing from the stream yet: the time of the initial load, and its age
    assert abs(m0["redsink_last_applied_change_timestamp_seconds"] - time.time()) < 30
    assert 0 <= m0["redsink_last_applied_change_age_seconds"] < 30
    # three changes from the stream, one of them malformed
    t0 = time.time()
    rs.add_domains(c, "o1", ["a1.example"])
    rs.protect(c, "good.pirate2.example")
    c.xadd(rs.PREFIX + "changes", {"op": "add", "order": "o1", "domain": "bad..name", "by": "test"})
    rs.wait_for(lambda: metrics(port).get(f'redsink_last_applied_change_info{{id="{last_id()}"}}'), 1.0,
                timeout=3, step=0.1)
    # blocked answers: 4 sinkholes and 1 NXDOMAIN
    for _ in range(4):
        ask(ub, "pirate.example", "127.0.0.2")
    ask(ub, "pirate2.example", "127.0.0.2")
    assert_counted(lambda: hits(c), {"o1|pirate.example|ZZ": 4, "o2|pirate2.example|ZZ": 1})
    m = metrics(port)
    assert m["redsink_list_entries"] == 3
    assert m["redsink_list_orders"] == 2
    assert m["redsink_list_protected"] == 1
    assert m["redsink_list_memory_bytes"] > m0["redsink_list_memory_bytes"]
    assert m["redsink_changes_applied_total"] == 2
    assert m["redsink_malformed_skipped_total"] == 1
    assert m["redsink_resyncs_total"] == 0            # test_live: a trimmed stream counts one
    assert t0 - 1 <= m["redsink_last_applied_change_timestamp_seconds"] <= time.time() + 1
    assert 0 <= m["redsink_last_applied_change_age_seconds"] <= time.time() - t0 + 1
    assert m["redsink_last_change_id_ms"] == int(last_id().split("-")[0])
    assert m['redsink_blocked_answers_total{action="sinkhole"}'] == 4
    assert m['redsink_blocked_answers_total{action="nxdomain"}'] == 1
    assert m['redsink_blocked_answers_total{action="nodata"}'] == 0
    assert m['redsink_blocked_answers_total{action="refused"}'] == 0
    assert m['redsink_blocked_answers_by_country_total{country="ZZ"}'] == 5
    assert m["redsink_redis_link_up"] == 1
    assert m["redsink_hits_flushed_total"] == 5       # all written ...
    assert m["redsink_hits_pending_flush"] == 0       # ... none left over
    assert m["redsink_hits_dropped_total"] == 0
    # while Redis is away the link is down, and the list and the counts stay
    c.save()
    redis.stop()
    rs.wait_for(lambda: metrics(port)["redsink_redis_link_up"], 0, timeout=8, step=0.2)
    m = metrics(port)
    assert m["redsink_list_entries"] == 3 and m["redsink_hits_flushed_total"] == 5
    redis.start()
    rs.wait_for(lambda: metrics(port)["redsink_redis_link_up"], 1, timeout=35, step=0.2)


def test_no_client_address_is_stored_or_logged(counted):
    c, ub, port = counted
    for src in ("127.0.0.2", "127.0.0.3"):
        ask(ub, "pirate.example", src)
    assert_counted(lambda: hits(c), {"o1|pirate.example|ZZ": 2})
    time.sleep(3)    # a heartbeat too
    for key in c.keys("*"):
        t = c.type(key)
        dump = str(key) + str({"hash": c.hgetall, "set": c.smembers, "string": c.get,
                               "stream": lambda k: c.xrange(k)}.get(t, lambda k: "")(key))
        assert "127.0.0.2" not in dump and "127.0.0.3" not in dump, key
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=3).read().decode()
    assert "127.0.0.2" not in text
    assert "127.0.0.2" not in ub.log()


def test_malformed_counter_counts_the_load_and_the_stream(redis, make_unbound, tmp_path):
    """redsink_malformed_skipped_total: what the load skipped plus what the stream skipped."""
    c = redis.client()
    rs.put_order(c, "o1", ["pirate.example", "bad..name"])
    port = harness.free_port()
    ub = rs.start_resolver(make_unbound, redis, tmp_path, {"metrics_listen": f"127.0.0.1:{port}"})
    assert metrics(port)["redsink_malformed_skipped_total"] == 1
    c.xadd(rs.PREFIX + "changes", {"op": "add", "order": "o1", "domain": "x..y", "by": "test"})
    rs.add_domains(c, "o1", ["a1.example"])
    rs.wait_for(lambda: rs.first_a(ub, "a1.example"), rs.SINK4, timeout=2)
    m = metrics(port)
    assert m["redsink_changes_applied_total"] == 1
    assert m["redsink_malformed_skipped_total"] == 2
