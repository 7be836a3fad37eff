"""Hit regions from a MaxMind-format database built with tools/mkgeo/redsink-mkgeo."""

import subprocess

import harness
import rs
from test_stats import ask, assert_counted, hits


def mkgeo(tmp_path, rows):
    """A MaxMind-format database from prefix,country[,subdivision] rows, built with
    tools/mkgeo/redsink-mkgeo (the same tool ISPs use for their address plan)."""
    csv = tmp_path / "plan.csv"
    csv.write_text("".join(",".join(r) + "\n" for r in rows))
    db = tmp_path / "plan.mmdb"
    subprocess.run([rs.mkgeo_binary(), "-o", str(db), str(csv)], check=True)
    return db


def test_regions_from_the_geoip_database(redis, make_unbound, tmp_path):
    db = mkgeo(tmp_path, [("127.0.0.2/32", "KR", "11"), ("127.0.0.3/32", "IT", "25"), ("127.0.0.4/32", "FR")])
    c = redis.client()
    rs.put_order(c, "o1", ["pirate.example"])
    ub = rs.start_resolver(make_unbound, redis, tmp_path, {"stats_flush_interval": "1", "geoip_database": str(db)})
    for src, n in (("127.0.0.2", 4), ("127.0.0.3", 2), ("127.0.0.4", 1), ("127.0.0.5", 3)):
        for _ in range(n):
            ask(ub, "www.pirate.example", src)
    assert_counted(lambda: hits(c), {"o1|pirate.example|KR-11": 4, "o1|pirate.example|IT-25": 2,
                                     "o1|pirate.example|FR": 1, "o1|pirate.example|ZZ": 3})


def test_country_only_when_subdivisions_are_off(redis, make_unbound, tmp_path):
    db = mkgeo(tmp_path, [("127.0.0.2/32", "KR", "11")])
    c = redis.client()
    rs.put_order(c, "o1", ["pirate.example"])
    ub = rs.start_resolver(make_unbound, redis, tmp_path, {"stats_flush_interval": "1", "geoip_database": str(db),
                                                           "geoip_subdivision_field": "none"})
    ask(ub, "pirate.example", "127.0.0.2")
    assert_counted(lambda: hits(c), {"o1|pirate.example|KR": 1})


