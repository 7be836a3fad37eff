"""redsink-ctl and address prefixes (issue 13), against a real redis-server.

addip / delip / protect-ip / unprotect-ip / ip list write canonical prefixes
and one change-stream entry per prefix (ops addip, delip, protectip,
unprotectip; field prefix) in one transaction; the guards (a protected
prefix overlapped, shorter than /24 or /48) refuse with exit 3 and file:line,
unless --override --why (recorded in `override`); rejected input is exit 5.
The input formats: plain, CSV address columns, Piracy-Shield tickets (fqdn +
ipv4 + ipv6, imported end to end into the Redis keys and the stream, with the
name guards too), RPZ rpz-ip triggers; export --rpz writes them back as
rpz-ip triggers, which stock Unbound (respip + rpz:, NSD upstream) loads and
enforces on the same names; status shows a resolver's collateral alarm; log
shows the prefix.
"""
import json
import re
import time

import dns.rcode

import rs
from test_ctl import REAL, add_order, ctl, domains, ok, push, stream

K = rs.PREFIX


def ips(redis, oid):
    return redis.client().smembers(f"{K}order:{oid}:ips")


def entries(redis, op):
    return [e for e in stream(redis) if e.get("op") == op]


def test_addip_delip_write_canonical_prefixes_and_stream_entries(redis):
    add_order(redis, "o1")
    p = ok(ctl(redis, "addip", "o1", "192.0.2.0/24", "2001:DB8:0:0::/48", "198.51.100.7", "--why", "ticket 7"))
    assert re.search(r"order o1: 3 prefixes added, 0 already present \(changes \S+ \.\. \S+\)", p.stdout)
    assert "written as 2001:db8::/48" in p.stderr
    assert ips(redis, "o1") == {"192.0.2.0/24", "2001:db8::/48", "198.51.100.7/32"}
    e = entries(redis, "addip")
    assert sorted(x["prefix"] for x in e) == ["192.0.2.0/24", "198.51.100.7/32", "2001:db8::/48"]
    assert all(x["order"] == "o1" and x["by"] == "tester" and x["why"] == "ticket 7" and "override" not in x
               and "domain" not in x for x in e)
    # again: nothing to do, nothing written
    n = len(stream(redis))
    p = ok(ctl(redis, "addip", "o1", "192.0.2.0/24"))
    assert "nothing to add" in p.stdout and len(stream(redis)) == n
    # dry run
    p = ok(ctl(redis, "addip", "o1", "192.0.2.0/24", "203.0.113.0/24", "-n"))
    assert "+ 203.0.113.0/24" in p.stdout and "= 192.0.2.0/24  already listed" in p.stdout
    assert len(stream(redis)) == n
    # ip list
    d = json.loads(ok(ctl(redis, "ip", "list", "--json")).stdout)
    assert d == {"orders": {"o1": ["192.0.2.0/24", "198.51.100.7/32", "2001:db8::/48"]}, "protected": []}
    assert "o1 192.0.2.0/24" in ok(ctl(redis, "ip", "list", "o1")).stdout
    # delip
    p = ok(ctl(redis, "delip", "o1", "192.0.2.0/24", "203.0.113.0/24", "--why", "lifted", "--json"))
    r = json.loads(p.stdout)
    assert r["op"] == "delip" and r["written"] and r["prefixes_withdrawn"] == 1 and r["prefixes_not_listed"] == 1
    assert ips(redis, "o1") == {"2001:db8::/48", "198.51.100.7/32"}
    assert [(x["order"], x["prefix"], x["why"]) for x in entries(redis, "delip")] == [("o1", "192.0.2.0/24", "lifted")]
    # log shows the prefix
    p = ok(ctl(redis, "log", "--op", "delip"))
    assert "op=delip order=o1 prefix=192.0.2.0/24 by=tester why=lifted" in p.stdout
    # an order that is not there, or revoked
    assert ctl(redis, "addip", "nope", "192.0.2.0/24").returncode == 1
    ok(ctl(redis, "order", "revoke", "o1"))
    p = ctl(redis, "addip", "o1", "192.0.2.0/24")
    assert p.returncode == 1 and "revoked" in p.stderr


def test_guards_refuse_unless_overridden_with_a_reason(redis):
    add_order(redis, "o1")
    ok(ctl(redis, "protect-ip", "104.16.0.0/13", "2606:4700::/32", "--why", "Cloudflare"))
    assert redis.client().smembers(K + "protected-ips") == {"104.16.0.0/13", "2606:4700::/32"}
    assert [(x["prefix"], x["order"], x["why"]) for x in entries(redis, "protectip")] == \
        [("104.16.0.0/13", "", "Cloudflare"), ("2606:4700::/32", "", "Cloudflare")]
    n = len(stream(redis))
    for bad, why in [("104.16.5.0/24", "overlaps the protected prefix 104.16.0.0/13"),
                     ("104.0.0.0/8", "overlaps the protected prefix 104.16.0.0/13"),
                     ("198.51.0.0/16", "is shorter than /24"),
                     ("2001:db8::/32", "is shorter than /48"),
                     ("2606:4700:10::/48", "overlaps the protected prefix 2606:4700::/32")]:
        p = ctl(redis, "addip", "o1", "192.0.2.0/24", bad)
        assert p.returncode == 3, (bad, p.stderr)
        assert f"<command line>:2: refused: '{bad}' {why}" in p.stderr, p.stderr
        assert "nothing written" in p.stderr
    assert ips(redis, "o1") == set() and len(stream(redis)) == n
    # from a file: file and line
    p = ctl(redis, "addip", "o1", "--file", "-", input="# list\n192.0.2.0/24\n104.16.1.1\n")
    assert p.returncode == 3 and "<stdin>:3: refused: '104.16.1.1/32' overlaps" in p.stderr
    # --override needs a reason
    p = ctl(redis, "addip", "o1", "104.16.1.1", "--override")
    assert p.returncode == 2 and "--override needs --why" in p.stderr
    p = ok(ctl(redis, "addip", "o1", "104.16.1.1", "10.0.0.0/8", "192.0.2.0/24", "--override", "--why",
               "court order 99 names this address"))
    assert "overrides recorded" in p.stdout
    e = {x["prefix"]: x for x in entries(redis, "addip")}
    assert e["104.16.1.1/32"]["override"] == "protected-ip"
    assert e["10.0.0.0/8"]["override"] == "short-prefix"
    assert "override" not in e["192.0.2.0/24"]
    assert e["10.0.0.0/8"]["why"] == "court order 99 names this address"
    # unprotect needs a reason
    assert ctl(redis, "unprotect-ip", "104.16.0.0/13").returncode == 2
    ok(ctl(redis, "unprotect-ip", "104.16.0.0/13", "--why", "no longer shared"))
    assert [x["prefix"] for x in entries(redis, "unprotectip")] == ["104.16.0.0/13"]
    ok(ctl(redis, "addip", "o1", "104.17.0.0/24"))


def test_invalid_input_is_exit_5_with_file_and_line(redis, tmp_path):
    add_order(redis, "o1")
    f = tmp_path / "servers.txt"
    f.write_text("192.0.2.1\n10.0.0.1/8\npirate.example\n2001:db8::1%eth0\n198.51.100.0/24\n")
    n = len(stream(redis))
    p = ctl(redis, "addip", "o1", "--file", f)
    assert p.returncode == 5, p.stderr
    assert f"{f}:2: error: '10.0.0.1/8': host bits set" in p.stderr
    assert f"{f}:3: error:" in p.stderr and f"{f}:4: error:" in p.stderr
    assert "3 lines rejected: nothing written" in p.stderr
    assert len(stream(redis)) == n and ips(redis, "o1") == set()
    ok(ctl(redis, "addip", "o1", "--file", f, "--skip-invalid"))
    assert ips(redis, "o1") == {"192.0.2.1/32", "198.51.100.0/24"}
    # nothing at all, and a bad option
    assert ctl(redis, "addip", "o1", "--file", "-", input="# empty\n").returncode == 5
    assert ctl(redis, "addip", "o1").returncode == 2
    assert ctl(redis, "addip", "o1", "192.0.2.0/24", "--format", "xml").returncode == 2


def test_csv_and_rpz_ip_import_and_export_round_trip(redis, tmp_path):
    add_order(redis, "o1")
    c = tmp_path / "servers.csv"
    c.write_text("fqdn;ipv4;ipv6;note\nlive.example;198.51.100.20;2001:db8:1::20;x\nb.example;192.0.2.0/24;;y\n")
    ok(ctl(redis, "addip", "o1", "--file", c))
    assert ips(redis, "o1") == {"198.51.100.20/32", "2001:db8:1::20/128", "192.0.2.0/24"}
    z = tmp_path / "in.rpz"
    z.write_text("$ORIGIN rpz.example.\n"
                 "@ SOA localhost. h.localhost. 1 3600 600 86400 60\n"
                 "@ NS localhost.\n"
                 "24.0.113.0.203.rpz-ip CNAME .\n"
                 "48.zz.db8.2001.rpz-ip.rpz.example. CNAME .\n"
                 "128.1.zz.2.db8.2001.rpz-ip CNAME .\n"
                 "pirate.example CNAME .\n"
                 "32.9.2.0.192.rpz-ip CNAME rpz-passthru.\n")
    p = ok(ctl(redis, "addip", "o1", "--file", z, "--format", "rpz"))
    assert "name trigger ignored" in p.stderr and "passthru rule ignored" in p.stderr
    want = {"198.51.100.20/32", "2001:db8:1::20/128", "192.0.2.0/24", "203.0.113.0/24", "2001:db8::/48",
            "2001:db8:2::1/128"}
    assert ips(redis, "o1") == want
    # export: rpz-ip triggers, read back into another order: the same set
    out = tmp_path / "out.rpz"
    ok(ctl(redis, "export", "--rpz", "-o", out, "--origin", "rpz.test."))
    text = out.read_text()
    assert "24.0.113.0.203.rpz-ip CNAME ." in text and "128.1.zz.2.db8.2001.rpz-ip CNAME ." in text
    add_order(redis, "o2")
    ok(ctl(redis, "addip", "o2", "--file", out, "--format", "rpz"))
    assert ips(redis, "o2") == want
    d = json.loads(ok(ctl(redis, "export", "--json")).stdout)
    assert set(d["prefixes"]["o1"]) == want and d["protected_prefixes"] == []


def test_export_csv_holds_prefixes_and_reads_back(redis, tmp_path):
    """export --csv: a row per domain, then a row per prefix (last column):
    push reads the domains back, addip the prefixes (issue 13)."""
    import csv as csvmod
    import io
    add_order(redis, "o1")
    add_order(redis, "other")
    ok(push(redis, "o1", ["a1.example", "a2.example"]))
    ok(ctl(redis, "addip", "o1", "198.51.100.20", "2001:db8:1::/48", "192.0.2.0/24"))
    ok(ctl(redis, "addip", "other", "203.0.113.0/24"))
    rows = list(csvmod.DictReader(io.StringIO(ok(ctl(redis, "export", "--csv")).stdout)))
    assert list(rows[0])[-1] == "prefix"
    assert {(r["order"], r["domain"], r["prefix"]) for r in rows} == {
        ("o1", "a1.example", ""), ("o1", "a2.example", ""), ("o1", "", "198.51.100.20/32"),
        ("o1", "", "2001:db8:1::/48"), ("o1", "", "192.0.2.0/24"), ("other", "", "203.0.113.0/24")}
    assert all(r["state"] == "in force" and r["authority"] for r in rows)
    # one order's file, read back into a new order: the same domains and prefixes
    out = tmp_path / "o1.csv"
    ok(ctl(redis, "export", "--csv", "--order", "o1", "-o", out))
    assert "203.0.113.0/24" not in out.read_text()
    add_order(redis, "copy")
    p = ok(ctl(redis, "push", "copy", out))
    assert "3 rows with an address prefix and no domain left out (addip reads them)" in p.stderr, p.stderr
    assert "empty domain field" not in p.stderr
    assert domains(redis, "copy") == {"a1.example", "a2.example"}
    p = ok(ctl(redis, "addip", "copy", "--file", out))
    assert ips(redis, "copy") == ips(redis, "o1") == {"198.51.100.20/32", "2001:db8:1::/48", "192.0.2.0/24"}
    # a plain CSV with an empty domain cell still warns
    bad = tmp_path / "bad.csv"
    bad.write_text("domain,note\na3.example,x\n,y\n")
    p = ok(ctl(redis, "push", "copy", bad))
    assert "empty domain field" in p.stderr
    assert ctl(redis, "export", "--csv", "--order", "a:b").returncode == 2


def ticket(tmp_path, body):
    f = tmp_path / "ticket.json"
    f.write_text(json.dumps(body))
    return f


def test_piracy_shield_ticket_imported_end_to_end(redis, tmp_path):
    add_order(redis, "agcom-1")
    t = ticket(tmp_path, {"ticket_id": "PS-2026-0042", "fqdn": ["live-calcio.example", "WWW.Live-Calcio.example"],
                          "ipv4": ["198.51.100.23", "192.0.2.128/25"], "ipv6": ["2001:db8:1::20"]})
    p = ok(ctl(redis, "ticket", "import", "agcom-1", t))
    assert "order agcom-1: 2 added" in p.stdout and "3 address prefixes added" in p.stdout
    assert domains(redis, "agcom-1") == {"live-calcio.example", "www.live-calcio.example"}
    assert ips(redis, "agcom-1") == {"198.51.100.23/32", "192.0.2.128/25", "2001:db8:1::20/128"}
    s = [e for e in stream(redis) if e["op"] in ("add", "addip")]
    assert [e["op"] for e in s] == ["add", "add", "addip", "addip", "addip"]
    assert all(e["why"] == "piracy-shield ticket PS-2026-0042" and e["order"] == "agcom-1" for e in s)
    # the same as push --format piracy-shield: nothing new the second time
    p = ok(ctl(redis, "push", "agcom-1", "--format", "piracy-shield", t, "--json"))
    r = json.loads(p.stdout)
    assert r["added"] == 0 and r["prefixes_added"] == 0 and r["prefixes_already_present"] == 3


def test_ticket_import_after_double_dash(redis, tmp_path):
    """`ticket import ORDER -- FILE`: the format it adds goes before the user's arguments, so after
    a "--" it is not taken for file names."""
    add_order(redis, "agcom-1")
    t = ticket(tmp_path, {"ticket_id": "PS-1", "fqdn": ["dash.example"], "ipv4": ["198.51.100.24"]})
    p = ok(ctl(redis, "ticket", "import", "agcom-1", "--json", "--", t))
    r = json.loads(p.stdout)
    assert r["added"] == 1 and r["prefixes_added"] == 1
    assert domains(redis, "agcom-1") == {"dash.example"}
    assert ips(redis, "agcom-1") == {"198.51.100.24/32"}


def test_ticket_guards_names_and_prefixes_all_or_nothing(redis, tmp_path):
    add_order(redis, "agcom-1")
    ok(ctl(redis, "protect", "add", "drive.google.example", "--why", "x"))
    ok(ctl(redis, "protect-ip", "142.250.0.0/15", "--why", "Google"))
    n = len(stream(redis))
    # a public suffix among the names: nothing written, the prefixes neither
    t = ticket(tmp_path, {"fqdn": ["pirate.example", "com"], "ipv4": ["198.51.100.23"]})
    p = ctl(redis, "ticket", "import", "agcom-1", t)
    assert p.returncode == 3 and "public suffix" in p.stderr
    # a protected name
    t = ticket(tmp_path, {"fqdn": ["drive.google.example"], "ipv4": ["198.51.100.23"]})
    assert ctl(redis, "ticket", "import", "agcom-1", t).returncode == 3
    # a protected prefix (the Google Drive outage of October 2024), and a /16
    t = ticket(tmp_path, {"ticket_id": 7, "fqdn": ["pirate.example"], "ipv4": ["142.250.180.14", "198.51.0.0/16"]})
    p = ctl(redis, "ticket", "import", "agcom-1", t)
    assert p.returncode == 3
    assert "ticket.json:1: refused: '142.250.180.14/32' overlaps the protected prefix 142.250.0.0/15" in p.stderr
    assert "'198.51.0.0/16' is shorter than /24" in p.stderr
    assert len(stream(redis)) == n and domains(redis, "agcom-1") == set() and ips(redis, "agcom-1") == set()
    # overridden with a reason: written and recorded
    ok(ctl(redis, "ticket", "import", "agcom-1", t, "--override", "--reason", "confirmed by AGCOM"))
    e = {x["prefix"]: x for x in entries(redis, "addip")}
    assert e["142.250.180.14/32"]["override"] == "protected-ip"
    assert e["198.51.0.0/16"]["override"] == "short-prefix"
    assert domains(redis, "agcom-1") == {"pirate.example"}
    # not a ticket
    t = ticket(tmp_path, ["a.example"])
    assert ctl(redis, "ticket", "import", "agcom-1", t).returncode != 0


def test_rpz_ip_export_blocks_the_same_names_in_stock_unbound(redis, make_unbound, tmp_path):
    add_order(redis, "o-sink")
    add_order(redis, "o-nx", action="nxdomain")
    ok(ctl(redis, "addip", "o-sink", REAL["pirate.example"], "2001:db8:1::20"))   # pirate.example's A and AAAA
    ok(ctl(redis, "addip", "o-nx", REAL["a1.example"], REAL["a2.example"]))
    ok(ctl(redis, "protect-ip", REAL["a2.example"], "--why", "shared"))           # left out of the export
    zone = tmp_path / "redsink.rpz"
    ok(ctl(redis, "export", "--rpz", "-o", zone, "--origin", "rpz.test.", "--sinkhole-ipv4", rs.SINK4))
    text = zone.read_text()
    assert "32.20.100.51.198.rpz-ip A 192.0.2.1" in text
    assert "32.62.100.51.198.rpz-ip CNAME rpz-passthru." in text
    ub = make_unbound(ready_query=("ns.example", "A"), extra_conf=(
        '    module-config: "respip validator iterator"\n'
        "\n"
        "rpz:\n"
        '    name: "rpz.test."\n'
        f'    zonefile: "{zone}"\n'))

    def answer(name):
        r = ub.query(name, "A")
        return dns.rcode.to_text(r.rcode()), sorted(x[3] for x in rs.rrs(r) if x[1] == "A")
    assert answer("pirate.example") == ("NOERROR", [rs.SINK4])
    assert answer("a1.example") == ("NXDOMAIN", [])
    assert answer("a2.example") == ("NOERROR", [REAL["a2.example"]])
    assert answer("ok.example") == ("NOERROR", [REAL["ok.example"]])
    assert answer("www.pirate.example") == ("NOERROR", [REAL["www.pirate.example"]])


def test_status_shows_the_collateral_alarm(redis):
    c = redis.client()
    now = int(time.time())
    c.hset(K + "resolver:r1", mapping={"seen_at": now, "link": "up", "version": "x",
                                       "collateral": "104.16.0.0/24=812 junk 2001:db8::/48=77"})
    p = ctl(redis, "status")
    assert "COLLATERAL ALARM: resolver r1: prefix 104.16.0.0/24 blocked 812 distinct names this hour" in p.stdout
    assert "prefix 2001:db8::/48 blocked 77" in p.stdout
    assert "1 malformed collateral entry" in p.stdout
    d = json.loads(ctl(redis, "status", "--json").stdout)
    r = d["resolvers"][0]
    assert r["collateral_alarm"] == [{"prefix": "104.16.0.0/24", "names": 812}, {"prefix": "2001:db8::/48", "names": 77}]
    p = ctl(redis, "status", "--check")
    assert "warning: resolver r1: collateral alarm: prefix 104.16.0.0/24" in p.stderr


def test_confirm_ip_and_suspended_prefixes_in_status(redis):
    c = redis.client()
    n = len(stream(redis))
    p = ctl(redis, "confirm-ip", "104.16.0.0/24")
    assert p.returncode == 2 and "confirm-ip needs --why" in p.stderr      # the reason is required
    assert not c.exists(K + "confirmed-ips") and len(stream(redis)) == n
    p = ok(ctl(redis, "confirm-ip", "104.16.0.0/24", "2001:DB8::/48", "--why", "ticket 9: dedicated", "--by", "alice"))
    assert "confirmed 104.16.0.0/24" in p.stdout
    assert c.smembers(K + "confirmed-ips") == {"104.16.0.0/24", "2001:db8::/48"}
    # the audit record: one entry per prefix, who and why (resolvers ignore it)
    assert [(x["prefix"], x["order"], x["by"], x["why"]) for x in entries(redis, "confirmip")] == [
        ("104.16.0.0/24", "", "alice", "ticket 9: dedicated"), ("2001:db8::/48", "", "alice", "ticket 9: dedicated")]
    assert len(stream(redis)) == n + 2
    assert ctl(redis, "confirm-ip", "10.0.0.1/8", "--why", "x").returncode == 5
    n = len(stream(redis))
    ok(ctl(redis, "confirm-ip", "104.16.0.0/24", "--why", "again"))           # nothing to change: no entry
    assert len(stream(redis)) == n
    ok(ctl(redis, "unconfirm-ip", "2001:db8::/48"))
    assert c.smembers(K + "confirmed-ips") == {"104.16.0.0/24"}
    assert [x["prefix"] for x in entries(redis, "unconfirmip")] == ["2001:db8::/48"]
    # redsink-ctl log shows them, and filters by op
    p = ok(ctl(redis, "log", "--op", "confirmip"))
    lines = [ln for ln in p.stdout.splitlines() if "op=confirmip" in ln]
    assert len(lines) == 2 and "prefix=104.16.0.0/24" in lines[0] and "by=alice" in lines[0], p.stdout
    assert 'why="ticket 9: dedicated"' in lines[0], p.stdout
    js = [json.loads(ln) for ln in ok(ctl(redis, "log", "--op", "unconfirmip", "--json")).stdout.splitlines()]
    assert [(e["op"], e["prefix"]) for e in js] == [("unconfirmip", "2001:db8::/48")]
    c.hset(K + "resolver:r1", mapping={"seen_at": int(time.time()), "link": "up",
                                       "collateral_suspended": "198.51.100.0/24 <junk>"})
    p = ctl(redis, "status")
    assert ("COLLATERAL SUSPENDED: resolver r1: prefix 198.51.100.0/24 no longer triggers blocks until confirmed "
            "('redsink-ctl confirm-ip 198.51.100.0/24')") in p.stdout
    assert "<junk>" not in p.stdout


def test_ticket_enforced_by_a_resolver(redis, make_unbound, tmp_path):
    """The imported ticket, end to end: its names blocked by name, a name on its address blocked by address."""
    add_order(redis, "agcom-2")
    ub = rs.start_resolver(make_unbound, redis, tmp_path)
    assert rs.first_a(ub, "mail.pirate.example") == REAL.get("mail.pirate.example", "198.51.100.23")
    t = ticket(tmp_path, {"ticket_id": "PS-9", "fqdn": ["a1.example"], "ipv4": ["198.51.100.23"],
                          "ipv6": ["2001:db8:1::20"]})
    ok(ctl(redis, "ticket", "import", "agcom-2", t))
    rs.wait_for(lambda: rs.first_a(ub, "a1.example"), rs.SINK4, timeout=5)
    # mail.pirate.example is in no ticket: its address is (cached before the import: purged)
    rs.wait_for(lambda: rs.first_a(ub, "mail.pirate.example"), rs.SINK4, timeout=5)
    assert rs.first_a(ub, "ok.example") == REAL["ok.example"]


def test_members_written_in_another_text_are_seen_and_removed(redis, make_unbound, tmp_path):
    """The resolvers read a set's members with rs_prefix_parse, which takes an address without
    a length or upper-case IPv6 (written with redis-cli, say): the tools read them the same way.
    ip list shows them (flagged), export writes their prefix, the protected-prefix guard sees
    them, addip finds them present, delip / unprotect-ip remove the exact text stored, and the
    resolver stops blocking."""
    add_order(redis, "o1")
    c = redis.client()
    a2 = REAL["a2.example"]
    c.sadd(f"{K}order:o1:ips", a2, "2001:DB8:5::/48", "not-a-prefix")
    c.sadd(K + "protected-ips", "2606:4700:0::/32")
    ub = rs.start_resolver(make_unbound, redis, tmp_path)
    rs.wait_for(lambda: rs.first_a(ub, "a2.example"), rs.SINK4, timeout=5)
    # ip list: the prefixes, flagged with their stored text
    p = ok(ctl(redis, "ip", "list"))
    assert f"o1 {a2}/32  (stored as '{a2}': not canonical)" in p.stdout, p.stdout
    assert "o1 2001:db8:5::/48  (stored as '2001:DB8:5::/48': not canonical)" in p.stdout
    assert "protected 2606:4700::/32  (stored as '2606:4700:0::/32': not canonical)" in p.stdout
    assert "skipping 'not-a-prefix'" in p.stderr
    d = json.loads(ok(ctl(redis, "ip", "list", "--json")).stdout)
    assert d["orders"] == {"o1": [f"{a2}/32", "2001:db8:5::/48"]} and d["protected"] == ["2606:4700::/32"]
    assert {(x["set"], x["stored"], x["prefix"]) for x in d["not_canonical"]} == {
        ("order:o1:ips", a2, f"{a2}/32"), ("order:o1:ips", "2001:DB8:5::/48", "2001:db8:5::/48"),
        ("protected-ips", "2606:4700:0::/32", "2606:4700::/32")}
    # export: the prefixes, canonical, with a warning naming the stored text
    p = ok(ctl(redis, "export", "--csv"))
    assert f",{a2}/32" in p.stdout and ",2001:db8:5::/48" in p.stdout, p.stdout
    assert f"'{a2}' is not in canonical form" in p.stderr
    # the protected-prefix guard sees the protected member
    p = ctl(redis, "addip", "o1", "2606:4700:1::/48")
    assert p.returncode == 3 and "overlaps the protected prefix 2606:4700::/32" in p.stderr, p.stderr
    # addip: already there
    n = len(stream(redis))
    p = ok(ctl(redis, "addip", "o1", a2, "-n"))
    assert f"= {a2}/32  already listed  (stored as '{a2}')" in p.stdout, p.stdout
    assert "nothing to add" in ok(ctl(redis, "addip", "o1", a2)).stdout and len(stream(redis)) == n
    # delip removes the stored text; the entries name the canonical prefix
    p = ok(ctl(redis, "delip", "o1", a2, "2001:db8:5::/48", "--why", "lifted", "-n"))
    assert f"- {a2}/32  (stored as '{a2}')" in p.stdout, p.stdout
    p = ok(ctl(redis, "delip", "o1", a2, "2001:db8:5::/48", "--why", "lifted"))
    assert "order o1: 2 prefixes removed" in p.stdout, p.stdout
    assert ips(redis, "o1") == {"not-a-prefix"}
    assert sorted(x["prefix"] for x in entries(redis, "delip")) == [f"{a2}/32", "2001:db8:5::/48"]
    rs.wait_for(lambda: rs.first_a(ub, "a2.example"), a2, timeout=5)
    # unprotect-ip likewise
    ok(ctl(redis, "unprotect-ip", "2606:4700::/32", "--why", "moved"))
    assert c.smembers(K + "protected-ips") == set()
    ok(ctl(redis, "addip", "o1", "2606:4700:1::/48"))
