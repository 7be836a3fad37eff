"""redsink-stats discovered / collateral against a real redis-server (issue 13).

The discovered:<hour> hashes ("<name>|<order>|<prefix>" -> blocked replies)
are written here directly with redis-py, as the module writes them: the
per-name rows (replies, first and last hour, hours seen) and the prefixes
over a distinct-name threshold are checked in table, CSV and JSON against
what is computed here; --order and the window filter; hostile fields (too
many or too few '|', bad prefixes, huge or negative counts, a key of the
wrong type) are skipped and counted, never shown; only the window's hour keys
are read. End to end, a real resolver writes what the tool reads: odd query
names in the one discovered form (lib/disc.h) with none malformed, address
hits under their prefix (top --by domain), and the discovered-names index.

The tool is $REDSINK_STATS; else the redsink-stats of the build $REDSINK_MODULE
comes from; else build/redsink/tools/stats/redsink-stats.
"""
import csv
import datetime
import io
import json
import os
import subprocess
from pathlib import Path

import harness
import rs

PREFIX = "redsink:"
EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)
H0 = int((datetime.datetime(2026, 3, 1, tzinfo=datetime.timezone.utc) - EPOCH).total_seconds()) // 3600


def hkey(h):
    return (EPOCH + datetime.timedelta(hours=h)).strftime("%Y-%m-%dT%H")


def hiso(h):
    return (EPOCH + datetime.timedelta(hours=h)).strftime("%Y-%m-%dT%H:00:00Z")


def stats_binary():
    if os.environ.get("REDSINK_STATS"):
        return os.environ["REDSINK_STATS"]
    if os.environ.get("REDSINK_MODULE"):
        b = Path(os.environ["REDSINK_MODULE"]).resolve().parents[2] / "tools" / "stats" / "redsink-stats"
        if b.exists():
            return str(b)
    return str(harness.REPO_ROOT / "build" / "redsink" / "tools" / "stats" / "redsink-stats")


def stats(redis, *args):
    e = {k: v for k, v in os.environ.items() if not k.startswith("REDSINK_")}
    e["ASAN_OPTIONS"] = "detect_leaks=1:abort_on_error=0:exitcode=99"
    p = subprocess.run([stats_binary(), "--redis", redis.url, *map(str, args)], capture_output=True, text=True,
                       env=e, timeout=60)
    assert "Sanitizer" not in p.stderr and "runtime error:" not in p.stderr, p.stderr
    return p


def ok(p):
    assert p.returncode == 0, f"exit {p.returncode}\n{p.stdout}\n{p.stderr}"
    return p


WINDOW = ("--from", hiso(H0), "--to", hiso(H0 + 6))

# the hops of a pirate server on 198.51.100.20: mirror1 in hour 0 and 1, mirror2 from hour 2;
# a shared CDN range 104.16.0.0/24 catching 60 names in hour 3 (two orders list it)
DATA = {
    H0: {"mirror1.example|o-sport|198.51.100.20/32": 12},
    H0 + 1: {"mirror1.example|o-sport|198.51.100.20/32": 3, "mirror1.example|o-film|2001:db8:1::/48": 2},
    H0 + 2: {"mirror2.example|o-sport|198.51.100.20/32": 40},
    H0 + 3: {**{f"site{i}.example|o-sport|104.16.0.0/24": 1 for i in range(60)},
             "site0.example|o-film|104.16.0.0/24": 5,
             "mirror2.example|o-sport|198.51.100.20/32": 7, "mirror3.example|o-sport|198.51.100.20/32": 1},
    H0 + 9: {"later.example|o-sport|198.51.100.20/32": 99},      # outside the window
}
HOSTILE = {
    "a.example|o-sport": 1,                                      # one '|'
    "a.example|o-sport|192.0.2.0/24|x": 1,                       # three
    "a.example|o-sport|10.0.0.1/8": 1,                           # host bits
    "a.example|o-sport|not-a-prefix": 1,
    "a..example|o-sport|192.0.2.0/24": 1,                        # not a name
    "a.example|o:x|192.0.2.0/24": 1,                             # not an order id
    "b.example|o-sport|192.0.2.0/24": "9223372036854775808",     # past INT64_MAX
    "c.example|o-sport|192.0.2.0/24": "-3",
    "d.example|o-sport|192.0.2.0/24": "lots",
    "<script>.example|o-sport|192.0.2.0/24": 1,
}


def load(redis):
    c = redis.client()
    for h, fields in DATA.items():
        c.hset(PREFIX + f"discovered:{hkey(h)}", mapping=fields)
    c.hset(PREFIX + f"discovered:{hkey(H0 + 4)}", mapping=HOSTILE)
    c.set(PREFIX + f"discovered:{hkey(H0 + 5)}", "not a hash")
    return c


def test_discovered_rows_in_every_format(redis):
    load(redis)
    p = ok(stats(redis, "discovered", *WINDOW, "--json"))
    d = json.loads(p.stdout)
    assert d["command"] == "discovered" and d["malformed"] == len(HOSTILE)
    rows = {(r["name"], r["order"], r["prefix"]): r for r in d["rows"]}
    m1 = rows[("mirror1.example", "o-sport", "198.51.100.20/32")]
    assert (m1["replies"], m1["first_hour"], m1["last_hour"], m1["hours"]) == (15, hiso(H0), hiso(H0 + 1), 2)
    m2 = rows[("mirror2.example", "o-sport", "198.51.100.20/32")]
    assert (m2["replies"], m2["first_hour"], m2["last_hour"], m2["hours"]) == (47, hiso(H0 + 2), hiso(H0 + 3), 2)
    assert rows[("mirror1.example", "o-film", "2001:db8:1::/48")]["replies"] == 2
    assert ("later.example", "o-sport", "198.51.100.20/32") not in rows     # outside the window
    assert len(rows) == 3 + 1 + 60 + 1     # mirror1 (twice), mirror2, mirror3, the 60 sites, site0 again
    # sorted by the first hour seen: the hops in order
    firsts = [r["first_hour"] for r in d["rows"]]
    assert firsts == sorted(firsts)
    assert "skipped 10 malformed discovered fields" in p.stderr
    assert "<script>" not in p.stdout
    # CSV: the same rows
    p = ok(stats(redis, "discovered", *WINDOW, "--csv"))
    rd = list(csv.DictReader(io.StringIO(p.stdout)))
    assert {(r["name"], r["order"], r["prefix"], int(r["replies"])) for r in rd} == \
        {(k[0], k[1], k[2], v["replies"]) for k, v in rows.items()}
    # table
    p = ok(stats(redis, "discovered", *WINDOW, "--order", "o-sport"))
    assert "mirror2.example" in p.stdout and "2001:db8:1::/48" not in p.stdout
    assert "(10 malformed fields skipped)" in p.stdout


def test_collateral_over_the_threshold(redis):
    load(redis)
    d = json.loads(ok(stats(redis, "collateral", *WINDOW, "--json")).stdout)
    assert d["threshold"] == 50
    assert d["rows"] == [{"hour": hiso(H0 + 3), "prefix": "104.16.0.0/24", "domains": 60, "names": 60, "orders": 2,
                          "replies": 65}]
    # a dedicated server never gets there: 1 distinct name an hour
    d = json.loads(ok(stats(redis, "collateral", *WINDOW, "--threshold", "1", "--json")).stdout)
    assert [(r["prefix"], r["names"]) for r in d["rows"]] == [("104.16.0.0/24", 60), ("198.51.100.20/32", 2)]
    assert hiso(H0 + 3) == d["rows"][1]["hour"]
    p = ok(stats(redis, "collateral", *WINDOW, "--csv", "--order", "o-film", "--threshold", "0"))
    rd = list(csv.DictReader(io.StringIO(p.stdout)))
    assert [(r["prefix"], r["names"]) for r in rd] == [("2001:db8:1::/48", "1"), ("104.16.0.0/24", "1")]
    p = ok(stats(redis, "collateral", *WINDOW))
    assert "104.16.0.0/24" in p.stdout and "more than 50 distinct registrable domains" in p.stdout


def test_collateral_counts_registrable_domains_as_the_module_does(redis):
    """The unit is the module's (lib/disc.h rs_disc_base): a wildcard on the
    blocked party's own address (60 made-up names of pirate.example) is one
    domain, never the signature of a shared address; under a co.uk-like
    second level three labels make the domain (issue 13)."""
    c = redis.client()
    h = H0 + 1
    fields = {f"rand{i}.pirate.example|o-sport|203.0.113.9/32": 1 for i in range(60)}
    fields.update({f"x{i}.pirate.co.uk|o-sport|203.0.113.9/32": 1 for i in range(5)})
    fields.update({f"site{i}.example|o-sport|104.16.1.0/24": 1 for i in range(3)})
    fields["a.b.other.co.uk|o-sport|104.16.1.0/24"] = 2
    c.hset(PREFIX + f"discovered:{hkey(h)}", mapping=fields)
    d = json.loads(ok(stats(redis, "collateral", *WINDOW, "--threshold", "3", "--json")).stdout)
    assert d["rows"] == [{"hour": hiso(h), "prefix": "104.16.1.0/24", "domains": 4, "names": 4, "orders": 1,
                          "replies": 5}]
    d = json.loads(ok(stats(redis, "collateral", *WINDOW, "--threshold", "0", "--json")).stdout)
    rows = {r["prefix"]: (r["domains"], r["names"]) for r in d["rows"]}
    assert rows == {"104.16.1.0/24": (4, 4), "203.0.113.9/32": (2, 65)}
    rd = list(csv.DictReader(io.StringIO(ok(stats(redis, "collateral", *WINDOW, "--threshold", "1", "--csv")).stdout)))
    assert [(r["prefix"], r["domains"], r["names"]) for r in rd] == [("104.16.1.0/24", "4", "4"),
                                                                      ("203.0.113.9/32", "2", "65")]
    p = ok(stats(redis, "collateral", *WINDOW, "--threshold", "2"))
    assert "registrable domains" in p.stdout and "DOMAINS" in p.stdout and "203.0.113.9/32" not in p.stdout


def test_usage_and_options(redis):
    p = stats(redis, "collateral", "--threshold", "x")
    assert p.returncode == 2 and "--threshold" in p.stderr
    p = stats(redis, "discovered", "--region", "IT")
    assert p.returncode == 2 and "does not take --region" in p.stderr
    p = stats(redis, "discovered", "--help")
    assert p.returncode == 0 and "no small-count suppression" in p.stdout
    p = ok(stats(redis, "discovered", "--last", "2h", "--json"))
    assert json.loads(p.stdout)["rows"] == []


def test_the_module_writes_what_the_tool_reads(redis, make_unbound, tmp_path):
    """Names caught by an address trigger (a wildcard on a listed address), odd ones included
    (a '|', a space, upper case), as a real resolver writes them: redsink-stats reads every
    field as written (nothing malformed), shows the address hits under the prefix (top --by
    domain), and the discovered-names index maps every name to order|prefix."""
    c = redis.client()
    rs.put_order(c, "o-wild", [])
    p = c.pipeline(transaction=True)
    p.sadd(PREFIX + "order:o-wild:ips", "198.51.100.70/32")
    p.xadd(PREFIX + "changes", {"op": "addip", "order": "o-wild", "prefix": "198.51.100.70/32", "by": "test"})
    p.execute()
    ub = rs.start_resolver(make_unbound, redis, tmp_path, {"stats_flush_interval": "1"})
    asked = {"plain.wild.example": "plain.wild.example", "a\\124b.wild.example": "a\\124b.wild.example",
             "x\\032y.wild.example": "x\\032y.wild.example", "UP.Wild.EXAMPLE": "up.wild.example"}
    for q in asked:
        rs.wait_for(lambda: rs.first_a(ub, q), rs.SINK4, timeout=5, step=0.1)
    hour = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H")
    want = {f"{n}|o-wild|198.51.100.70/32" for n in asked.values()}
    rs.wait_for(lambda: set(c.hkeys(PREFIX + "discovered:" + hour)) >= want, True, timeout=8, step=0.2)
    idx = c.hgetall(PREFIX + "discovered-names:" + hour)
    assert {n: idx.get(n) for n in asked.values()} == {n: "o-wild|198.51.100.70/32" for n in asked.values()}
    assert c.ttl(PREFIX + "discovered-names:" + hour) > 80 * 86400       # as discovered: (stats-retention)
    d = json.loads(ok(stats(redis, "discovered", "--last", "2h", "--json")).stdout)
    assert d["malformed"] == 0
    assert {r["name"] for r in d["rows"]} >= set(asked.values())
    t = json.loads(ok(stats(redis, "top", "--by", "domain", "--last", "2h", "--no-suppression", "--json")).stdout)
    assert [r["domain"] for r in t["rows"]] == ["198.51.100.70/32"]
    assert t.get("malformed", 0) == 0
