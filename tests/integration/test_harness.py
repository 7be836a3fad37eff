"""Smoke tests of the integration harness itself, with NO redsink module.

Proves that plain Unbound resolves through the stub to NSD on loopback, that
EDNS-less queries work, that names outside example. never leave loopback,
and that the Redis fixture can be stopped and started again.
"""

import dns.flags
import dns.rcode
import dns.rdatatype
import pytest
import redis as redis_py

import harness


def _addresses(resp, rdtype=dns.rdatatype.A):
    """All addresses of the given type in the answer section, as text."""
    return sorted(rd.to_text() for rrset in resp.answer
                  if rrset.rdtype == rdtype for rd in rrset)


def test_nsd_serves_zone(nsd):
    resp = nsd.query("ok.example", "A")
    assert resp.rcode() == dns.rcode.NOERROR
    assert resp.flags & dns.flags.AA
    assert _addresses(resp) == ["198.51.100.10"]


def test_plain_unbound_resolves_via_stub(make_unbound):
    ub = make_unbound()
    resp = ub.query("ok.example", "A")
    assert resp.rcode() == dns.rcode.NOERROR
    assert resp.flags & dns.flags.RA
    assert _addresses(resp) == ["198.51.100.10"]
    # same over TCP, and another type
    resp6 = ub.query("ok.example", "AAAA", tcp=True)
    assert _addresses(resp6, dns.rdatatype.AAAA) == ["2001:db8:1::10"]
    assert "dynlib" not in ub.control("status")


def test_cname_is_followed(make_unbound):
    ub = make_unbound()
    resp = ub.query("cname-to-pirate.example", "A")
    assert resp.rcode() == dns.rcode.NOERROR
    cnames = [rrset for rrset in resp.answer
              if rrset.rdtype == dns.rdatatype.CNAME]
    assert [c[0].target.to_text() for c in cnames] == ["www.pirate.example."]
    assert _addresses(resp) == ["198.51.100.21"]


def test_query_without_edns_gets_no_opt(make_unbound):
    ub = make_unbound()
    resp = ub.query("ok.example", "A", use_edns=False)
    assert resp.edns == -1          # dnspython: -1 means no OPT record
    assert resp.opt is None
    assert _addresses(resp) == ["198.51.100.10"]
    # and with EDNS the OPT comes back
    assert ub.query("ok.example", "A").edns == 0


def test_outside_example_stays_local(make_unbound):
    """Names outside example. are refused by NSD -> SERVFAIL, at once."""
    ub = make_unbound()
    resp = ub.query("www.example.com", "A", timeout=5)
    assert resp.rcode() == dns.rcode.SERVFAIL


def test_reload_keeps_answering(make_unbound):
    ub = make_unbound()
    pid = ub.pid
    ub.reload()
    assert ub.pid == pid
    assert _addresses(ub.query("www.ok.example", "A")) == ["198.51.100.11"]


def test_bad_module_refuses_to_start(make_unbound, tmp_path):
    fail = make_unbound.expect_failure(module_so=tmp_path / "missing.so")
    assert fail.rc != 0
    assert "failed to setup modules" in fail.log


def test_redis_ping_and_restart(redis):
    client = redis.client()
    assert client.ping()
    client.set("k", "v")
    assert client.get("k") == "v"
    port, old_pid = redis.port, redis.pid

    redis.stop()
    assert not redis.running()
    with pytest.raises(redis_py.exceptions.ConnectionError):
        redis.client(socket_connect_timeout=1).ping()

    redis.start()
    assert redis.port == port and redis.pid != old_pid
    assert redis.url == f"127.0.0.1:{port}"
    fresh = redis.client()
    assert fresh.ping()
    assert fresh.get("k") is None       # no persistence across restarts


def test_free_port_is_unique():
    ports = {harness.free_port() for _ in range(20)}
    assert len(ports) == 20
