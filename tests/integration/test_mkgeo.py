"""redsink-mkgeo: an ISP address plan (CSV) into a MaxMind DB (issue 11).

The longest prefix wins whatever the order of the lines; host bits set and
contradictions (the same network twice with different data) are errors with
FILE:LINE, and then nothing is written. The databases are read back with
mmdblookup (Debian mmdb-bin), the reader every operator has at hand.
"""

import ipaddress
import itertools
import random
import re
import subprocess

import pytest

import harness
import rs

MKGEO = rs.mkgeo_binary()  # the C program of tools/mkgeo/, as built
MAN = harness.REPO_ROOT / "tools" / "mkgeo" / "redsink-mkgeo.1"
MMDBLOOKUP = "/usr/bin/mmdblookup"


def mkgeo(tmp_path, lines, *args, out="geo.mmdb", name="plan.csv"):
    """Run redsink-mkgeo -o out name in tmp_path, name holding lines; (result, path of the DB).
    Messages then name the files as given: plan.csv:4, written to geo.mmdb."""
    (tmp_path / name).write_text("".join(line + "\n" for line in lines))
    r = subprocess.run([str(MKGEO), "-o", out, *args, name], cwd=tmp_path, capture_output=True, text=True,
                       timeout=60)
    return r, tmp_path / out


def lookup(db, ip):
    """(country, subdivision or None) of ip in db, or None when no network covers it."""
    def field(*path):
        r = subprocess.run([MMDBLOOKUP, "--file", str(db), "--ip", ip, *path], capture_output=True, text=True,
                           timeout=30)
        m = re.search(r'"([^"]*)" <utf8_string>', r.stdout)
        return m.group(1) if m else None
    cc = field("country", "iso_code")
    return None if cc is None else (cc, field("subdivisions", "0", "iso_code"))


PLAN = [
    "0.0.0.0/0,ZZ",
    "10.0.0.0/8,IT",
    "10.1.0.0/16,IT,IT-25",
    "10.1.2.0/24,IT,21",
    "10.1.2.128/25,FR,IDF",
    "127.0.0.0/8,ZZ",
    "127.0.0.1/32,IT,IT-25",
    "2001:db8::/32,FR",
    "2001:db8:1::/48,KR,KR-11",
]
EXPECT = {
    "10.200.0.1": ("IT", None),
    "10.1.9.9": ("IT", "25"),
    "10.1.2.3": ("IT", "21"),
    "10.1.2.200": ("FR", "IDF"),
    "127.0.0.1": ("IT", "25"),
    "127.0.0.2": ("ZZ", None),
    "192.0.2.1": ("ZZ", None),
    "2001:db8:9::1": ("FR", None),
    "2001:db8:1::1": ("KR", "11"),
    "2001:db9::1": None,
}


def test_the_more_specific_network_wins_when_it_comes_second_or_first(tmp_path):
    """The issue's case: 127.0.0.1/32 and 127.0.0.0/8, in both orders."""
    for i, lines in enumerate([["127.0.0.0/8,ZZ", "127.0.0.1/32,IT,IT-25"],
                               ["127.0.0.1/32,IT,IT-25", "127.0.0.0/8,ZZ"]]):
        r, db = mkgeo(tmp_path, lines, out=f"{i}.mmdb")
        assert r.returncode == 0, r.stderr
        assert lookup(db, "127.0.0.1") == ("IT", "25"), lines
        assert lookup(db, "127.9.9.9") == ("ZZ", None), lines


def test_longest_prefix_wins_whatever_the_order(tmp_path):
    orders = [PLAN, PLAN[::-1]] + [random.Random(seed).sample(PLAN, len(PLAN)) for seed in range(3)]
    for i, lines in enumerate(orders):
        r, db = mkgeo(tmp_path, lines, out=f"{i}.mmdb")
        assert r.returncode == 0, r.stderr
        assert r.stderr == f"redsink-mkgeo: {len(PLAN)} networks written to {i}.mmdb\n", r.stderr
        got = {ip: lookup(db, ip) for ip in EXPECT}
        assert got == EXPECT, lines


def test_the_order_of_files_does_not_matter_either(tmp_path):
    (tmp_path / "aggregates.csv").write_text("10.0.0.0/8,IT\n")
    (tmp_path / "regions.csv").write_text("10.1.0.0/16,IT,IT-25\n")
    for i, files in enumerate([["regions.csv", "aggregates.csv"], ["aggregates.csv", "regions.csv"]]):
        db = tmp_path / f"{i}.mmdb"
        subprocess.run([str(MKGEO), "-o", str(db), *[str(tmp_path / f) for f in files]], check=True,
                       capture_output=True, timeout=60)
        assert lookup(db, "10.1.0.1") == ("IT", "25") and lookup(db, "10.2.0.1") == ("IT", None)


def assert_refused(r, db, *messages):
    assert r.returncode == 5, (r.returncode, r.stderr)
    for m in messages:
        assert m in r.stderr, (m, r.stderr)
    assert "nothing written" in r.stderr.splitlines()[-1], r.stderr
    assert not db.exists() and not db.with_name(db.name + ".tmp").exists()


def test_contradictions_are_errors_with_line_numbers(tmp_path):
    r, db = mkgeo(tmp_path, ["network,country,subdivision",
                             "10.0.0.0/8,IT",
                             "# the same network, other data",
                             "10.0.0.0/8,FR",
                             "127.0.0.1,KR",
                             "127.0.0.1/32,KR,KR-11",              # a bare address is its /32
                             "::10.0.0.0/104,IT"])                 # line 2's network in IPv6 form
    assert_refused(r, db, "plan.csv:4: 10.0.0.0/8 is FR here but IT at plan.csv:2",
                   "plan.csv:6: 127.0.0.1/32 is KR-11 here but KR at plan.csv:5")
    assert "plan.csv:7" in r.stderr and "repeats plan.csv:2" in r.stderr   # same data: a warning
    assert "2 errors; nothing written" in r.stderr


def test_host_bits_set_are_errors(tmp_path):
    r, db = mkgeo(tmp_path, ["10.0.0.1/8,IT", "2001:db8::1/32,FR", "10.1.0.0/16,IT", "192.0.2.0/33,IT"])
    assert_refused(r, db, "plan.csv:1: '10.0.0.1/8' has host bits set (the network is 10.0.0.0/8)",
                   "plan.csv:2: '2001:db8::1/32' has host bits set (the network is 2001:db8::/32)",
                   "plan.csv:4: '192.0.2.0/33': the prefix length must be 0 to 32")
    assert "plan.csv:3" not in r.stderr


def test_bad_input_keeps_the_old_database(tmp_path):
    r, db = mkgeo(tmp_path, ["10.0.0.0/8,IT"])
    assert r.returncode == 0
    before = db.read_bytes()
    r, _ = mkgeo(tmp_path, ["10.0.0.0/8,FR", "10.0.0.0/8,IT", "10.0.0.300/32,IT", "10.2.0.0/16,ITA",
                            "10.3.0.0/16,IT,IT-25,x"])
    assert r.returncode == 5 and "4 errors; nothing written" in r.stderr, r.stderr
    for line in range(2, 6):
        assert f"plan.csv:{line}:" in r.stderr, (line, r.stderr)
    assert db.read_bytes() == before and lookup(db, "10.0.0.1") == ("IT", None)


def test_count_is_singular_for_one_network(tmp_path):
    r, db = mkgeo(tmp_path, ["127.0.0.2/32,KR"])
    assert r.returncode == 0 and r.stderr == "redsink-mkgeo: 1 network written to geo.mmdb\n", r.stderr
    r, db = mkgeo(tmp_path, ["127.0.0.2/32,KR", "127.0.0.3,IT,IT-25"])
    assert r.returncode == 0 and r.stderr == "redsink-mkgeo: 2 networks written to geo.mmdb\n", r.stderr


def test_exit_codes(tmp_path):
    """The tools' one exit-code scheme (issue 11; sysexits 64/65/66/73 before)."""
    r = subprocess.run([str(MKGEO), "--no-such-option"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and "no-such-option" in r.stderr and "--help" in r.stderr
    assert len(r.stderr.splitlines()) == 1 and "man redsink-mkgeo" in r.stderr, r.stderr
    r = subprocess.run([str(MKGEO), "-o", str(tmp_path / "x.mmdb"), str(tmp_path / "missing.csv")],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 1 and "missing.csv" in r.stderr
    r, _ = mkgeo(tmp_path, ["10.0.0.0/8,IT"], out="no/such/dir/x.mmdb")
    assert r.returncode == 1 and "no/such/dir/x.mmdb" in r.stderr
    r = subprocess.run([str(MKGEO), "--help"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and "longest prefix wins" in r.stdout


def test_man_page_example(tmp_path):
    """The plan and the lookups of redsink-mkgeo(1), EXAMPLES, as written there."""
    man = MAN.read_text()
    plan = man.split(".\\\" example-begin", 1)[1].split("\n", 1)[1].split(".\\\" example-end", 1)[0]
    r, db = mkgeo(tmp_path, plan.strip().splitlines(), out="regions.mmdb")
    assert r.returncode == 0, r.stderr
    assert r.stderr.splitlines()[-1] + "\n" in man, r.stderr           # "6 networks written to regions.mmdb"
    shown = re.findall(r"\$ mmdblookup --file regions\.mmdb --ip (\S+) (.+)\n\s+\"(\w+)\" <utf8_string>", man)
    assert len(shown) == 3, shown
    for ip, path, value in shown:
        got = lookup(db, ip)
        assert got is not None, ip
        assert (got[1] if path.startswith("subdivisions") else got[0]) == value, (ip, path, got)
    for code in ("0", "1", "2", "5"):  # the tools' one scheme (issue 11)
        assert re.search(rf"^\.TP\n{code}\n", man, re.M), code


# ---------------------------------------------------------------------------
# The C program against a model of the rules (issue 11: it replaced the Perl
# script; both were compared on 150 random plans, see the report of that change)
# ---------------------------------------------------------------------------

def lookup_once(db, ip):
    """lookup() in one mmdblookup call: the record's strings come in key order
    (country.iso_code, then subdivisions.0.iso_code)."""
    r = subprocess.run([MMDBLOOKUP, "--file", str(db), "--ip", ip], capture_output=True, text=True, timeout=30)
    values = re.findall(r'"([^"]*)" <utf8_string>', r.stdout)
    return (values[0], values[1] if len(values) > 1 else None) if values else None


ALIASES = [(ipaddress.ip_network("::ffff:0:0/96"), 96), (ipaddress.ip_network("2001::/32"), 32),
           (ipaddress.ip_network("2002::/16"), 16)]


def model(plan, ip):
    """What the longest prefix says for ip: (country, subdivision) or None. An
    IPv6 address inside an alias is the IPv4 address it embeds."""
    a = ipaddress.ip_address(ip)
    if a.version == 6:
        for net, at in ALIASES:
            if a in net:
                a = ipaddress.IPv4Address((int(a) >> (128 - at - 32)) & 0xffffffff)
                break
    best = None
    for net, data in plan:
        if a.version == net.version and a in net and (best is None or net.prefixlen > best[0].prefixlen):
            best = (net, data)
    return best and best[1]


def test_every_boundary_follows_the_longest_prefix(tmp_path):
    """A random ISP-like plan (aggregates, more-specifics, IPv4 and IPv6, regions),
    shuffled: the first and last address of every network and the addresses
    just outside it, also in their IPv4-mapped and 6to4 forms."""
    rnd = random.Random(11)
    plan = [(ipaddress.ip_network("0.0.0.0/0"), ("ZZ", None)), (ipaddress.ip_network("2000::/3"), ("ZZ", None))]
    for agg in ("10.0.0.0/8", "192.168.0.0/16", "2001:db8::/32", "2a00:1::/32"):
        agg = ipaddress.ip_network(agg)
        plan.append((agg, (rnd.choice(["IT", "FR"]), None)))
        for _ in range(4):
            plen = rnd.choice([agg.prefixlen + 1, agg.prefixlen + 8, agg.max_prefixlen - 8, agg.max_prefixlen])
            sub = ipaddress.ip_network((int(agg.network_address) | rnd.getrandbits(agg.max_prefixlen - agg.prefixlen)
                                        & ~((1 << (agg.max_prefixlen - plen)) - 1), plen))
            if all(sub != n for n, _ in plan):
                plan.append((sub, (rnd.choice(["IT", "FR", "KR"]), rnd.choice([None, "25", "IDF"]))))
    lines = [f"{n},{cc}" + (f",{sub}" if sub else "") for n, (cc, sub) in plan]
    rnd.shuffle(lines)
    r, db = mkgeo(tmp_path, lines)
    assert r.returncode == 0, r.stderr
    ips = set()
    for n, _ in plan:
        top = (1 << n.max_prefixlen) - 1
        for x in (int(n.network_address) - 1, int(n.network_address), int(n.broadcast_address),
                  int(n.broadcast_address) + 1):
            if 0 <= x <= top:
                ips.add(str(ipaddress.ip_address(x) if n.version == 4 else ipaddress.IPv6Address(x)))
                if n.version == 4:
                    ips.add(f"::ffff:{ipaddress.IPv4Address(x)}")
                    ips.add(str(ipaddress.IPv6Address((0x2002 << 112) | (x << 80))))
    wrong = {ip: (lookup_once(db, ip), model(plan, ip)) for ip in sorted(ips)
             if lookup_once(db, ip) != model(plan, ip)}
    assert not wrong, wrong
    assert len(ips) > 100


def test_the_ipv4_aliases_cannot_be_given(tmp_path):
    r, db = mkgeo(tmp_path, ["::ffff:10.0.0.0/104,IT", "2002::/16,IT", "2001:0:1::/48,IT", "10.0.0.0/8,IT"])
    assert_refused(r, db, "plan.csv:1: ::ffff:10.0.0.0/104: Attempted to insert into an aliased network.",
                   "plan.csv:2: 2002::/16: Attempted to overwrite an aliased network.",
                   "plan.csv:3: 2001:0:1::/48: Attempted to insert into an aliased network.")
    assert "3 errors; nothing written" in r.stderr
    # a network holding an alias is accepted and leaves it in place
    r, db = mkgeo(tmp_path, ["::/0,FR", "10.0.0.0/8,IT"])
    assert r.returncode == 0, r.stderr
    assert lookup_once(db, "::ffff:10.1.2.3") == ("IT", None) and lookup_once(db, "2002:a01:203::1") == ("IT", None)
    assert lookup_once(db, "2003::1") == ("FR", None) and lookup_once(db, "11.0.0.1") == ("FR", None)


def test_same_plan_same_file_with_source_date_epoch(tmp_path):
    """Reproducible: the file depends only on the plan (and SOURCE_DATE_EPOCH)."""
    (tmp_path / "plan.csv").write_text("".join(line + "\n" for line in PLAN))
    env = {"PATH": "/usr/bin:/bin", "SOURCE_DATE_EPOCH": "1700000000"}
    for out in ("a.mmdb", "b.mmdb"):
        subprocess.run([str(MKGEO), "-o", out, "plan.csv"], cwd=tmp_path, env=env, check=True, capture_output=True,
                       timeout=60)
    assert (tmp_path / "a.mmdb").read_bytes() == (tmp_path / "b.mmdb").read_bytes()
    meta = subprocess.run([MMDBLOOKUP, "--file", str(tmp_path / "a.mmdb"), "--ip", "10.1.2.3", "--verbose"],
                          capture_output=True, text=True, timeout=30).stdout
    for want in ("Build epoch:   1700000000", "Type:          redsink-GeoIP2-City", "IP version:    IPv6",
                 "Record size:   24 bits", "Binary format: 2.0", "en:   redsink test regions (redsink-mkgeo)"):
        assert want in meta, (want, meta)
