"""Answer-address triggers (issue 13): orders that list IPv4/IPv6 prefixes.

A real NSD serves zones/addresses.zone (pirate mirrors on a dedicated
address, unrelated sites on one shared address, CNAME chains, IPv6, a
protected CDN range); prefixes are written into Redis as redsink-ctl does
(the set change and its `changes` entry in one MULTI/EXEC). Checked: a new
name is blocked on its first resolution, a cached one within a second of the
push, withdrawal unblocks, protected prefixes never block, CNAME chains are
followed, repeated queries never go upstream (across a reload too), hits and discovered names are
counted without any client address, and the collateral alarm fires for a
shared address (report, and suspend until confirmed) but not for a dedicated
one. Also (review fixes): the other cached types of a name caught by its
address go too, AAAA records embedding an IPv4 address (mapped, NAT64) match
IPv4 prefixes, a purge spares protected and unlisted addresses inside a
changed prefix, and a suspended prefix does not disable an enclosing one.
"""

import time

import dns.exception
import dns.message
import dns.query
import dns.rcode
import dns.rdatatype
import pytest

import harness
import rs
from test_stats import metrics

ZONE = harness.REPO_ROOT / "zones" / "addresses.zone"
PIRATE4, PIRATE6 = "203.0.113.66", "2001:db8:66::66"
SHARED = "198.51.100.200"


# ---- the schema side (what redsink-ctl addip/delip/protectip write) ----------

def add_ips(c, oid, prefixes, by="test"):
    p = c.pipeline(transaction=True)
    for x in prefixes:
        p.sadd(rs.PREFIX + f"order:{oid}:ips", x)
        p.xadd(rs.PREFIX + "changes", {"op": "addip", "order": oid, "prefix": x, "by": by})
    p.execute()


def del_ips(c, oid, prefixes, by="test"):
    p = c.pipeline(transaction=True)
    for x in prefixes:
        p.srem(rs.PREFIX + f"order:{oid}:ips", x)
        p.xadd(rs.PREFIX + "changes", {"op": "delip", "order": oid, "prefix": x, "by": by})
    p.execute()


def protect_ips(c, prefixes, by="test"):
    p = c.pipeline(transaction=True)
    for x in prefixes:
        p.sadd(rs.PREFIX + "protected-ips", x)
        p.xadd(rs.PREFIX + "changes", {"op": "protectip", "order": "", "prefix": x, "by": by})
    p.execute()


def unprotect_ip(p, x, by="test"):
    """Queue an unprotectip on pipeline p (a batch with other changes)."""
    p.srem(rs.PREFIX + "protected-ips", x)
    p.xadd(rs.PREFIX + "changes", {"op": "unprotectip", "order": "", "prefix": x, "by": by})


def add_ip(p, oid, x, by="test"):
    p.sadd(rs.PREFIX + f"order:{oid}:ips", x)
    p.xadd(rs.PREFIX + "changes", {"op": "addip", "order": oid, "prefix": x, "by": by})


# ---- servers ---------------------------------------------------------------

@pytest.fixture(scope="module")
def addr_nsd(tmp_path_factory):
    """NSD serving zones/addresses.zone as example. for the whole module."""
    server = harness.Nsd(tmp_path_factory.mktemp("nsd-addr"), zones={"example.": ZONE})
    try:
        yield server
    finally:
        server.stop()


def start(make_unbound, redis, tmp_path, upstream, **conf):
    conf.setdefault("stats_flush_interval", "1")
    return rs.start_resolver(make_unbound, redis, tmp_path, conf, upstream_port=upstream.port)


@pytest.fixture
def listed(redis, make_unbound, tmp_path, addr_nsd):
    """o1 lists the pirate server's addresses before the resolver starts."""
    c = redis.client()
    rs.put_order(c, "o1", [])
    add_ips(c, "o1", [PIRATE4 + "/32", "2001:db8:66::/48"])
    return c, start(make_unbound, redis, tmp_path, addr_nsd)


def answer(ub, name, qtype="A", **kw):
    """The addresses (or texts) of the answer, or the rcode text when there are none."""
    r = ub.query(name, qtype, **kw)
    out = sorted(rd.to_text() for rrset in r.answer if rrset.rdtype == dns.rdatatype.from_text(qtype)
                 for rd in rrset)
    return out or [dns.rcode.to_text(r.rcode())]


def hour_now():
    return time.strftime("%Y-%m-%dT%H", time.gmtime())


def hash_sum(c, pattern):
    out = {}
    for key in c.keys(rs.PREFIX + pattern):
        for field, n in c.hgetall(key).items():
            out[field] = out.get(field, 0) + int(n)
    return out


# ---- blocking ----------------------------------------------------------------

def test_new_name_on_a_listed_address_is_blocked_on_first_resolution(listed):
    c, ub = listed
    r = ub.query("mirror1.example", "A")
    assert rs.rrs(r) == [("mirror1.example.", "A", 60, rs.SINK4)]
    rs.assert_blocked_flags(r)
    assert rs.ede_json(r)["j"].startswith("Order RG 1234/2026")
    r = ub.query("mirror1.example", "AAAA")
    assert rs.rrs(r) == [("mirror1.example.", "AAAA", 60, rs.SINK6)]
    assert rs.ede(r)[0] == 16
    assert answer(ub, "v6only.example", "AAAA") == [rs.SINK6]        # only its AAAA is listed
    assert answer(ub, "mixed.example") == [rs.SINK4]                 # one listed address is enough
    # a name known to be on the pirate address gets the order's text, as a listed name does
    r = ub.query("mirror1.example", "TXT")
    assert rs.rrs(r)[0][:2] == ("mirror1.example.", "TXT")
    assert "RG 1234/2026" in rs.rrs(r)[0][3]
    assert rs.ede(r)[0] == 16
    # unrelated names are untouched
    assert answer(ub, "bystander.example") == ["198.51.100.11"]
    assert answer(ub, "ok.example", "AAAA") == ["2001:db8:1::10"]


def test_nxdomain_order_answers_with_the_query_name_as_soa_owner(redis, make_unbound, tmp_path, addr_nsd):
    c = redis.client()
    rs.put_order(c, "o2", [], action="nxdomain")
    add_ips(c, "o2", [PIRATE4 + "/32"])
    ub = start(make_unbound, redis, tmp_path, addr_nsd)
    r = ub.query("mirror2.example", "A")
    assert r.rcode() == dns.rcode.NXDOMAIN
    assert [x[:2] for x in rs.rrs(r, "authority")] == [("mirror2.example.", "SOA")]
    assert rs.ede(r)[0] == 16


def test_cname_chain_into_a_listed_address(listed):
    c, ub = listed
    for _ in range(2):                     # the second time from the memo
        r = ub.query("alias.example", "A")
        assert rs.rrs(r) == [("alias.example.", "A", 60, rs.SINK4)]
        assert answer(ub, "hop1.example") == [rs.SINK4]
    assert answer(ub, "mirror2.example") == [rs.SINK4]


def test_pushed_prefix_blocks_a_cached_name_within_a_second(redis, make_unbound, tmp_path, addr_nsd):
    c = redis.client()
    rs.put_order(c, "o1", [])
    ub = start(make_unbound, redis, tmp_path, addr_nsd)
    assert answer(ub, "early.example") == ["203.0.113.77"]            # now cached
    assert answer(ub, "early.example", "AAAA") == ["2001:db8:77::77"]
    assert answer(ub, "early-alias.example") == ["203.0.113.77"]
    assert "early.example." in ub.control("dump_cache")
    add_ips(c, "o1", ["203.0.113.77/32", "2001:db8:77::/64"])
    took = rs.wait_for(lambda: answer(ub, "early.example"), [rs.SINK4], timeout=1.0)
    print(f"enforced after {took * 1000:.0f} ms")
    assert answer(ub, "early.example", "AAAA") == [rs.SINK6]
    assert answer(ub, "early-alias.example") == [rs.SINK4]


def test_other_types_of_a_name_caught_by_its_address_leave_the_cache(listed):
    """A dual-stack client asks AAAA and A: the AAAA (an unlisted IPv6
    address) passes and is cached, the A is blocked. The cached AAAA answer
    must go with it, else it stays a message-cache hit (never seen by the
    module) with the real address."""
    c, ub = listed
    assert answer(ub, "dual.example", "AAAA") == ["2001:db8:99::99"]
    assert answer(ub, "dual.example") == [rs.SINK4]
    for _ in range(2):
        r = ub.query("dual.example", "AAAA")
        assert rs.rrs(r) == [("dual.example.", "AAAA", 60, rs.SINK6)]
        assert rs.ede(r)[0] == 16


def test_pushed_prefix_purges_the_names_other_cached_types(redis, make_unbound, tmp_path, addr_nsd):
    c = redis.client()
    rs.put_order(c, "o1", [])
    ub = start(make_unbound, redis, tmp_path, addr_nsd)
    assert answer(ub, "late.example") == ["203.0.113.79"]
    assert answer(ub, "late.example", "AAAA") == ["2001:db8:79::79"]          # both cached
    add_ips(c, "o1", ["203.0.113.79/32"])                                      # only the IPv4 address
    rs.wait_for(lambda: answer(ub, "late.example"), [rs.SINK4], timeout=1.0)
    assert answer(ub, "late.example", "AAAA") == [rs.SINK6]


def test_aaaa_embedding_a_listed_ipv4_address_is_blocked(listed):
    """IPv4-mapped (::ffff:0:0/96) and NAT64 well-known (64:ff9b::/96)
    addresses are matched against the IPv4 prefixes too."""
    c, ub = listed
    for _ in range(2):                     # the second time from the memo
        r = ub.query("mapped.example", "AAAA")
        assert rs.rrs(r) == [("mapped.example.", "AAAA", 60, rs.SINK6)]
        assert rs.ede(r)[0] == 16
    assert answer(ub, "nat64.example", "AAAA") == [rs.SINK6]
    assert answer(ub, "mapped.example") == [rs.SINK4]                # blocked for every type


def test_pushed_ipv4_prefix_purges_cached_mapped_aaaa(redis, make_unbound, tmp_path, addr_nsd):
    c = redis.client()
    rs.put_order(c, "o1", [])
    ub = start(make_unbound, redis, tmp_path, addr_nsd)
    assert answer(ub, "early-mapped.example", "AAAA") == ["::ffff:203.0.113.78"]
    add_ips(c, "o1", ["203.0.113.78/32"])
    rs.wait_for(lambda: answer(ub, "early-mapped.example", "AAAA"), [rs.SINK6], timeout=1.0)


def test_withdrawal_unblocks(listed):
    c, ub = listed
    assert answer(ub, "mirror3.example") == [rs.SINK4]
    del_ips(c, "o1", [PIRATE4 + "/32"])
    rs.wait_for(lambda: answer(ub, "mirror3.example"), [PIRATE4], timeout=2.0)
    assert answer(ub, "mirror1.example", "AAAA") == [rs.SINK6]       # the IPv6 prefix stays


def test_protected_prefix_never_blocks(redis, make_unbound, tmp_path, addr_nsd):
    c = redis.client()
    rs.put_order(c, "o1", [])
    protect_ips(c, ["198.51.100.128/25"])
    add_ips(c, "o1", ["198.51.100.150/32", PIRATE4 + "/32"])
    ub = start(make_unbound, redis, tmp_path, addr_nsd)
    assert answer(ub, "cdn1.example") == ["198.51.100.150"]
    assert answer(ub, "cdn1.example") == ["198.51.100.150"]
    # a protected address does not trigger, the other address of the answer still does
    assert answer(ub, "cdn2.example") == [rs.SINK4]
    # protected after the fact: the pirate address stops triggering too
    protect_ips(c, [PIRATE4 + "/32"])
    rs.wait_for(lambda: answer(ub, "mirror1.example"), [PIRATE4], timeout=2.0)


def test_push_keeps_cached_answers_of_protected_and_unlisted_addresses(redis, make_unbound, tmp_path):
    """The purge after a change removes only what the list blocks now: a
    protected /28 inside a pushed /24 keeps its cached answers, and so does
    everything an unprotectip uncovers that nothing lists. Proof: the
    upstream is stopped after caching; the names still resolve."""
    nsd = harness.Nsd(tmp_path / "nsd-own", zones={"example.": ZONE})
    try:
        c = redis.client()
        rs.put_order(c, "o1", [])
        protect_ips(c, ["198.51.100.144/28", "198.51.0.0/16"])
        ub = start(make_unbound, redis, tmp_path, nsd)
        assert answer(ub, "cdn1.example") == ["198.51.100.150"]       # protected /28
        assert answer(ub, "neighbour.example") == ["198.51.7.7"]       # under the /16 only
        assert answer(ub, "bystander.example") == ["198.51.100.11"]    # will be listed
    finally:
        nsd.stop()
    p = c.pipeline(transaction=True)           # one batch
    unprotect_ip(p, "198.51.0.0/16")
    add_ip(p, "o1", "198.51.100.0/24")
    p.execute()
    rs.wait_for(lambda: "bystander.example." in ub.control("dump_cache"), False, timeout=2.0)
    cache = ub.control("dump_cache")
    assert "cdn1.example." in cache and "neighbour.example." in cache
    for _ in range(2):
        assert answer(ub, "cdn1.example") == ["198.51.100.150"]
        assert answer(ub, "neighbour.example") == ["198.51.7.7"]


def test_repeated_queries_do_not_go_upstream(redis, make_unbound, tmp_path):
    """A name blocked by its address loses its cached messages, but the
    module remembers it (lib/addr_memo.h), so a repeated query is blocked at
    its first visit. Proof: the upstream is stopped after the first resolution."""
    nsd = harness.Nsd(tmp_path / "nsd-own", zones={"example.": ZONE})
    try:
        c = redis.client()
        rs.put_order(c, "o1", [])
        add_ips(c, "o1", [PIRATE4 + "/32", "2001:db8:66::/48"])
        ub = start(make_unbound, redis, tmp_path, nsd)
        assert answer(ub, "mirror1.example") == [rs.SINK4]
        assert answer(ub, "mirror1.example", "AAAA") == [rs.SINK6]
        assert answer(ub, "alias.example") == [rs.SINK4]
        assert answer(ub, "bystander.example") == ["198.51.100.11"]
    finally:
        nsd.stop()
    for _ in range(3):
        r = ub.query("mirror1.example", "A")
        assert rs.rrs(r) == [("mirror1.example.", "A", 60, rs.SINK4)]
        assert rs.ede(r)[0] == 16
        assert answer(ub, "mirror1.example", "AAAA") == [rs.SINK6]
        assert answer(ub, "alias.example") == [rs.SINK4]
    assert answer(ub, "bystander.example") == ["198.51.100.11"]      # a cache hit as before
    with pytest.raises(Exception):                                   # the upstream is really gone
        nsd.query("mirror3.example", "A", timeout=0.5)


def test_names_caught_by_their_address_stay_blocked_over_a_reload(redis, make_unbound, tmp_path):
    """The module remembers the names an answer address blocked (the chain
    too) and hands that memo over a reload, which empties Unbound's caches:
    repeated queries of any type are still blocked without an upstream query
    (stopped). The memo blocks nothing by itself: every hit is matched again
    against the list, so a withdrawal counts at once."""
    nsd = harness.Nsd(tmp_path / "nsd-own", zones={"example.": ZONE})
    try:
        c = redis.client()
        rs.put_order(c, "o1", [])
        add_ips(c, "o1", [PIRATE4 + "/32", "2001:db8:66::/48"])
        ub = start(make_unbound, redis, tmp_path, nsd)
        assert answer(ub, "mirror1.example") == [rs.SINK4]
        assert answer(ub, "alias.example") == [rs.SINK4]            # alias -> mirror2 -> the pirate address
    finally:
        nsd.stop()
    ub.reload()
    assert "mirror1.example." not in ub.control("dump_cache")
    for _ in range(2):
        assert answer(ub, "mirror1.example") == [rs.SINK4]
        assert answer(ub, "mirror1.example", "AAAA") == [rs.SINK6]
        r = ub.query("mirror1.example", "TXT")                       # any type: the order's text
        assert rs.ede(r)[0] == 16 and '"real"' not in answer(ub, "mirror1.example", "TXT")
        assert answer(ub, "alias.example") == [rs.SINK4]
        assert answer(ub, "mirror2.example") == [rs.SINK4]
    del_ips(c, "o1", [PIRATE4 + "/32", "2001:db8:66::/48"])

    def asks_upstream(name):                 # the stopped upstream: a timeout or SERVFAIL, not the sinkhole
        try:
            return answer(ub, name, timeout=0.5) != [rs.SINK4]
        except dns.exception.Timeout:
            return True
    rs.wait_for(lambda: asks_upstream("mirror1.example"), True, timeout=2.0)
    assert asks_upstream("alias.example")


def test_many_blocked_names_queried_in_turn_do_not_go_upstream(redis, make_unbound, tmp_path):
    """Issue 13 review: the first memo was a direct-mapped table of 4,096
    slots, where mirror7.example and mirror101.example shared a slot: blocked
    in turn, each pushed the other out and every repeat went upstream (of
    1,000 names, 120 so). The memo is now set-associative (8 entries a bucket,
    the bucket chosen with a random seed) and sized from msg-cache-size: 200
    names blocked by one address, the pair among them, then queried again in
    turn with the upstream stopped, are all blocked from the memo."""
    names = ["mirror7", "mirror101"] + [f"pile{i}" for i in range(198)]
    zone = tmp_path / "many.zone"
    zone.write_text(ZONE.read_text() + "".join(f"{n} IN A {PIRATE4}\n" for n in names))
    nsd = harness.Nsd(tmp_path / "nsd-own", zones={"example.": zone})
    try:
        c = redis.client()
        rs.put_order(c, "o1", [])
        add_ips(c, "o1", [PIRATE4 + "/32"])
        ub = start(make_unbound, redis, tmp_path, nsd)
        for n in names:
            assert answer(ub, n + ".example") == [rs.SINK4]
    finally:
        nsd.stop()
    for _ in range(2):
        went = []
        for n in names:
            try:
                if answer(ub, n + ".example", timeout=1.0) != [rs.SINK4]:
                    went.append(n)
            except dns.exception.Timeout:
                went.append(n)
        assert went == [], f"repeated queries went upstream: {went}"


# ---- counting ------------------------------------------------------------------

def ask(ub, name, source, qtype="A"):
    q = dns.message.make_query(name, qtype)
    return dns.query.udp(q, "127.0.0.1", port=ub.port, source=source, timeout=3)


def test_hits_and_discovered_names_are_counted_without_client_addresses(listed):
    c, ub = listed
    for _ in range(2):
        ask(ub, "mirror1.example", "127.0.0.2")
    ask(ub, "Mirror2.EXAMPLE", "127.0.0.3")
    ask(ub, "alias.example", "127.0.0.4")
    ask(ub, "v6only.example", "127.0.0.2", "AAAA")
    ask(ub, "bystander.example", "127.0.0.2")                        # not blocked: not counted
    want_hits = {"o1|203.0.113.66/32|ZZ": 4, "o1|2001:db8:66::/48|ZZ": 1}
    want_disc = {"mirror1.example|o1|203.0.113.66/32": 2, "mirror2.example|o1|203.0.113.66/32": 1,
                 "alias.example|o1|203.0.113.66/32": 1, "v6only.example|o1|2001:db8:66::/48": 1}
    rs.wait_for(lambda: hash_sum(c, "hits:*"), want_hits, timeout=5, step=0.2)
    rs.wait_for(lambda: hash_sum(c, "discovered:*"), want_disc, timeout=5, step=0.2)
    time.sleep(2.5)                                                  # nothing counted twice
    assert hash_sum(c, "hits:*") == want_hits and hash_sum(c, "discovered:*") == want_disc
    key = rs.PREFIX + "discovered:" + hour_now()
    assert c.type(key) == "hash" and c.ttl(key) > 80 * 86400        # stats-retention: 90 days
    for k in c.keys("*"):
        if c.type(k) == "hash":
            blob = k + " ".join(f"{f} {v}" for f, v in c.hgetall(k).items())
        else:
            blob = k
        for client in ("127.0.0.2", "127.0.0.3", "127.0.0.4"):
            assert client not in blob, f"a client address in {k}"


def test_discovered_key_of_the_wrong_type_refuses_its_counts(redis, make_unbound, tmp_path, addr_nsd):
    c = redis.client()
    rs.put_order(c, "o1", [])
    add_ips(c, "o1", [PIRATE4 + "/32"])
    c.set(rs.PREFIX + "discovered:" + hour_now(), "not a hash")
    port = harness.free_port()
    ub = start(make_unbound, redis, tmp_path, addr_nsd, metrics_listen=f"127.0.0.1:{port}")
    assert answer(ub, "mirror1.example") == [rs.SINK4]
    rs.wait_for(lambda: hash_sum(c, "hits:*"), {"o1|203.0.113.66/32|ZZ": 1}, timeout=5, step=0.2)
    rs.wait_for(lambda: metrics(port)["redsink_hits_dropped_total"] >= 1, True, timeout=5, step=0.2)
    assert c.get(rs.PREFIX + "discovered:" + hour_now()) == "not a hash"
    assert rs.unbound_log_has(ub, "discovered:" + hour_now() + " refused counts")


# ---- collateral alarm ----------------------------------------------------------

def heartbeat_field(c, field):
    return c.hget(rs.PREFIX + "resolver:test-resolver", field)


def test_collateral_alarm_for_a_shared_address_not_for_a_dedicated_one(redis, make_unbound, tmp_path,
                                                                       addr_nsd):
    c = redis.client()
    rs.put_order(c, "o1", [])
    add_ips(c, "o1", [SHARED + "/32", PIRATE4 + "/32"])
    port = harness.free_port()
    ub = start(make_unbound, redis, tmp_path, addr_nsd, collateral_threshold="3",
               metrics_listen=f"127.0.0.1:{port}")
    for i in range(1, 7):
        assert answer(ub, f"shared{i}.example") == [rs.SINK4]       # report mode: still blocked
    for i in range(1, 4):                                            # 3 names: not over 3
        assert answer(ub, f"mirror{i}.example") == [rs.SINK4]
    rs.wait_for(lambda: heartbeat_field(c, "collateral"), SHARED + "/32=4", timeout=8, step=0.2)
    m = metrics(port)
    assert m["redsink_collateral_prefixes"] == 1
    assert m['redsink_collateral_names{prefix="198.51.100.200/32"}'] == 4
    assert not any(PIRATE4 in k for k in m)
    assert m["redsink_collateral_suspended_prefixes"] == 0
    assert heartbeat_field(c, "collateral_suspended") == ""
    assert ub.log().count("collateral alarm: address prefix 198.51.100.200/32") == 1
    assert answer(ub, "shared1.example") == [rs.SINK4]


def test_collateral_suspend_until_confirmed(redis, make_unbound, tmp_path, addr_nsd):
    c = redis.client()
    rs.put_order(c, "o1", [])
    add_ips(c, "o1", [SHARED + "/32", PIRATE4 + "/32"])
    port = harness.free_port()
    ub = start(make_unbound, redis, tmp_path, addr_nsd, collateral_threshold="2", collateral_action="suspend",
               metrics_listen=f"127.0.0.1:{port}")
    for i in range(1, 4):
        assert answer(ub, f"shared{i}.example") == [rs.SINK4]
    # over the threshold: the shared address stops triggering (the sync thread drains every 250 ms)
    rs.wait_for(lambda: answer(ub, "shared4.example"), [SHARED], timeout=2.0)
    assert answer(ub, "shared1.example") == [SHARED]
    assert answer(ub, "mirror1.example") == [rs.SINK4]               # the dedicated one still does
    rs.wait_for(lambda: heartbeat_field(c, "collateral_suspended"), SHARED + "/32", timeout=8, step=0.2)
    assert metrics(port)["redsink_collateral_suspended_prefixes"] == 1
    assert rs.unbound_log_has(ub, "it stops triggering until a person confirms it")
    # a person confirms the prefix: it triggers again (read with the heartbeat, every 5 s)
    c.sadd(rs.PREFIX + "confirmed-ips", SHARED + "/32", "junk")
    rs.wait_for(lambda: answer(ub, "shared5.example"), [rs.SINK4], timeout=8.0, step=0.2)
    assert answer(ub, "shared2.example") == [rs.SINK4]
    assert answer(ub, "shared1.example") == [rs.SINK4]   # its real answer, cached meanwhile, was purged
    rs.wait_for(lambda: metrics(port)["redsink_collateral_suspended_prefixes"], 0, timeout=3, step=0.2)


def test_collateral_suspension_survives_a_restart(redis, make_unbound, tmp_path, addr_nsd):
    """The suspended set is kept in the snapshot (format version 5): after a
    restart the shared address does not trigger again on its first names
    (below the threshold) until a person confirms it (issue 13)."""
    from test_ctl import ctl, ok
    c = redis.client()
    snap = tmp_path / "redsink.snap"
    rs.put_order(c, "o1", [])
    add_ips(c, "o1", [SHARED + "/32", PIRATE4 + "/32"])
    ub = start(make_unbound, redis, tmp_path, addr_nsd, collateral_threshold="2", collateral_action="suspend",
               snapshot_file=str(snap))
    for i in range(1, 4):
        assert answer(ub, f"shared{i}.example") == [rs.SINK4]
    rs.wait_for(lambda: heartbeat_field(c, "collateral_suspended"), SHARED + "/32", timeout=8, step=0.2)
    ub.stop()                                    # a clean stop writes the snapshot
    assert snap.read_bytes()[8] == 7             # format version 7 (5 added the suspended set)
    c.delete(rs.PREFIX + "resolver:test-resolver")
    ub.start()
    assert "stay suspended from before the restart" in ub.log()
    assert answer(ub, "shared1.example") == [SHARED]   # one name, below the threshold: still suspended
    assert answer(ub, "mirror1.example") == [rs.SINK4]
    rs.wait_for(lambda: heartbeat_field(c, "collateral_suspended"), SHARED + "/32", timeout=8, step=0.2)
    # confirmed (with its audit entry): it triggers again, and the next snapshot forgets the suspension
    ok(ctl(redis, "confirm-ip", SHARED + "/32", "--why", "the order means this address"))
    rs.wait_for(lambda: answer(ub, "shared5.example"), [rs.SINK4], timeout=8.0, step=0.2)
    assert answer(ub, "shared1.example") == [rs.SINK4]
    c.srem(rs.PREFIX + "confirmed-ips", SHARED + "/32")   # no longer confirmed: but not suspended either
    ub.stop()
    ub.start()
    assert ub.log().count("stay suspended from before the restart") == 1   # the first restart's only
    assert answer(ub, "shared2.example") == [rs.SINK4]


def test_suspended_prefix_does_not_disable_an_enclosing_listed_prefix(redis, make_unbound, tmp_path, addr_nsd):
    """The alarm suspends the /32 of the shared address; a /26 another order
    lists around it still blocks its names (the suspended prefix is passed
    over, not the address)."""
    c = redis.client()
    rs.put_order(c, "o1", [])
    rs.put_order(c, "o2", [])
    add_ips(c, "o1", [SHARED + "/32"])
    add_ips(c, "o2", ["198.51.100.192/26"])
    ub = start(make_unbound, redis, tmp_path, addr_nsd, collateral_threshold="2", collateral_action="suspend")
    for i in range(1, 4):
        assert answer(ub, f"shared{i}.example") == [rs.SINK4]
    rs.wait_for(lambda: heartbeat_field(c, "collateral_suspended"), SHARED + "/32", timeout=8, step=0.2)
    r = ub.query("shared4.example", "A")
    assert rs.rrs(r) == [("shared4.example.", "A", 60, rs.SINK4)]
    assert rs.ede(r)[0] == 16
    rs.wait_for(lambda: hash_sum(c, "discovered:*").get("shared4.example|o2|198.51.100.192/26"), 1, timeout=5,
                step=0.2)


def test_confirmed_ips_of_the_wrong_type_is_logged_and_kept(redis, make_unbound, tmp_path, addr_nsd):
    c = redis.client()
    rs.put_order(c, "o1", [])
    add_ips(c, "o1", [SHARED + "/32"])
    c.set(rs.PREFIX + "confirmed-ips", "198.51.100.200/32")      # a string, not a set
    ub = start(make_unbound, redis, tmp_path, addr_nsd, collateral_threshold="2", collateral_action="suspend")
    rs.wait_for(lambda: rs.unbound_log_has(ub, "confirmed-ips: WRONGTYPE"), True, timeout=8, step=0.2)
    for i in range(1, 4):
        assert answer(ub, f"shared{i}.example") == [rs.SINK4]
    rs.wait_for(lambda: answer(ub, "shared4.example"), [SHARED], timeout=2.0)   # not confirmed: suspended
    assert ub.log().count("confirmed-ips: WRONGTYPE") == 1                      # logged once
