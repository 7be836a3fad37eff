"""Blocked answers from the cache (issue 15).

The answer of a listed name is stored in Unbound's message cache, so that a
repeated query is a cache hit (unbound-control stats: num.cachehits); each
reply from the cache is still counted in hits:<hour>, carries the EDE to EDNS
clients only, and nothing stored outlives a withdrawal, an order change, a
protection, an expiry or the end of a window (each answered anew within 1 s).
"""

import time

import dns.flags
import dns.message
import dns.query
import dns.rcode
import pytest

import rs
from test_ctl import ctl, ok
from test_stats import assert_counted, hits


def cachehits(ub):
    for line in ub.control("stats_noreset").splitlines():
        if line.startswith("total.num.cachehits="):
            return int(line.split("=", 1)[1])
    raise AssertionError("no total.num.cachehits in unbound-control stats")


def ask(ub, name, qtype="A", *, edns=True, payload=1232, rd=True, cd=False, source="127.0.0.1"):
    q = dns.message.make_query(name, qtype, use_edns=0 if edns else False, payload=payload)
    if not rd:
        q.flags &= ~dns.flags.RD
    if cd:
        q.flags |= dns.flags.CD
    return dns.query.udp(q, "127.0.0.1", port=ub.port, source=source, timeout=3)


@pytest.fixture
def resolver(redis, make_unbound, tmp_path):
    c = redis.client()
    rs.put_order(c, "o1", ["pirate.example"])
    rs.put_order(c, "o2", ["pirate2.example"], action="nxdomain")
    ub = rs.start_resolver(make_unbound, redis, tmp_path, {"stats_flush_interval": "1"})
    return c, ub


def test_repeats_are_cache_hits_and_each_is_counted(resolver):
    c, ub = resolver
    first = ask(ub, "www.pirate.example")               # the mesh: builds and stores it
    base = cachehits(ub)
    for _ in range(5):
        r = ask(ub, "www.pirate.example", source="127.0.0.2")
        assert rs.rrs(r) == [("www.pirate.example.", "A", r.answer[0].ttl, rs.SINK4)]
        assert 0 < r.answer[0].ttl <= 60
        rs.assert_blocked_flags(r)
        assert rs.ede(r) == rs.ede(first)
    assert cachehits(ub) - base == 5                    # fails before issue 15: 0
    for _ in range(3):
        assert ask(ub, "x.pirate2.example").rcode() == dns.rcode.NXDOMAIN
    assert_counted(lambda: hits(c), {"o1|pirate.example|ZZ": 6, "o2|pirate2.example|ZZ": 3})


def test_ede_only_to_edns_clients_from_the_cache(resolver):
    _, ub = resolver
    ask(ub, "pirate.example", "TXT")
    base = cachehits(ub)
    plain = ask(ub, "pirate.example", "TXT", edns=False)
    assert plain.edns < 0 and rs.ede(plain) is None     # no OPT at all
    assert rs.rrs(plain)[0][1] == "TXT"
    small = ask(ub, "pirate.example", "TXT", payload=512)
    assert not small.flags & dns.flags.TC
    assert rs.ede_json(small)["j"].startswith("Order RG 1234/2026")
    big = ask(ub, "pirate.example", "TXT", payload=4096)
    assert rs.ede_json(big)["j"].startswith("Order RG 1234/2026")
    assert cachehits(ub) - base == 3


def test_cd_dnssec_ok_and_other_types_from_the_cache(resolver):
    _, ub = resolver
    for qtype in ("A", "AAAA", "MX", "HTTPS"):
        ask(ub, "www.pirate.example", qtype)
    ask(ub, "www.pirate.example", "AAAA", cd=True)
    base = cachehits(ub)
    r = rs.rrs(ub.query("www.pirate.example", "A", want_dnssec=True))   # DO: no RRSIG, no AD
    assert r == [("www.pirate.example.", "A", r[0][2], rs.SINK4)]
    r = ask(ub, "www.pirate.example", "AAAA", cd=True)
    assert rs.rrs(r)[0][3] == rs.SINK6 and not r.flags & dns.flags.AD
    for qtype in ("MX", "HTTPS"):
        r = ask(ub, "www.pirate.example", qtype)
        assert rs.rrs(r) == [] and rs.rrs(r, "authority")[0][:2] == ("pirate.example.", "SOA")
        assert rs.ede(r) is not None
    assert cachehits(ub) - base == 4


def cached(ub, name, qtype="A"):
    """Answered from the cache now (the query itself is then cached too)."""
    ask(ub, name, qtype)
    base = cachehits(ub)
    r = ask(ub, name, qtype)
    assert cachehits(ub) - base == 1, f"{name} {qtype} is not a cache hit"
    return r


def test_withdrawal_resolves_within_a_second(resolver):
    c, ub = resolver
    assert rs.rrs(cached(ub, "pirate.example"))[0][3] == rs.SINK4
    rs.del_domains(c, "o1", ["pirate.example"])
    took = rs.wait_for(lambda: rs.first_a(ub, "pirate.example"), "198.51.100.20", timeout=1.0)
    print(f"resolved {took * 1000:.0f} ms after the withdrawal")
    assert rs.ede(ask(ub, "pirate.example")) is None


def test_revoke_and_protect_resolve_within_a_second(resolver):
    c, ub = resolver
    cached(ub, "x.pirate2.example")
    rs.revoke(c, "o2")
    # blocked (o2: nxdomain) and real answers are both NXDOMAIN: the EDE tells them apart
    rs.wait_for(lambda: rs.ede(ask(ub, "x.pirate2.example")), None, timeout=1.0)
    assert ask(ub, "x.pirate2.example").rcode() == dns.rcode.NXDOMAIN   # the zone's own now
    cached(ub, "pirate2.example")
    rs.put_order(c, "o2", ["pirate2.example"], action="nxdomain")
    rs.wait_for(lambda: rs.first_a(ub, "pirate2.example"), "NXDOMAIN", timeout=1.0)
    assert rs.first_a(ub, "pirate2.example") == "NXDOMAIN"
    cached(ub, "www.pirate.example")
    rs.protect(c, "www.pirate.example")
    rs.wait_for(lambda: rs.first_a(ub, "www.pirate.example"), "198.51.100.21", timeout=1.0)


def test_order_change_gives_the_new_answer_within_a_second(resolver):
    c, ub = resolver
    cached(ub, "pirate.example")
    txt = rs.rrs(cached(ub, "pirate.example", "TXT"))[0][3]
    rs.put_order(c, "o1", url="https://orders.example.org/changed")
    rs.wait_for(lambda: "changed" in rs.rrs(ask(ub, "pirate.example", "TXT"))[0][3], True, timeout=1.0)
    assert rs.rrs(ask(ub, "pirate.example", "TXT"))[0][3] != txt
    rs.put_order(c, "o1", action="nxdomain")
    rs.wait_for(lambda: ask(ub, "pirate.example").rcode(), dns.rcode.NXDOMAIN, timeout=1.0)


def test_expiry_unblocks_within_a_second(redis, make_unbound, tmp_path):
    c = redis.client()
    expires = int(time.time()) + 4
    rs.put_order(c, "soon", ["pirate.example"], expires=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(expires)))
    ub = rs.start_resolver(make_unbound, redis, tmp_path)
    r = cached(ub, "pirate.example")
    assert rs.rrs(r)[0][3] == rs.SINK4 and r.answer[0].ttl <= 4   # cut at the expiry
    time.sleep(max(0.0, expires - time.time()))
    rs.wait_for(lambda: rs.first_a(ub, "pirate.example"), "198.51.100.20", timeout=1.0)


def test_window_end_unblocks_within_a_second(redis, make_unbound, tmp_path):
    c = redis.client()
    rs.put_order(c, "live", ["a1.example"])
    now = int(time.time())
    end = now + 4
    iso = lambda t: time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))
    ok(ctl(redis, "window", "set", "live", f"{iso(now - 60)}/{iso(end)}"))
    ub = rs.start_resolver(make_unbound, redis, tmp_path)
    assert rs.rrs(cached(ub, "a1.example"))[0][3] == rs.SINK4
    time.sleep(max(0.0, end - time.time()))
    rs.wait_for(lambda: rs.first_a(ub, "a1.example"), "198.51.100.61", timeout=1.0)


def test_unblocked_cache_hits_are_untouched(resolver):
    _, ub = resolver
    ask(ub, "ok.example")
    base = cachehits(ub)
    r = ask(ub, "ok.example")
    assert cachehits(ub) - base == 1
    assert rs.rrs(r) == [("ok.example.", "A", r.answer[0].ttl, "198.51.100.10")] and rs.ede(r) is None


def test_ede_fitted_to_each_clients_buffer_from_the_cache(redis, make_unbound, tmp_path):
    """The EDE of a cache reply is fitted to the buffer of the client asking (read again from its
    query: Unbound has replaced edns.udp_size by then), as on the mesh path."""
    from test_hostile_queries import HUGE, check_sde, query, udp_raw
    c = redis.client()
    rs.put_order(c, "huge", ["pirate.example"], **HUGE)
    ub = rs.start_resolver(make_unbound, redis, tmp_path)
    for qtype in ("A", "TXT"):
        udp_raw(ub, query("pirate.example", qtype, payload=4096))     # the mesh: stores it
    base = cachehits(ub)
    for payload in (512, 1232, 4096):
        wire, r = udp_raw(ub, query("pirate.example", "A", payload=payload))
        assert len(wire) <= payload and r.edns == 0 and rs.rrs(r)[0][3] == rs.SINK4
        obj = check_sde(rs.ede(r))
        assert obj["o"] == "A" * 256
        if payload >= 1232:
            assert obj["j"].startswith("Order " + "R" * 128 + ": ")
    wire, r = udp_raw(ub, query("pirate.example", "TXT", payload=512))   # the answer does not fit
    assert len(wire) <= 512 and r.flags & dns.flags.TC and r.edns == 0
    check_sde(rs.ede(r))
    r = dns.query.tcp(query("pirate.example", "TXT", payload=4096), "127.0.0.1", port=ub.port, timeout=5)
    assert rs.rrs(r)[0][1] == "TXT" and set(check_sde(rs.ede(r))) == {"c", "j", "o", "l"}
    assert cachehits(ub) - base == 5


VICTIM_PARENT = """$ORIGIN example.
$TTL 3600
@           IN SOA ns.example. hostmaster.example. 1 3600 900 604800 300
            IN NS  ns.example.
ns          IN A   127.0.0.1
ok          IN A   198.51.100.10
; ns1.pirate.example (listed) serves victim.example (not listed); its address
; reaches the resolver as the additional data of an unlisted answer
ns1.pirate  IN A   127.0.0.1
mx          IN MX  10 ns1.pirate.example.
"""

VICTIM_ZONE = """$ORIGIN victim.example.
$TTL 3600
@           IN SOA ns1.pirate.example. hostmaster.victim.example. 1 3600 900 604800 300
            IN NS  ns1.pirate.example.
www         IN A   198.51.100.80
www2        IN A   198.51.100.81
"""


def real_ns1(ub):
    """The real A RRset of ns1.pirate.example is in Unbound's RRset cache."""
    return any(line.startswith("ns1.pirate.example.\t") and line.endswith("\tIN\tA\t127.0.0.1")
               for line in ub.control("dump_cache").splitlines())


def test_stored_sinkhole_is_not_a_name_servers_address(redis, make_unbound, tmp_path):
    """A stored blocked answer of a name server under a listed domain (ns1.pirate.example)
    must not become its address for the unlisted zones it serves (victim.example), in
    neither cache: its RRset must not replace the real one in the RRset cache (before the
    private RRset flag it did: trust ultimate), and the iterator's own query for the
    server's address, which finds the stored message in the message cache, must resolve
    anew (before: SERVFAIL, the iterator asked the sinkhole, which do-not-query-address
    refuses; nothing leaves loopback). Nothing is flushed in between."""
    import harness
    (tmp_path / "example.zone").write_text(VICTIM_PARENT)
    (tmp_path / "victim.zone").write_text(VICTIM_ZONE)
    nsd = harness.Nsd(tmp_path / "nsd-victim", zones={"example.": tmp_path / "example.zone",
                                                      "victim.example.": tmp_path / "victim.zone"})
    try:
        c = redis.client()
        rs.put_order(c, "o1", ["pirate.example"])
        # One thread: Unbound 1.17.1's workers each parse "stub-host: name@port"
        # at start and the parse writes into the shared string ('@' -> NUL and
        # back; NLnetLabs/unbound#1035, helgrind shows it), so a worker can get
        # port 53 and this test hangs (1 start in ~70 under load). Plain Unbound
        # does the same; README, "Configuring Unbound".
        extra = (f"    do-not-query-address: 192.0.2.0/24\n    num-threads: 1\n\n"
                 f"stub-zone:\n    name: \"victim.example.\"\n    stub-host: \"ns1.pirate.example@{nsd.port}\"\n")
        ub = rs.start_resolver(make_unbound, redis, tmp_path, {"stats_flush_interval": "1"},
                               upstream_port=nsd.port, extra_conf=extra)
        assert rs.rrs(ask(ub, "mx.example", "MX"))[0][3] == "10 ns1.pirate.example."
        assert real_ns1(ub)                              # its real address, from the additional section
        r = ask(ub, "www.victim.example")
        assert r.rcode() == dns.rcode.NOERROR and rs.rrs(r)[0][3] == "198.51.100.80"
        blocked = ask(ub, "ns1.pirate.example")          # listed: blocked and stored
        assert rs.rrs(blocked)[0][3] == rs.SINK4
        assert rs.rrs(cached(ub, "ns1.pirate.example"))[0][3] == rs.SINK4
        assert real_ns1(ub)                              # the RRset cache: not replaced by the sinkhole
        r = ask(ub, "www2.victim.example")               # flush nothing: the delegation again
        assert r.rcode() == dns.rcode.NOERROR, dns.rcode.to_text(r.rcode())
        assert rs.rrs(r)[0][3] == "198.51.100.81"
        r = ask(ub, "ns1.pirate.example")                # clients: still blocked
        assert rs.rrs(r)[0][3] == rs.SINK4 and rs.ede(r) is not None
    finally:
        nsd.stop()
