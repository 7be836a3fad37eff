"""Blocking behaviour of redsink.so inside a real Unbound (issue: module core).

Real redis-server, real NSD upstream (zones/example.zone), real Unbound built
with dynlib loading module/.libs/redsink.so; queried with dnspython.
"""

import subprocess
import time

import dns.flags
import dns.rcode
import pytest

import rs

ACTION_QTYPES = ["A", "AAAA", "TXT", "HTTPS", "MX", "NS", "DS", "ANY", "SOA", "CAA", "SVCB"]


@pytest.fixture
def resolver(redis, make_unbound, tmp_path):
    """An Unbound with the module and orders for pirate.example (sinkhole),
    pirate2.example with a protected subdomain."""
    c = redis.client()
    rs.put_order(c, "o-sink", ["pirate.example"])
    rs.put_order(c, "o-p2", ["pirate2.example"], reference="RG 2/2026")
    rs.protect(c, "good.pirate2.example")
    return rs.start_resolver(make_unbound, redis, tmp_path)


def test_module_exports_exactly_the_six_entry_points():
    out = subprocess.run(["nm", "-D", "--defined-only", rs.module_so()], check=True,
                         capture_output=True, text=True).stdout
    names = sorted(line.split()[-1] for line in out.splitlines() if line.strip())
    assert names == sorted(["init", "deinit", "operate", "inform_super", "clear", "get_mem"])


def test_blocked_name_gets_sinkhole_and_others_resolve(resolver):
    r = resolver.query("pirate.example", "A")
    assert r.rcode() == dns.rcode.NOERROR
    assert rs.rrs(r) == [("pirate.example.", "A", 60, rs.SINK4)]
    rs.assert_blocked_flags(r)
    ok = resolver.query("ok.example", "A")
    assert rs.rrs(ok) == [("ok.example.", "A", 3600, "198.51.100.10")]
    assert rs.ede(ok) is None


@pytest.mark.parametrize("name", ["www.pirate.example", "deep.sub.pirate.example",
                                  "PiRaTe.ExAmPlE", "WWW.PIRATE.EXAMPLE", "no-such-host.pirate.example"])
def test_names_below_and_any_case_are_blocked(resolver, name):
    r = resolver.query(name, "A")
    assert [x[1:] for x in rs.rrs(r)] == [("A", 60, rs.SINK4)]


def test_label_exact(resolver):
    r = resolver.query("notpirate.example", "A")
    assert rs.rrs(r) == [("notpirate.example.", "A", 3600, "198.51.100.30")]


@pytest.mark.parametrize("qtype", ACTION_QTYPES)
def test_sinkhole_answers_per_qtype(resolver, qtype):
    r = resolver.query("www.pirate.example", qtype)
    assert r.rcode() == dns.rcode.NOERROR
    rs.assert_blocked_flags(r)
    if qtype == "A":
        assert rs.rrs(r) == [("www.pirate.example.", "A", 60, rs.SINK4)]
    elif qtype == "AAAA":
        assert rs.rrs(r) == [("www.pirate.example.", "AAAA", 60, rs.SINK6)]
    elif qtype == "TXT":
        assert rs.rrs(r) == [("www.pirate.example.", "TXT", 60,
                              '"Blocked by order RG 1234/2026 of Tribunale di Milano. '
                              'https://orders.example.org/1"')]
    else:
        # NODATA with a synthesised SOA owned by the listed domain
        assert rs.rrs(r) == []
        soa = rs.rrs(r, "authority")
        assert len(soa) == 1 and soa[0][:3] == ("pirate.example.", "SOA", 60)
    assert rs.ede_json(r)["j"].startswith("Order RG 1234/2026")


def test_aaaa_without_ipv6_sinkhole_is_nodata(redis, make_unbound, tmp_path):
    rs.put_order(redis.client(), "o", ["pirate.example"])
    ub = rs.start_resolver(make_unbound, redis, tmp_path, {"sinkhole_ipv6": None})
    r = ub.query("pirate.example", "AAAA")
    assert r.rcode() == dns.rcode.NOERROR and rs.rrs(r) == []
    assert rs.rrs(r, "authority")[0][1] == "SOA"


@pytest.mark.parametrize("action,rcode", [("nxdomain", dns.rcode.NXDOMAIN), ("nodata", dns.rcode.NOERROR),
                                          ("refused", dns.rcode.REFUSED)])
def test_actions(redis, make_unbound, tmp_path, action, rcode):
    rs.put_order(redis.client(), "o-" + action, ["pirate.example"], action=action, reference="REF-" + action)
    ub = rs.start_resolver(make_unbound, redis, tmp_path)
    for qtype in ["A", "AAAA", "TXT", "MX", "HTTPS", "NS", "DS", "ANY"]:
        for name in ["pirate.example", "www.pirate.example"]:
            r = ub.query(name, qtype)
            assert r.rcode() == rcode, (name, qtype)
            rs.assert_blocked_flags(r)
            assert rs.rrs(r) == []
            if action == "refused":
                assert rs.rrs(r, "authority") == []
            else:
                assert [x[:3] for x in rs.rrs(r, "authority")] == [("pirate.example.", "SOA", 60)]
            assert rs.ede_json(r)["j"].startswith("Order REF-" + action)


def test_ede_structured_json(resolver):
    r = resolver.query("pirate.example", "A")
    assert rs.ede_json(r) == {
        "c": ["mailto:blocking@isp.example"],
        "j": "Order RG 1234/2026: Copyright infringement https://orders.example.org/1",
        "o": "Tribunale di Milano",
        "l": "en",
    }


def test_no_edns_means_no_ede(resolver):
    for qtype in ["A", "TXT", "MX"]:
        r = resolver.query("pirate.example", qtype, use_edns=False)
        assert r.edns < 0, "the answer to a query without EDNS must carry no OPT record"
        assert rs.ede(r) is None
    assert rs.rrs(resolver.query("pirate.example", "A", use_edns=False)) == [
        ("pirate.example.", "A", 60, rs.SINK4)]


def test_ede_over_tcp(resolver):
    r = resolver.query("pirate.example", "A", tcp=True)
    assert rs.ede_json(r)["o"] == "Tribunale di Milano"


@pytest.mark.parametrize("fmt,expect", [("text", "Blocked by order RG 1234/2026 of Tribunale di Milano"),
                                        ("off", None)])
def test_ede_format(redis, make_unbound, tmp_path, fmt, expect):
    rs.put_order(redis.client(), "o", ["pirate.example"])
    ub = rs.start_resolver(make_unbound, redis, tmp_path, {"ede_format": fmt})
    e = rs.ede(ub.query("pirate.example", "A"))
    if expect is None:
        assert e is None
    else:
        assert e == (16, expect)


@pytest.mark.parametrize("name", ["cname-to-pirate.example", "chain1.example", "www.dname.example"])
def test_cname_and_dname_into_blocked_name(resolver, name):
    for _ in range(2):   # the second time must not come from a cached real answer
        r = resolver.query(name, "A")
        assert r.rcode() == dns.rcode.NOERROR
        assert [x[1:] for x in rs.rrs(r)] == [("A", 60, rs.SINK4)], rs.rrs(r)
        assert rs.ede_json(r)["o"] == "Tribunale di Milano"
    # the blocked target is not answered from the cache either
    r = resolver.query("www.pirate.example", "A")
    assert [x[1:] for x in rs.rrs(r)] == [("A", 60, rs.SINK4)]


def test_protected_subtree_is_never_blocked(resolver):
    r = resolver.query("good.pirate2.example", "A")
    assert rs.rrs(r) == [("good.pirate2.example.", "A", 3600, "198.51.100.40")]
    assert rs.ede(r) is None
    assert [x[3] for x in rs.rrs(resolver.query("other.pirate2.example", "A"))] == [rs.SINK4]
    assert [x[3] for x in rs.rrs(resolver.query("pirate2.example", "A"))] == [rs.SINK4]


def test_protected_parent_overrides_listed_child(redis, make_unbound, tmp_path):
    c = redis.client()
    rs.put_order(c, "o", ["www.pirate.example"])
    rs.protect(c, "pirate.example")
    ub = rs.start_resolver(make_unbound, redis, tmp_path)
    assert rs.rrs(ub.query("www.pirate.example", "A")) == [("www.pirate.example.", "A", 3600, "198.51.100.21")]


def test_scope_and_jurisdiction(redis, make_unbound, tmp_path):
    c = redis.client()
    rs.put_order(c, "fr", ["a1.example"], scope="FR")
    rs.put_order(c, "it-fr", ["a2.example"], scope="IT FR", reference="IT-2")
    rs.put_order(c, "all", ["a3.example"], scope="*")
    rs.put_order(c, "fr2", ["a4.example"], scope="FR")
    rs.put_order(c, "it2", ["a4.example"], scope="IT", reference="IT-4")
    ub = rs.start_resolver(make_unbound, redis, tmp_path, {"jurisdiction": "it"})
    assert rs.rrs(ub.query("a1.example", "A"))[0][3] == "198.51.100.61"
    assert rs.rrs(ub.query("a2.example", "A"))[0][3] == rs.SINK4
    assert rs.rrs(ub.query("a3.example", "A"))[0][3] == rs.SINK4
    r = ub.query("a4.example", "A")
    assert rs.rrs(r)[0][3] == rs.SINK4 and rs.ede_json(r)["j"].startswith("Order IT-4")


def test_no_jurisdiction_applies_only_star(redis, make_unbound, tmp_path):
    c = redis.client()
    rs.put_order(c, "it", ["a1.example"], scope="IT")
    rs.put_order(c, "all", ["a2.example"], scope="*")
    ub = rs.start_resolver(make_unbound, redis, tmp_path)
    assert rs.rrs(ub.query("a1.example", "A"))[0][3] == "198.51.100.61"
    assert rs.rrs(ub.query("a2.example", "A"))[0][3] == rs.SINK4


def test_expired_order_does_not_apply(redis, make_unbound, tmp_path):
    c = redis.client()
    rs.put_order(c, "old", ["expired.example"], expires="2020-01-01T00:00:00Z")
    rs.put_order(c, "current", ["scoped.example"], expires="2099-01-01T00:00:00Z")
    ub = rs.start_resolver(make_unbound, redis, tmp_path)
    assert rs.rrs(ub.query("expired.example", "A"))[0][3] == "198.51.100.51"
    assert rs.rrs(ub.query("scoped.example", "A"))[0][3] == rs.SINK4


def test_sinkhole_answers_are_cached_for_repeats(resolver):
    # Issue 15: a listed name's answer is stored in the message cache (its
    # RRsets with trust "ultimate", 12), so that repeats are cache hits; they
    # stay counted and marked (tests/integration/test_blocked_cache.py).
    for _ in range(3):
        assert rs.rrs(resolver.query("pirate.example", "A"))[0][3] == rs.SINK4
        assert rs.rrs(resolver.query("www.pirate.example", "TXT"))[0][1] == "TXT"
    dump = resolver.control("dump_cache").replace("pirate2.example", "")
    assert "msg pirate.example. IN A " in dump
    assert "msg www.pirate.example. IN TXT " in dump


def test_malformed_entries_are_skipped(redis, make_unbound, tmp_path):
    c = redis.client()
    rs.put_order(c, "good", ["pirate.example", "bad..name", "x" * 70 + ".example", "sp ace.example"])
    c.hset(rs.PREFIX + "order:broken", mapping={"authority": "A", "reference": "R", "scope": "*",
                                                "action": "explode"})
    c.sadd(rs.PREFIX + "orders", "broken")
    c.sadd(rs.PREFIX + "order:broken:domains", "a1.example")
    c.sadd(rs.PREFIX + "orders", "ghost")  # no hash at all
    ub = rs.start_resolver(make_unbound, redis, tmp_path)
    assert rs.rrs(ub.query("pirate.example", "A"))[0][3] == rs.SINK4
    assert rs.rrs(ub.query("a1.example", "A"))[0][3] == "198.51.100.61"
    log = ub.log()
    assert "skipping malformed domain 'bad..name' of order 'good': empty label" in log
    assert "skipping malformed order: order 'broken': action 'explode' is not sinkhole" in log
    assert "order 'ghost' is in the orders set but redsink:order:ghost does not exist" in log


def test_redis_down_at_start_resolution_continues(redis, make_unbound, tmp_path):
    redis.stop()
    ub = rs.start_resolver(make_unbound, redis, tmp_path)
    assert rs.rrs(ub.query("ok.example", "A"))[0][3] == "198.51.100.10"
    assert rs.rrs(ub.query("pirate.example", "A"))[0][3] == "198.51.100.20"
    assert "cannot connect to Redis" in ub.log()


@pytest.mark.parametrize("conf_over,message", [
    ({"bogus_key": "1"}, ":8: unknown directive 'bogus-key'"),
    ({"ttl": "soon"}, ":8: ttl: 'soon' is not an integer"),
    ({"sinkhole_ipv4": "300.0.0.1"}, ":3: sinkhole-ipv4: '300.0.0.1' is not an IPv4 address"),
    ({"read_redis": None}, ":6: missing required directive 'read-redis'"),
])
def test_bad_config_refuses_to_start(redis, make_unbound, tmp_path, conf_over, message):
    conf = rs.write_conf(tmp_path / "redsink.conf", redis, **conf_over)
    fail = make_unbound.expect_failure(module_so=rs.module_so(), env={"REDSINK_CONF": str(conf)})
    assert fail.rc != 0
    text = fail.log + fail.stderr
    assert f"redsink: {conf}{message}" in text, text


def test_conf_from_unbound_directory(redis, make_unbound, tmp_path):
    """Without $REDSINK_CONF the module reads redsink.conf in Unbound's directory:."""
    rs.put_order(redis.client(), "o", ["pirate.example"])
    ub = make_unbound(module_so=rs.module_so(), start=False)
    rs.write_conf(ub.dir / "redsink.conf", redis)
    ub.start()
    assert rs.rrs(ub.query("pirate.example", "A"))[0][3] == rs.SINK4


def test_reload_with_a_broken_config_keeps_the_running_one(redis, make_unbound, tmp_path):
    rs.put_order(redis.client(), "o", ["pirate.example"])
    ub = rs.start_resolver(make_unbound, redis, tmp_path, {"ttl": "60"})
    conf = tmp_path / "redsink.conf"
    good = conf.read_text()
    conf.write_text(good + "no-such-directive: 1\n")
    ub.reload()
    assert ub.running()
    assert "unknown directive 'no-such-directive': keeping the running configuration" in ub.log()
    assert rs.rrs(ub.query("pirate.example", "A")) == [("pirate.example.", "A", 60, rs.SINK4)]
    conf.write_text(good.replace("ttl: 60", "ttl: 30"))
    ub.reload()                      # a good file again: it takes effect
    assert rs.rrs(ub.query("pirate.example", "A")) == [("pirate.example.", "A", 30, rs.SINK4)]


@pytest.mark.parametrize("case", ["short", "two", "cap", "utf8"])
def test_txt_is_split_into_255_octet_strings_and_capped(redis, make_unbound, tmp_path, case):
    """txt-text: cut into character-strings of at most 255 octets, at most 1020
    octets in all (four strings), never in the middle of a UTF-8 character."""
    reason = {"short": "r" * 40, "two": "r" * 200, "cap": "r" * 200, "utf8": "\u00e9" * 100}[case]
    template = {"short": "{reason}", "two": "{reason}|{reason}", "cap": "|".join(["{reason}"] * 6),
                "utf8": "a" + "{reason}" * 6}[case]
    rs.put_order(redis.client(), "o", ["pirate.example"], reason=reason)
    ub = rs.start_resolver(make_unbound, redis, tmp_path, {"txt_text": f'"{template}"'})
    r = ub.query("www.pirate.example", "TXT")
    assert r.rcode() == dns.rcode.NOERROR
    rdatas = [rd for rrset in r.answer for rd in rrset]
    assert len(rdatas) == 1, rs.rrs(r)
    strings = list(rdatas[0].strings)
    full = template.replace("{reason}", reason).encode()
    want_len = {"short": 40, "two": 401, "cap": 1020, "utf8": 1019}[case]
    got = b"".join(strings)
    assert len(got) == want_len and got == full[:want_len]
    got.decode("utf-8")                                   # whole characters only
    assert all(len(x) == 255 for x in strings[:-1]) and 0 < len(strings[-1]) <= 255
    assert len(strings) == -(-want_len // 255)
    # the same text over TCP; without EDNS over UDP too when it fits in 512
    # octets, else a truncated reply (TC) that sends the client to TCP
    r2 = ub.query("www.pirate.example", "TXT", tcp=True)
    assert [list(rd.strings) for rrset in r2.answer for rd in rrset] == [strings]
    r2 = ub.query("www.pirate.example", "TXT", use_edns=False)
    if case in ("short", "two"):
        assert [list(rd.strings) for rrset in r2.answer for rd in rrset] == [strings]
    else:
        assert r2.flags & dns.flags.TC and not r2.answer
