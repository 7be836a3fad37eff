"""Hostile orders and queries against the real module (issue 10, points 1 and 2).

* An order whose fields are huge (a 70,000-octet lang, four 300-octet texts)
  neither crashes Unbound (UDP and TCP) nor costs a client its OPT record: every
  EDNS client gets EDE 16 whose JSON parses, shortened to its UDP buffer as
  draft-ietf-dnsop-structured-dns-error says ("j" dropped first, then "o";
  "l" present exactly when "j" or "o" is; never "s").
* ede-json-clients: sde-option sends the JSON only to clients that send the
  SDE option; the others get the plain text.
* Every query class: class ANY of a listed name gets the blocked answer, CH and
  HS get REFUSED, all with EDE 16. A state the iterator created (the IN
  sub-query of a class ANY query) that an ordinary IN client joins while the
  upstream is slow is answered blocked, and counted.
* DO / CD / RD=0 flag combinations on blocked names.
After each case Unbound is still alive and still resolves ok.example.
"""

import json
import socket
import threading
import time

import dns.edns
import dns.flags
import dns.message
import dns.query
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.rrset
import pytest

import harness
import rs

SDE_CODE = 65001


# ---- helpers ---------------------------------------------------------------

def alive(ub):
    """Unbound runs and still resolves an ordinary name."""
    assert ub.running(), "unbound died"
    assert rs.first_a(ub, "ok.example") == "198.51.100.10"


def udp_raw(ub, q, timeout=5):
    """Send q over UDP; return (wire octets, parsed message)."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        s.settimeout(timeout)
        s.sendto(q.to_wire(), ("127.0.0.1", ub.port))
        wire, _ = s.recvfrom(65535)
    finally:
        s.close()
    return wire, dns.message.from_wire(wire, ignore_trailing=True)


def query(name, qtype="A", rdclass="IN", payload=1232, options=None, flags=None, want_dnssec=False):
    q = dns.message.make_query(name, qtype, rdclass=rdclass, use_edns=0, payload=payload,
                               options=options or [], want_dnssec=want_dnssec)
    if flags is not None:
        q.flags = flags
    return q


def check_sde(e):
    """The EDE is 16 and its text is the draft's JSON; returns the object."""
    assert e is not None, "no EDE"
    code, text = e
    assert code == 16, f"EDE code {code}"
    obj = json.loads(text)
    assert isinstance(obj, dict)
    assert "s" not in obj, "no 's' with EDE 16"
    if "j" in obj or "o" in obj:
        assert "l" in obj, f"'l' missing beside j/o: {obj}"
    else:
        assert "l" not in obj
    if "j" in obj:
        assert "o" in obj, "'o' is dropped only after 'j'"
    return obj


# ---- 1. huge order fields --------------------------------------------------

HUGE = {
    "authority": "A" * 300,
    "reference": "R" * 300,
    "reason": "\"" * 300,               # doubles when escaped
    "url": "https://orders.example.org/" + "u" * 273,
    "lang": "x" * 70000,
}


@pytest.fixture
def huge(redis, make_unbound, tmp_path):
    c = redis.client()
    rs.put_order(c, "huge", ["pirate.example"], **HUGE)
    ub = rs.start_resolver(make_unbound, redis, tmp_path)
    return c, ub


@pytest.mark.parametrize("payload", [512, 1232, 4096])
def test_huge_fields_fit_every_udp_buffer(huge, payload):
    _, ub = huge
    wire, r = udp_raw(ub, query("pirate.example", "A", payload=payload))
    assert len(wire) <= payload
    assert r.rcode() == dns.rcode.NOERROR
    assert r.edns == 0, "an EDNS client must get an OPT record"
    assert rs.rrs(r) == [("pirate.example.", "A", 60, rs.SINK4)]
    obj = check_sde(rs.ede(r))
    assert obj["c"] == ["mailto:blocking@isp.example"]
    assert obj["l"] == "en"                          # invalid lang: the resolver's language
    assert obj["o"] == "A" * 256                      # authority cut at 256 octets
    if payload >= 1232:
        assert obj["j"].startswith("Order " + "R" * 128 + ": ")  # reference cut at 128
        assert len(rs.ede(r)[1].encode()) <= 1024
    alive(ub)


def test_huge_fields_tcp_full_variant(huge):
    _, ub = huge
    for qtype in ("A", "TXT", "MX"):
        r = dns.query.tcp(query("pirate.example", qtype, payload=4096), "127.0.0.1", port=ub.port, timeout=5)
        assert r.edns == 0
        obj = check_sde(rs.ede(r))
        assert set(obj) == {"c", "j", "o", "l"}
        assert len(rs.ede(r)[1].encode()) <= 1024
    alive(ub)


def test_huge_fields_txt_truncated_keeps_opt(huge):
    _, ub = huge
    # The TXT answer (reference, authority, url: ~700 octets) does not fit in
    # 512: TC, still with an OPT and a parseable EDE; TCP gets all of it.
    wire, r = udp_raw(ub, query("pirate.example", "TXT", payload=512))
    assert len(wire) <= 512
    assert r.flags & dns.flags.TC
    assert r.edns == 0
    check_sde(rs.ede(r))
    wire, r = udp_raw(ub, query("pirate.example", "TXT", payload=1232))
    assert len(wire) <= 1232 and not r.flags & dns.flags.TC
    assert r.edns == 0 and rs.rrs(r)[0][1] == "TXT"
    check_sde(rs.ede(r))
    r = dns.query.tcp(query("pirate.example", "TXT"), "127.0.0.1", port=ub.port, timeout=5)
    assert rs.rrs(r)[0][1] == "TXT"
    assert set(check_sde(rs.ede(r))) == {"c", "j", "o", "l"}
    alive(ub)


def test_huge_fields_no_edns_client(huge):
    _, ub = huge
    r = ub.query("pirate.example", "A", use_edns=False)
    assert r.edns == -1 and rs.rrs(r) == [("pirate.example.", "A", 60, rs.SINK4)]
    alive(ub)


def test_small_buffer_drops_j_then_o(redis, make_unbound, tmp_path):
    """With harden-short-bufsize off a client may ask for tiny buffers: the
    variants step down (full, no j, c alone, empty) and the OPT stays."""
    c = redis.client()
    rs.put_order(c, "o1", ["pirate.example"], authority="B" * 200, reference="R" * 100, reason="x" * 400)
    ub = rs.start_resolver(make_unbound, redis, tmp_path, extra_conf="    harden-short-bufsize: no\n")
    seen = []
    for payload in (1232, 400, 200, 120, 80):
        wire, r = udp_raw(ub, query("pirate.example", "A", payload=payload))
        assert len(wire) <= max(payload, 512) and r.edns == 0, payload
        code, text = rs.ede(r)
        assert code == 16
        seen.append(tuple(sorted(json.loads(text))) if text else ())
        if text:
            check_sde((code, text))
    assert seen[0] == ("c", "j", "l", "o")
    assert ("c", "l", "o") in seen and ("c",) in seen and () in seen
    alive(ub)


# ---- 2. the SDE option gate ------------------------------------------------

def test_json_only_for_sde_clients(redis, make_unbound, tmp_path):
    c = redis.client()
    rs.put_order(c, "o1", ["pirate.example"])
    ub = rs.start_resolver(make_unbound, redis, tmp_path,
                           {"ede_json_clients": "sde-option", "sde_option_code": str(SDE_CODE)})
    r = dns.query.udp(query("pirate.example"), "127.0.0.1", port=ub.port, timeout=3)
    assert rs.ede(r) == (16, "Blocked by order RG 1234/2026 of Tribunale di Milano")
    opt = dns.edns.GenericOption(SDE_CODE, b"")
    r = dns.query.udp(query("pirate.example", options=[opt]), "127.0.0.1", port=ub.port, timeout=3)
    obj = check_sde(rs.ede(r))
    assert obj["o"] == "Tribunale di Milano" and obj["l"] == "en"
    alive(ub)


# ---- 3. classes ----------------------------------------------------------------

@pytest.fixture
def listed(redis, make_unbound, tmp_path):
    c = redis.client()
    rs.put_order(c, "o1", ["pirate.example"])
    rs.put_order(c, "o2", ["pirate2.example"], action="nxdomain")
    ub = rs.start_resolver(make_unbound, redis, tmp_path)
    return c, ub


def test_class_any_gets_the_blocked_answer(listed):
    _, ub = listed
    for tcp in (False, True):
        q = query("pirate.example", "A", rdclass="ANY")
        r = (dns.query.tcp if tcp else dns.query.udp)(q, "127.0.0.1", port=ub.port, timeout=3)
        assert r.rcode() == dns.rcode.NOERROR
        assert rs.rrs(r) == [("pirate.example.", "A", 60, rs.SINK4)]
        assert r.answer[0].rdclass == dns.rdataclass.IN
        check_sde(rs.ede(r))
        rs.assert_blocked_flags(r)
    r = dns.query.udp(query("www.pirate2.example", "A", rdclass="ANY"), "127.0.0.1", port=ub.port, timeout=3)
    assert r.rcode() == dns.rcode.NXDOMAIN and r.answer == []
    check_sde(rs.ede(r))
    alive(ub)


@pytest.mark.parametrize("rdclass", ["CH", "HS", "CLASS42"])
def test_other_classes_are_refused(listed, rdclass):
    _, ub = listed
    r = dns.query.udp(query("pirate.example", "A", rdclass=rdclass), "127.0.0.1", port=ub.port, timeout=3)
    assert r.rcode() == dns.rcode.REFUSED and r.answer == []
    check_sde(rs.ede(r))
    # not listed: no EDE 16 from the module (whatever Unbound answers)
    r = dns.query.udp(query("ok.example", "A", rdclass=rdclass), "127.0.0.1", port=ub.port, timeout=5)
    assert rs.ede(r) is None or rs.ede(r)[0] != 16
    alive(ub)


# ---- 4. a slow upstream: clients joining a state the iterator created ----------

class SlowDns:
    """A UDP authoritative server for slowzone.test. on 127.0.0.1 that answers
    A queries after `delay` seconds (every name gets 198.51.100.99)."""

    def __init__(self, delay):
        self.delay = delay
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.queries = []
        self.stop_ev = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _answer(self, q, addr):
        r = dns.message.make_response(q)
        r.flags |= dns.flags.AA
        qn = q.question[0]
        if qn.rdtype == dns.rdatatype.A and qn.rdclass == dns.rdataclass.IN:
            r.answer.append(dns.rrset.from_text(qn.name, 300, "IN", "A", "198.51.100.99"))
        try:
            self.sock.sendto(r.to_wire(), addr)
        except OSError:
            pass

    def _run(self):
        while not self.stop_ev.is_set():
            try:
                wire, addr = self.sock.recvfrom(4096)
            except socket.timeout:
                continue
            except OSError:
                return
            try:
                q = dns.message.from_wire(wire)
            except Exception:
                continue
            self.queries.append(q.question[0].to_text())
            t = threading.Timer(self.delay, self._answer, (q, addr))
            t.daemon = True
            t.start()

    def close(self):
        self.stop_ev.set()
        self.thread.join(2)
        self.sock.close()


@pytest.fixture
def slow():
    s = SlowDns(delay=1.0)
    try:
        yield s
    finally:
        s.close()


def stub_for(slow_dns):
    # Unbound's first-contact timeout (376 ms by default) would retry and
    # drop the late answers: wait for the slow server instead.
    return f"""    local-zone: "test." nodefault
    unknown-server-time-limit: 5000
    domain-insecure: "slowzone.test."

stub-zone:
    name: "slowzone.test."
    stub-addr: 127.0.0.1@{slow_dns.port}
server:
"""


def hits(c):
    out = {}
    for key in c.keys(rs.PREFIX + "hits:*"):
        for field, n in c.hgetall(key).items():
            out[field] = out.get(field, 0) + int(n)
    return out


def ask_async(ub, q, results, key, tcp=False):
    def run():
        try:
            f = dns.query.tcp if tcp else dns.query.udp
            results[key] = f(q, "127.0.0.1", port=ub.port, timeout=8)
        except Exception as e:  # noqa: BLE001 - reported by the assertion below
            results[key] = e
    t = threading.Thread(target=run)
    t.start()
    return t


def test_listed_class_any_answered_at_once_with_slow_upstream(redis, make_unbound, tmp_path, slow):
    c = redis.client()
    rs.put_order(c, "o1", ["victim.slowzone.test"])
    ub = rs.start_resolver(make_unbound, redis, tmp_path, extra_conf=stub_for(slow))
    t0 = time.monotonic()
    r = dns.query.udp(query("victim.slowzone.test", "A", rdclass="ANY"), "127.0.0.1", port=ub.port, timeout=5)
    assert time.monotonic() - t0 < 0.9, "blocked at the first visit, not after the upstream"
    assert rs.rrs(r) == [("victim.slowzone.test.", "A", 60, rs.SINK4)]
    check_sde(rs.ede(r))
    assert not any("victim" in q for q in slow.queries)
    alive(ub)


def test_in_client_joining_the_any_subquery_is_blocked(redis, make_unbound, tmp_path, slow):
    """The class ANY query passes (not listed yet); the iterator starts the IN
    sub-query at itself; the name is listed; an ordinary IN query joins that
    sub-query before the slow upstream answers. Both get the blocked answer,
    and the IN reply is counted."""
    c = redis.client()
    rs.put_order(c, "o0", ["a5.example"])
    ub = rs.start_resolver(make_unbound, redis, tmp_path, {"stats_flush_interval": "1"},
                           extra_conf=stub_for(slow))
    res = {}
    t_any = ask_async(ub, query("victim.slowzone.test", "A", rdclass="ANY"), res, "any")
    rs.wait_for(lambda: any("victim" in q for q in slow.queries), True, timeout=3)
    rs.put_order(c, "o1", ["victim.slowzone.test", "a4.example"])
    rs.wait_for(lambda: rs.first_a(ub, "a4.example"), rs.SINK4, timeout=2)
    t_in = ask_async(ub, query("victim.slowzone.test", "A"), res, "in")
    t_any.join(10)
    t_in.join(10)
    for key in ("any", "in"):
        r = res[key]
        assert not isinstance(r, Exception), f"{key}: {r!r}"
        assert rs.rrs(r) == [("victim.slowzone.test.", "A", 60, rs.SINK4)], key
        check_sde(rs.ede(r))
        rs.assert_blocked_flags(r)
    # nothing cached the real answer either
    assert rs.first_a(ub, "victim.slowzone.test") == rs.SINK4
    # the ANY reply, the joined IN reply and the last query: all counted
    rs.wait_for(lambda: hits(c).get("o1|victim.slowzone.test|ZZ", 0), 3, timeout=5, step=0.2)
    alive(ub)


# ---- 5. flags ----------------------------------------------------------------

BLOCKED_CASES = (
    ("pirate.example", "A", dns.rcode.NOERROR, [("pirate.example.", "A", 60, rs.SINK4)]),
    ("www.pirate.example", "AAAA", dns.rcode.NOERROR, [("www.pirate.example.", "AAAA", 60, rs.SINK6)]),
    ("pirate2.example", "A", dns.rcode.NXDOMAIN, []),
)


def ask_blocked(ub, flags, do):
    for name, qtype, want_rcode, want in BLOCKED_CASES:
        r = dns.query.udp(query(name, qtype, flags=flags, want_dnssec=bool(do)), "127.0.0.1", port=ub.port,
                          timeout=3)
        assert r.rcode() == want_rcode, (name, qtype)
        # a repeat is served from the cache (blocked answers are stored):
        # its TTL counts down from the order's
        got = rs.rrs(r)
        assert [(n, t, d) for n, t, _, d in got] == [(n, t, d) for n, t, _, d in want], (name, qtype)
        assert all(0 < g[2] <= w[2] for g, w in zip(got, want)), (name, qtype, got)
        assert bool(r.flags & dns.flags.RD) == bool(flags & dns.flags.RD)
        assert bool(r.flags & dns.flags.CD) == bool(flags & dns.flags.CD)
        assert bool(r.ednsflags & dns.flags.DO) == bool(do)
        rs.assert_blocked_flags(r)
        check_sde(rs.ede(r))


@pytest.mark.parametrize("do,cd", [(0, 0), (1, 0), (0, 1), (1, 1)])
def test_flag_combinations_on_blocked_names(listed, do, cd):
    _, ub = listed
    ask_blocked(ub, dns.flags.RD | (dns.flags.CD if cd else 0), do)
    alive(ub)


@pytest.mark.parametrize("do,cd", [(0, 0), (1, 1)])
def test_rd0_refused_by_unbound_without_snoop(listed, do, cd):
    """access-control: allow refuses RD=0 before any module runs: no answer
    leaks, and there is nothing to count."""
    _, ub = listed
    for name, qtype, _, _ in BLOCKED_CASES:
        q = query(name, qtype, flags=dns.flags.CD if cd else 0, want_dnssec=bool(do))
        r = dns.query.udp(q, "127.0.0.1", port=ub.port, timeout=3)
        assert r.rcode() == dns.rcode.REFUSED and r.answer == []
    alive(ub)


@pytest.mark.parametrize("do,cd", [(0, 0), (1, 0), (1, 1)])
def test_rd0_with_allow_snoop_gets_the_blocked_answer(redis, make_unbound, tmp_path, do, cd):
    """allow_snoop sends RD=0 queries to the cache, then to the mesh: the
    blocked answer stored by the RD=1 query (counted and decorated on the way
    out), real ones purged, so RD=0 gets the blocked answer too."""
    c = redis.client()
    rs.put_order(c, "o1", ["pirate.example"])
    rs.put_order(c, "o2", ["pirate2.example"], action="nxdomain")
    ub = rs.start_resolver(make_unbound, redis, tmp_path, extra_conf="    access-control: 127.0.0.1/32 allow_snoop\n")
    ask_blocked(ub, dns.flags.RD, do)      # RD=1 first: stores the blocked answers
    ask_blocked(ub, dns.flags.CD if cd else 0, do)
    alive(ub)
