"""redsink-stats against a real redis-server: hit counters written with
redis-py for several hours, orders, domains and regions; every subcommand in
every format checked against counts computed here from Redis itself; privacy
suppression (primary and complementary) in every output; JSON/CSV validity;
the keys read (only the window's hours, never KEYS/SCAN); Redis access and
exit codes; and the HTML report rendered by headless Chromium.

The tool is $REDSINK_STATS; else the redsink-stats of the build $REDSINK_MODULE
comes from (so the ASan run of scripts/test.sh tests the ASan build); else
build/redsink/tools/stats/redsink-stats.
"""

import csv
import datetime
import html as htmllib
import io
import json
import os
import random
import re
import shutil
import signal
import subprocess
from pathlib import Path

import pytest

import harness

EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)
PREFIX = "redsink:"

ORDERS = {
    "RG-1234": {"authority": "Tribunale di Milano", "reference": "RG 1234/2026", "scope": "IT",
                "action": "sinkhole"},
    "KCSC-77": {"authority": "\ubc29\uc1a1\ud1b5\uc2e0\uc2ec\uc758\uc704\uc6d0\ud68c", "reference": "2026-77",
                "scope": "KR", "action": "sinkhole"},
    # an order id and texts that must be escaped everywhere
    "UK<HC>&1": {"authority": 'High Court <Chancery> & "Co"', "reference": "HC-2026-001", "scope": "GB",
                 "action": "sinkhole"},
}
# order -> domains, and region -> typical hits per hour (small ones give cells below 10)
DOMAINS = {"RG-1234": ["calcio-live.example", "streamfree.example"],
           "KCSC-77": ["toonkor.example"],
           "UK<HC>&1": ["films4u.example", "xn--bcher-kva.example"]}
REGIONS = {"RG-1234": {"IT-25": 40, "IT-21": 12, "IT": 3, "ZZ": 1},
           "KCSC-77": {"KR-11": 60, "KR-26": 8, "KR": 2},
           "UK<HC>&1": {"GB-ENG": 30, "GB-SCT": 4, "ZZ": 1}}

START = "2026-03-01T00:00:00Z"   # the data: 72 hours from here
HOURS = 72


def hnum(iso):
    """Hour number (Unix time / 3600) of an RFC 3339 UTC time."""
    t = datetime.datetime.strptime(iso, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=datetime.timezone.utc)
    return int((t - EPOCH).total_seconds()) // 3600


def hkey(h):
    return (EPOCH + datetime.timedelta(hours=h)).strftime("%Y-%m-%dT%H")


def hiso(h):
    return (EPOCH + datetime.timedelta(hours=h)).strftime("%Y-%m-%dT%H:00:00Z")


def day(h):
    return (EPOCH + datetime.timedelta(hours=h)).strftime("%Y-%m-%d")


H0 = hnum(START)
H1 = H0 + HOURS


# ---------------------------------------------------------------------------
# The tool
# ---------------------------------------------------------------------------

def stats_binary():
    if os.environ.get("REDSINK_STATS"):
        return os.environ["REDSINK_STATS"]
    if os.environ.get("REDSINK_MODULE"):
        b = Path(os.environ["REDSINK_MODULE"]).resolve().parents[2] / "tools" / "stats" / "redsink-stats"
        if b.exists():
            return str(b)
    return str(harness.REPO_ROOT / "build" / "redsink" / "tools" / "stats" / "redsink-stats")


def run(redis, *args, rc=0, env=None, url=None):
    """Run redsink-stats against redis; check the exit status; return the result."""
    e = {k: v for k, v in os.environ.items() if not k.startswith("REDSINK_")}
    e["REDSINK_REDIS"] = url or redis.url
    e.update(env or {})
    p = subprocess.run([stats_binary()] + [str(a) for a in args], env=e, capture_output=True, timeout=60)
    # decoded here, not with text=True, which would turn CSV's CRLF into LF
    p.stdout, p.stderr = p.stdout.decode(), p.stderr.decode()
    assert p.returncode == rc, f"exit {p.returncode}, wanted {rc}\nstdout:\n{p.stdout}\nstderr:\n{p.stderr}"
    if "AddressSanitizer" in p.stderr or "runtime error:" in p.stderr:
        pytest.fail("sanitizer report:\n" + p.stderr)
    return p


WINDOW = ("--from", START, "--to", hiso(H1))


def jrun(redis, *args, **kw):
    p = run(redis, *args, "--format", "json", **kw)
    return json.loads(p.stdout)


def crun(redis, *args, **kw):
    p = run(redis, *args, "--format", "csv", **kw)
    assert p.stdout.endswith("\r\n") or p.stdout == ""
    return list(csv.DictReader(io.StringIO(p.stdout, newline="")))


# ---------------------------------------------------------------------------
# Data, and the expected figures computed from what Redis holds
# ---------------------------------------------------------------------------

@pytest.fixture
def data(redis):
    """Write the orders and 72 hours of counters; return the client."""
    c = redis.client()
    rnd = random.Random(2026)
    for oid, fields in ORDERS.items():
        c.hset(PREFIX + "order:" + oid, mapping=fields)
    for h in range(H0, H1):
        key = PREFIX + "hits:" + hkey(h)
        for oid, doms in DOMAINS.items():
            for dom in doms:
                for reg, base in REGIONS[oid].items():
                    n = max(0, round(rnd.gauss(base, base / 3)))
                    if n:
                        c.hincrby(key, f"{oid}|{dom}|{reg}", n)
    # outside the window, a views key, another prefix: none of these may count
    c.hincrby(PREFIX + "hits:" + hkey(H0 - 1), "RG-1234|calcio-live.example|IT-25", 100000)
    c.hincrby(PREFIX + "hits:" + hkey(H1), "RG-1234|calcio-live.example|IT-25", 100000)
    c.hincrby(PREFIX + "views:" + hkey(H0 + 5), "RG-1234|calcio-live.example|IT-25", 777)
    c.hincrby("other:hits:" + hkey(H0 + 5), "RG-1234|calcio-live.example|IT-25", 100000)
    # one region with a couple of hits in the whole window: below 10 in every breakdown by region
    c.hincrby(PREFIX + "hits:" + hkey(H0 + 7), "KCSC-77|toonkor.example|JP", 2)
    return c


def records(c, h0=H0, h1=H1, source="hits", prefix=PREFIX):
    """(hour, order, domain, region, count) of every well-formed counter in Redis for [h0, h1)."""
    out = []
    for h in range(h0, h1):
        if c.type(f"{prefix}{source}:{hkey(h)}") != "hash":
            continue
        for f, v in c.hgetall(f"{prefix}{source}:{hkey(h)}").items():
            parts = f.split("|")
            if len(parts) != 3 or not v.isdigit() or int(v) == 0:
                continue
            if not re.fullmatch(r"[A-Za-z]{2}(-[A-Za-z0-9]{1,3})?", parts[2]):
                continue
            out.append((h, parts[0], parts[1].lower(), parts[2].upper(), int(v)))
    return out


def region_ok(pattern, region):
    return region == pattern or (len(pattern) == 2 and region.startswith(pattern + "-"))


def fine_model(recs, minc=10, window=(H0, H1)):
    """The tool's finest table: (hour, order, domain, region) -> count, and the
    state of each hour cell ("shown", "min", "compl"), with the complementary
    rule of redsink-stats(1) PRIVACY: for each breakdown (hour, day, order,
    domain, region, country) the withheld cells may not all fall in one entry;
    if they do, the smallest shown cell outside it (ties: time, names) is
    withheld too, until every breakdown holds."""
    cells = {}
    for r in recs:
        if window[0] <= r[0] < window[1]:
            cells[r[:4]] = cells.get(r[:4], 0) + r[4]
    st = {k: ("min" if 0 < n < minc else "shown") for k, n in cells.items()}
    entry = [lambda k: k[0], lambda k: k[0] // 24, lambda k: k[1], lambda k: k[2], lambda k: k[3],
             lambda k: k[3][:2]]
    changed = True
    while changed:
        changed = False
        for f in entry:
            ents = {f(k) for k in cells if st[k] != "shown"}
            if len(ents) != 1:
                continue
            e = ents.pop()
            cand = [k for k in cells if st[k] == "shown" and f(k) != e]
            if cand:
                st[min(cand, key=lambda k: (cells[k], k))] = "compl"
                changed = True
    return cells, st


def model(recs, key, minc=10, glen=0, fill=None, pred=None, window=(H0, H1)):
    """Cells {key: count} -> {key: count or "min" or "compl"}, the tool's
    suppression rules: every figure is the sum of the shown hour cells of
    fine_model (computed on all of recs in the window, before the filter
    pred); a cell with withheld hour cells and nothing shown is "min" (one of
    them below the minimum) or "compl". key(rec) gives (time, name, ...); the
    group is the first glen names."""
    fine, st = fine_model(recs, minc, window)
    cells, withheld = {}, {}
    for k, n in fine.items():
        r = k + (n,)
        if pred and not pred(r):
            continue
        kk = key(r)
        cells.setdefault(kk, 0)
        if st[k] == "shown":
            cells[kk] += n
        else:
            withheld[kk] = withheld.get(kk) == "min" or st[k] == "min"
    for k in fill or ():
        cells.setdefault(k, 0)
    state = {k: (("min" if withheld[k] else "compl") if n == 0 and k in withheld else n) for k, n in cells.items()}
    return state, cells


def ranked(state, glen=0):
    """Keys in the tool's ranking order."""
    shown = lambda k: not isinstance(state[k], str)
    return sorted(state, key=lambda k: (k[1:1 + glen], not shown(k),
                                        (-state[k],) + k[1 + glen:] if shown(k) else k[1 + glen:]))


def total_shown(state):
    return sum(v for v in state.values() if not isinstance(v, str))


def hits_of(state, k):
    return None if isinstance(state[k], str) else state[k]


def check_json_rows(doc, state, order, names, minc=10):
    """JSON rows are exactly the model's, in order, with the suppression marked."""
    assert len(doc["rows"]) == len(order)
    rank = 0
    for row, k in zip(doc["rows"], order):
        for i, n in enumerate(names):
            assert row[n] == k[1 + i], (row, k)
        v = state[k]
        if isinstance(v, str):
            assert row["hits"] is None and row["suppressed"] is True
            assert row["suppression"] == {"min": "below_minimum", "compl": "complementary"}[v]
            if "rank" in row:
                assert row["rank"] is None
        else:
            assert row["hits"] == v and row["suppressed"] is False
            if "rank" in row:
                rank += 1
                assert row["rank"] == rank
    n_min = sum(v == "min" for v in state.values())
    n_compl = sum(v == "compl" for v in state.values())
    assert doc["total_shown"] == total_shown(state)
    assert doc["min_count"] == minc
    assert doc["suppression"]["below_minimum"] == n_min
    assert doc["suppression"]["complementary"] == n_compl


def check_csv_rows(rows, doc, names):
    """CSV carries the same rows as JSON; suppressed cells empty with a note."""
    assert len(rows) == len(doc["rows"])
    for r, j in zip(rows, doc["rows"]):
        for n in names:
            assert r[n] == ("" if j[n] is None else str(j[n]))
        if j["suppressed"]:
            assert r["hits"] == ""
            assert r["note"] in ("suppressed: below 10", "withheld: complementary suppression")
        else:
            assert int(r["hits"]) == j["hits"] and r["note"] == ""


def check_table(text, doc, name, minc=10):
    """The table has a line per JSON row ending in its count or marker, the
    total of shown cells and the suppression statement."""
    lines = text.splitlines()
    for j in doc["rows"]:
        want = str(j["hits"]) if not j["suppressed"] else (
            f"<{minc}" if j["suppression"] == "below_minimum" else "withheld")
        assert any(l.split()[-1:] == [want] and j[name] in l for l in lines), (j, text)
    assert f"total of shown cells: {doc['total_shown']}" in lines
    assert "privacy: " + doc["suppression"]["statement"] in lines


# ---------------------------------------------------------------------------
# Subcommands
# ---------------------------------------------------------------------------

def test_top_orders_every_format(redis, data):
    recs = records(data)
    state, _ = model(recs, lambda r: (0, r[1]))
    doc = jrun(redis, "top", *WINDOW)
    assert doc["command"] == "top" and doc["by"] == "order" and doc["source"] == "dns"
    assert doc["window"] == {"from": START, "to": hiso(H1), "hours": HOURS}
    check_json_rows(doc, state, ranked(state), ["order"])
    for row in doc["rows"]:
        assert row["reference"] == ORDERS[row["order"]]["reference"]
        assert row["authority"] == ORDERS[row["order"]]["authority"]
    assert doc["orders"]["UK<HC>&1"] == {"reference": "HC-2026-001", "authority": 'High Court <Chancery> & "Co"'}
    # the large counts outside the window, in views and under another prefix are not there
    assert all(r["hits"] < 100000 for r in doc["rows"])
    check_csv_rows(crun(redis, "top", *WINDOW), doc, ["order", "reference", "authority", "rank"])
    table = run(redis, "top", *WINDOW).stdout
    check_table(table, doc, "order")
    assert table.startswith("DNS hits by order\nwindow: 2026-03-01T00:00:00Z to 2026-03-04T00:00:00Z (72 hours")
    assert "\ubc29\uc1a1\ud1b5\uc2e0" in table  # UTF-8 authority intact


def test_top_domains_overall_per_region_and_filtered(redis, data):
    recs = records(data)
    state, _ = model(recs, lambda r: (0, r[2]))
    doc = jrun(redis, "top", "--by", "domain", "--limit", "0", *WINDOW)
    check_json_rows(doc, state, ranked(state), ["domain"])
    # --limit cuts rows, says so, and does not change the total
    doc3 = jrun(redis, "top", "--by", "domain", "--limit", "3", *WINDOW)
    assert doc3["rows"] == doc["rows"][:3] and doc3["rows_not_shown"] == len(doc["rows"]) - 3
    assert doc3["total_shown"] == doc["total_shown"]

    # per region: ranks restart in every region; suppression per region
    state, _ = model(recs, lambda r: (0, r[3], r[2]), glen=1)
    doc = jrun(redis, "top", "--by", "domain", "--per-region", "--limit", "0", *WINDOW)
    check_json_rows_grouped(doc, state)
    csvrows = crun(redis, "top", "--by", "domain", "--per-region", "--limit", "0", *WINDOW)
    check_csv_rows(csvrows, doc, ["region", "domain", "rank"])

    # a country matches its subdivisions; a subdivision only itself
    for pattern in ("IT", "IT-25", "ZZ", "KR"):
        state, _ = model(recs, lambda r: (0, r[2]), pred=lambda r: region_ok(pattern, r[3]))
        doc = jrun(redis, "top", "--by", "domain", "--region", pattern.lower(), "--limit", "0", *WINDOW)
        assert doc["filter"]["region"] == pattern
        check_json_rows(doc, state, ranked(state), ["domain"])


def check_json_rows_grouped(doc, state):
    order = ranked(state, glen=1)
    assert [(r["region"], r["domain"]) for r in doc["rows"]] == [k[1:] for k in order]
    ranks = {}
    for row, k in zip(doc["rows"], order):
        if isinstance(state[k], str):
            assert row["hits"] is None and row["rank"] is None
        else:
            ranks[k[1]] = ranks.get(k[1], 0) + 1
            assert row["hits"] == state[k] and row["rank"] == ranks[k[1]]
    assert doc["total_shown"] == total_shown(state)


def test_series_hour_and_day(redis, data):
    recs = records(data)
    # per hour for one order: every hour of the window, empty ones as 0
    state, cells = model(recs, lambda r: (r[0],), fill=[(h,) for h in range(H0, H1)],
                         pred=lambda r: r[1] == "KCSC-77")
    doc = jrun(redis, "series", "--order", "KCSC-77", *WINDOW, "--granularity", "hour")
    assert [r["hour"] for r in doc["rows"]] == [hiso(h) for h in range(H0, H1)]
    for row, h in zip(doc["rows"], range(H0, H1)):
        assert row["hits"] == hits_of(state, (h,))
    assert doc["granularity"] == "hour"
    table = run(redis, "series", "--order", "KCSC-77", *WINDOW, "--granularity", "hour").stdout
    assert "order: KCSC-77 (2026-77, \ubc29\uc1a1\ud1b5\uc2e0\uc2ec\uc758\uc704\uc6d0\ud68c)" in table
    check_table(table, doc, "hour")

    # per day over a window that starts and ends at noon: partial first and last days
    h0, h1 = H0 + 12, H0 + 60
    state, _ = model(recs, lambda r: (r[0] - r[0] % 24,), pred=lambda r: r[2] == "toonkor.example",
                     window=(h0, h1))
    doc = jrun(redis, "series", "--domain", "TOONKOR.example.", "--from", hiso(h0), "--to", hiso(h1),
               "--granularity", "day")
    assert doc["granularity"] == "day" and doc["filter"]["domain"] == "toonkor.example"
    assert [(r["day"], r["hours"]) for r in doc["rows"]] == [
        ("2026-03-01", 12), ("2026-03-02", 24), ("2026-03-03", 12)]
    for row in doc["rows"]:
        assert row["hits"] == hits_of(state, (hnum(row["day"] + "T00:00:00Z"),))
    rows = crun(redis, "series", "--domain", "toonkor.example", "--from", hiso(h0), "--to", hiso(h1),
                "--granularity", "day")
    assert [r["day"] for r in rows] == ["2026-03-01", "2026-03-02", "2026-03-03"]
    # 48 hours are shown per hour unless asked otherwise
    doc = jrun(redis, "series", "--from", hiso(h0), "--to", hiso(h1))
    assert doc["granularity"] == "hour" and len(doc["rows"]) == 48
    # a window that is all days (dates: --to is inclusive of its day)
    doc = jrun(redis, "series", "--from", "2026-03-01", "--to", "2026-03-03")
    assert doc["window"]["hours"] == 72 and len(doc["rows"]) == 3
    assert sum(r["hours"] for r in doc["rows"]) == 72


def test_regions_match_redis(redis, data):
    """The right counts per region, straight from Redis, in every output that shows regions."""
    recs = records(data)
    for flt, pred in ((("--order", "RG-1234"), lambda r: r[1] == "RG-1234"),
                      (("--domain", "films4u.example"), lambda r: r[2] == "films4u.example"),
                      ((), lambda r: True)):
        state, cells = model(recs, lambda r: (0, r[3]), pred=pred)
        doc = jrun(redis, "regions", *flt, *WINDOW)
        check_json_rows(doc, state, ranked(state), ["region"])
        check_csv_rows(crun(redis, "regions", *flt, *WINDOW), doc, ["region"])
        check_table(run(redis, "regions", *flt, *WINDOW).stdout, doc, "region")
        # top --by region gives the same figures
        top = jrun(redis, "top", "--by", "region", "--limit", "0", *flt, *WINDOW)
        assert [(r["region"], r["hits"]) for r in top["rows"]] == [(r["region"], r["hits"]) for r in doc["rows"]]
        # countries add up their subdivisions
        cstate, _ = model(recs, lambda r: (0, r[3][:2]), pred=pred)
        cdoc = jrun(redis, "regions", "--by", "country", *flt, *WINDOW)
        check_json_rows(cdoc, cstate, ranked(cstate), ["country"])
    # by hand, one region: what Redis holds for IT-21 of RG-1234, less its
    # withheld hours, is what regions says; without suppression, all of it
    raw = [int(v) for h in range(H0, H1) for f, v in data.hgetall(PREFIX + "hits:" + hkey(h)).items()
           if f.startswith("RG-1234|") and f.endswith("|IT-21")]
    doc = jrun(redis, "regions", "--order", "RG-1234", *WINDOW)
    assert sum(n for n in raw if n >= 10) >= {r["region"]: r["hits"] for r in doc["rows"]}["IT-21"] > 0
    doc = jrun(redis, "regions", "--order", "RG-1234", "--no-suppression", *WINDOW)
    assert {r["region"]: r["hits"] for r in doc["rows"]}["IT-21"] == sum(raw)


def test_export_csv_and_json(redis, data):
    recs = records(data)
    state, _ = model(recs, lambda r: (r[0], r[1], r[2], r[3]))
    keys = sorted(state)
    p = run(redis, "export", "--csv", *WINDOW)
    rows = list(csv.DictReader(io.StringIO(p.stdout, newline="")))
    assert list(rows[0].keys()) == ["hour", "order", "domain", "region", "hits", "note"]
    assert [(hnum(r["hour"]), r["order"], r["domain"], r["region"]) for r in rows] == keys
    for r, k in zip(rows, keys):
        v = state[k]
        if isinstance(v, str):
            assert r["hits"] == "" and r["note"] == (
                "suppressed: below 10" if v == "min" else "withheld: complementary suppression")
        else:
            assert int(r["hits"]) == v and r["note"] == ""
    assert "privacy: " in p.stderr and "hour cells below 10 withheld" in p.stderr
    # there are small cells in this data set: suppression is exercised
    assert sum(v == "min" for v in state.values()) > 100

    doc = json.loads(run(redis, "export", "--json", *WINDOW).stdout)
    assert [(hnum(r["hour"]), r["order"], r["domain"], r["region"]) for r in doc["rows"]] == keys
    check_json_rows(doc, state, keys, ["order", "domain", "region"])
    assert set(doc["orders"]) == set(ORDERS)
    # the same with no suppression: every count, and they add up to what Redis holds
    doc = json.loads(run(redis, "export", "--json", "--no-suppression", *WINDOW).stdout)
    assert all(r["suppressed"] is False for r in doc["rows"])
    assert doc["total_shown"] == sum(r[4] for r in recs)
    assert doc["suppression"]["statement"] == ("SUPPRESSION OFF (--no-suppression): every count is shown, "
                                               "small ones included")


def test_complementary_suppression_in_every_output(redis, tmp_path):
    """One order, three regions: FR (3) is below 10, so DE (20), the smallest
    other, is withheld as well; IT (50) is the only count shown anywhere."""
    c = redis.client()
    c.hset(PREFIX + "order:SOLO", mapping={"authority": "A", "reference": "R", "scope": "*", "action": "sinkhole"})
    for reg, n in (("IT", 50), ("FR", 3), ("DE", 20)):
        c.hincrby(PREFIX + "hits:" + hkey(H0 + 1), f"SOLO|solo.example|{reg}", n)
    args = ("--order", "SOLO", *WINDOW)
    doc = jrun(redis, "regions", *args)
    assert doc["rows"] == [
        {"region": "IT", "hits": 50, "suppressed": False},
        {"region": "DE", "hits": None, "suppressed": True, "suppression": "complementary"},
        {"region": "FR", "hits": None, "suppressed": True, "suppression": "below_minimum"}]
    assert doc["total_shown"] == 50
    assert doc["suppression"]["statement"] == (
        "1 hour cell below 10 withheld, and 1 more withheld so that none can be worked out from a total; "
        "2 rows without a count; every figure is a sum of published hour cells only")
    table = run(redis, "regions", *args).stdout
    assert re.search(r"^DE\s+withheld$", table, re.M) and re.search(r"^FR\s+<10$", table, re.M)
    assert "total of shown cells: 50" in table and not re.search(r"\s(20|3)$", table, re.M)
    rows = crun(redis, "regions", *args)
    assert [(r["region"], r["hits"], r["note"]) for r in rows] == [
        ("IT", "50", ""), ("DE", "", "withheld: complementary suppression"), ("FR", "", "suppressed: below 10")]
    # a higher minimum suppresses more; --no-suppression shows everything
    doc = jrun(redis, "regions", *args, "--min-count", "21")
    assert [r["suppressed"] for r in doc["rows"]] == [False, True, True]
    assert doc["suppression"]["below_minimum"] == 2 and doc["suppression"]["complementary"] == 0
    doc = jrun(redis, "regions", *args, "--no-suppression")
    assert [(r["region"], r["hits"]) for r in doc["rows"]] == [("IT", 50), ("DE", 20), ("FR", 3)]
    # the report shows neither 3 nor 20 for this order's regions
    out = tmp_path / "solo.html"
    run(redis, "report", "--html", out, *args)
    html = out.read_text()
    assert "<td class=\"n s\">&lt;10</td>" in html and "<td class=\"n s\">withheld</td>" in html
    assert "FR: &lt;10" in html and "DE: withheld" in html
    assert "DE: 20" not in html and ">20</td>" not in html and "FR: 3" not in html and ">3</td>" not in html


# ---------------------------------------------------------------------------
# Issue 11: differencing attacks, explicit --no-suppression, no future hours
# ---------------------------------------------------------------------------

def attack_data(c):
    """Order A: 100, 80, 60 hits in three hours (IT-25); order B: 5 hits in the
    second hour, in region IT-21 (the only hits there)."""
    for oid in ("A", "B"):
        c.hset(PREFIX + "order:" + oid, mapping={"authority": "X", "reference": oid, "scope": "IT",
                                                 "action": "sinkhole"})
    for i, n in enumerate((100, 80, 60)):
        c.hincrby(PREFIX + "hits:" + hkey(H0 + i), "A|a.example|IT-25", n)
    c.hincrby(PREFIX + "hits:" + hkey(H0 + 1), "B|b.example|IT-21", 5)


def test_series_minus_one_order_reveals_nothing(redis):
    """Issue 11: `series` minus `series --order A` gave B's withheld 5."""
    attack_data(redis.client())
    win = ("--from", hiso(H0), "--to", hiso(H0 + 3), "--granularity", "hour")
    top = jrun(redis, "top", *win[:4])
    assert {r["order"]: r["hits"] for r in top["rows"]}["B"] is None  # B is withheld...
    every = jrun(redis, "series", *win)["rows"]
    only_a = jrun(redis, "series", "--order", "A", *win)["rows"]
    only_b = jrun(redis, "series", "--order", "B", *win)["rows"]
    assert [r["hour"] for r in every] == [r["hour"] for r in only_a] == [hiso(H0 + i) for i in range(3)]
    for e, a, b in zip(every, only_a, only_b):
        # ... and no hour of the series gives it back by difference
        assert e["suppressed"] == a["suppressed"]
        if e["hits"] is not None:
            assert e["hits"] - a["hits"] == 0 and b["hits"] in (0, None)
    # nor the totals: every published total is the same
    assert top["total_shown"] == sum(r["hits"] or 0 for r in every) == sum(r["hits"] or 0 for r in only_a)
    # the same in CSV and in the table
    ce = crun(redis, "series", *win)
    ca = crun(redis, "series", "--order", "A", *win)
    assert [r["hits"] for r in ce] == [r["hits"] for r in ca]
    te = run(redis, "series", *win).stdout
    ta = run(redis, "series", "--order", "A", *win).stdout
    assert [l.split()[-1] for l in te.splitlines() if l.startswith("2026-")] == \
        [l.split()[-1] for l in ta.splitlines() if l.startswith("2026-")]


def test_country_minus_regions_reveals_nothing(redis):
    """Issue 11: `top --by country` minus `top --by region` gave IT-21's withheld 5."""
    attack_data(redis.client())
    win = ("--from", hiso(H0), "--to", hiso(H0 + 3), "--limit", "0")
    regions = jrun(redis, "top", "--by", "region", *win)
    countries = jrun(redis, "top", "--by", "country", *win)
    byreg = {r["region"]: r["hits"] for r in regions["rows"]}
    assert byreg["IT-21"] is None
    published = sum(v for k, v in byreg.items() if k.startswith("IT") and v is not None)
    assert {r["country"]: r["hits"] for r in countries["rows"]}["IT"] == published
    assert regions["total_shown"] == countries["total_shown"]
    # the regions command too
    assert jrun(redis, "regions", "--by", "country", *win[:4])["rows"][0]["hits"] == published


def test_every_figure_is_a_sum_of_published_hour_cells(redis, data):
    """Whatever the command, breakdown or filter over one window, each figure is
    the sum of the published cells of `export` it covers: differences of
    published figures can only ever give published cells."""
    cells = {}
    for r in jrun(redis, "export", *WINDOW)["rows"]:
        cells[(hnum(r["hour"]), r["order"], r["domain"], r["region"])] = r["hits"]
    assert any(v is None for v in cells.values())

    def expect(key, pred=lambda k: True):
        out = {}
        for k, v in cells.items():
            if pred(k):
                out[key(k)] = out.get(key(k), 0) + (v or 0)
        return out

    for by, key in (("order", lambda k: k[1]), ("domain", lambda k: k[2]), ("region", lambda k: k[3]),
                    ("country", lambda k: k[3][:2])):
        want = expect(key)
        for r in jrun(redis, "top", "--by", by, "--limit", "0", *WINDOW)["rows"]:
            assert (r["hits"] or 0) == want[r[by]], (by, r)
    for flt, pred in ((("--order", "KCSC-77"), lambda k: k[1] == "KCSC-77"),
                      (("--region", "IT"), lambda k: k[3][:2] == "IT"), ((), lambda k: True)):
        want = expect(lambda k: k[0], pred)
        for r in jrun(redis, "series", "--granularity", "hour", *flt, *WINDOW)["rows"]:
            assert (r["hits"] or 0) == want.get(hnum(r["hour"]), 0), (flt, r)
        want = expect(lambda k: k[3], pred)
        for r in jrun(redis, "regions", *flt, *WINDOW)["rows"]:
            assert (r["hits"] or 0) == want[r["region"]], (flt, r)


def test_no_suppression_is_explicit_and_recorded(redis, tmp_path):
    attack_data(redis.client())
    win = ("--from", hiso(H0), "--to", hiso(H0 + 3))
    # --min-count 0 no longer turns suppression off silently
    p = run(redis, "top", "--min-count", "0", *win, rc=2)
    assert "--no-suppression" in p.stderr
    # --no-suppression: a warning on stderr, even with -q, and a record in every output
    p = run(redis, "top", "--no-suppression", "-q", *win)
    assert "small-count suppression is OFF" in p.stderr
    assert "WARNING: small-count suppression is OFF" in p.stdout
    assert re.search(r"\bB\b.*\s5$", p.stdout, re.M)
    doc = jrun(redis, "top", "--no-suppression", *win)
    assert doc["suppression_off"] is True and doc["suppression"]["off"] is True and doc["min_count"] == 0
    assert {r["order"]: r["hits"] for r in doc["rows"]} == {"A": 240, "B": 5}
    assert jrun(redis, "top", *win)["suppression_off"] is False
    rows = crun(redis, "series", "--no-suppression", *win)
    assert rows and all(r["note"] == "suppression off (--no-suppression)" for r in rows)
    assert all(r["note"] == "" for r in crun(redis, "series", *win) if r["hits"])
    out = tmp_path / "r.html"
    run(redis, "report", "--html", out, "--no-suppression", *win)
    html = out.read_text()
    assert "<strong>Warning: small-count suppression is OFF</strong>" in html
    run(redis, "report", "--html", out, *win)
    assert "suppression is OFF" not in out.read_text()


def test_series_has_no_future_hours(redis):
    """Issue 11: hours (and days) after the current one were listed as 0."""
    c = redis.client()
    now = int(datetime.datetime.now(datetime.timezone.utc).timestamp()) // 3600
    c.hincrby(PREFIX + "hits:" + hkey(now - 1), "O|now.example|IT", 20)
    win = ("--from", hiso(now - 3), "--to", hiso(now + 5), "--granularity", "hour")
    doc = jrun(redis, "series", *win)
    after = int(datetime.datetime.now(datetime.timezone.utc).timestamp()) // 3600
    hours = [hnum(r["hour"]) for r in doc["rows"]]
    assert hours[0] == now - 3 and hours[-1] in (now, after) and hours == list(range(now - 3, hours[-1] + 1))
    assert doc["window"]["hours"] == 8  # the window asked for, stated as such
    assert [r["hits"] for r in doc["rows"]][2] == 20
    rows = crun(redis, "series", *win)
    assert [hnum(r["hour"]) for r in rows] == hours
    table = run(redis, "series", *win).stdout
    assert hiso(now + 2) not in table and hiso(now + 4) not in table and hiso(now) in table
    # per day: a future day is absent, today is there
    today = now - now % 24
    doc = jrun(redis, "series", "--from", day(today - 24), "--to", day(today + 72), "--granularity", "day")
    assert [r["day"] for r in doc["rows"]][:2] == [day(today - 24), day(today)]
    assert all(hnum(r["day"] + "T00:00:00Z") <= after for r in doc["rows"])


def test_idn_domains_shown_in_both_forms(redis, data, tmp_path):
    """Issue 11: a user who typed bücher.example reads it, not only its A-label,
    in the table and the HTML report; CSV and JSON keep the A-label (data)."""
    both = "b\u00fccher.example (xn--bcher-kva.example)"
    table = run(redis, "top", "--by", "domain", "--limit", "0", *WINDOW).stdout
    assert re.search(r"^\s+\d+\s+" + re.escape(both) + r"\s+\d+$", table, re.M), table
    table = run(redis, "series", "--domain", "b\u00fccher.example", *WINDOW).stdout
    assert "filter: domain " + both in table
    doc = jrun(redis, "top", "--by", "domain", "--limit", "0", *WINDOW)
    assert "xn--bcher-kva.example" in [r["domain"] for r in doc["rows"]]
    assert all("(" not in r["domain"] for r in doc["rows"])
    assert "xn--bcher-kva.example" in [r["domain"] for r in crun(redis, "top", "--by", "domain", *WINDOW)]
    out = tmp_path / "r.html"
    run(redis, "report", "--html", out, "--limit", "0", *WINDOW)
    html = out.read_text()
    assert '<td class="name">' + both + "</td>" in html
    assert "<title>" + both + ": " in html  # the bar's tooltip


def test_views_source_prefix_and_db(redis):
    c = redis.client(db=3)
    c.hincrby("rs2:views:" + hkey(H0 + 2), "RG-1234|calcio-live.example|IT-25", 41)
    c.hincrby("rs2:views:" + hkey(H0 + 3), "RG-1234|calcio-live.example|IT-25", 12)
    c.hincrby("rs2:hits:" + hkey(H0 + 2), "RG-1234|calcio-live.example|IT-25", 999)
    doc = jrun(redis, "top", "--source", "views", "--prefix", "rs2:", "--db", "3", *WINDOW)
    assert doc["source"] == "views" and doc["title"] == "Warning-page views by order"
    assert doc["rows"] == [{"rank": 1, "order": "RG-1234", "reference": None, "authority": None, "hits": 53,
                            "suppressed": False}]
    doc = jrun(redis, "top", "--prefix", "rs2:", "--db", "3", *WINDOW)
    assert doc["rows"][0]["hits"] == 999
    # database 0 has nothing under that prefix
    assert jrun(redis, "top", "--prefix", "rs2:", *WINDOW)["rows"] == []


def test_default_window_is_the_last_7_days(redis):
    c = redis.client()
    now = int(datetime.datetime.now(datetime.timezone.utc).timestamp()) // 3600
    c.hincrby(PREFIX + "hits:" + hkey(now), "O|now.example|IT", 11)
    c.hincrby(PREFIX + "hits:" + hkey(now - 100), "O|recent.example|IT", 12)
    c.hincrby(PREFIX + "hits:" + hkey(now - 200), "O|old.example|IT", 13)
    doc = jrun(redis, "top", "--by", "domain")
    assert doc["window"]["hours"] == 168
    assert {r["domain"]: r["hits"] for r in doc["rows"]} == {"now.example": 11, "recent.example": 12}
    doc = jrun(redis, "top", "--by", "domain", "--last", "24h")
    assert {r["domain"]: r["hits"] for r in doc["rows"]} == {"now.example": 11}
    doc = jrun(redis, "top", "--by", "domain", "--last", "30d")
    assert len(doc["rows"]) == 3 and doc["window"]["hours"] == 720


def test_unicode_domain_filter_and_output_file(redis, data, tmp_path):
    doc = jrun(redis, "regions", "--domain", "B\u00dcCHER.example", *WINDOW)
    assert doc["filter"]["domain"] == "xn--bcher-kva.example" and doc["rows"]
    (tmp_path / "out").mkdir()
    out = tmp_path / "out" / "top.csv"
    p = run(redis, "top", "--csv", "-o", out, *WINDOW)
    assert p.stdout == ""
    with open(out, newline="") as f:
        assert f.read() == run(redis, "top", "--csv", *WINDOW).stdout
    assert out.stat().st_mode & 0o777 == 0o666 & ~current_umask()
    assert [f.name for f in (tmp_path / "out").iterdir()] == ["top.csv"]  # no temporary file left
    # an output that cannot be written: status 1, nothing left behind
    run(redis, "top", "-o", tmp_path / "no" / "such" / "dir.txt", *WINDOW, rc=1)


def current_umask():
    m = os.umask(0)
    os.umask(m)
    return m


def test_malformed_counters_and_wrong_types_are_skipped(redis):
    c = redis.client()
    k = PREFIX + "hits:" + hkey(H0)
    c.hset(k, mapping={"O|good.example|IT": "40", "not-a-field": "3", "O|bad..example|IT": "5",
                       "O|good.example|ITALY": "5", "O|good.example|FR": "x", "O|good.example|DE": "-2",
                       "O|zero.example|IT": "0"})
    c.set(PREFIX + "hits:" + hkey(H0 + 1), "a string, not a hash")
    p = run(redis, "top", "--by", "domain", *WINDOW)
    assert re.search(r"^\s+1\s+good\.example\s+40$", p.stdout, re.M)
    assert "zero.example" not in p.stdout
    assert "note: 5 malformed counter fields skipped" in p.stdout
    assert "skipped 5 malformed counter fields" in p.stderr
    assert "WRONGTYPE" in p.stderr and hkey(H0 + 1) in p.stderr
    assert run(redis, "top", "-q", *WINDOW).stderr == ""


def test_address_hits_count_under_their_prefix(redis):
    """Hits of replies an answer address triggered carry the listed prefix in the domain
    position (order|<prefix>|region, doc/redis-schema.md): counted like a domain, shown under
    top --by domain; only a canonical prefix (what the module writes) is taken."""
    c = redis.client()
    c.hset(PREFIX + "hits:" + hkey(H0), mapping={
        "O|good.example|IT": "40", "O|198.51.100.0/24|IT": "25", "O|198.51.100.0/24|FR": "12",
        "O|2001:db8:7::/48|ZZ": "11",
        "O|198.51.100.1/24|IT": "9",            # host bits: not what the module writes
        "O|2001:DB8:7::/48|IT": "9",            # not canonical
        "O|2001:db8::7|IT": "9"})               # no /len: not canonical (nor a name)
    doc = jrun(redis, "top", "--by", "domain", "--limit", "0", "--no-suppression", *WINDOW)
    assert {r["domain"]: r["hits"] for r in doc["rows"]} == \
        {"good.example": 40, "198.51.100.0/24": 37, "2001:db8:7::/48": 11}
    p = run(redis, "top", "--by", "domain", "--no-suppression", *WINDOW)
    assert re.search(r"^\s+2\s+198\.51\.100\.0/24\s+37$", p.stdout, re.M)
    assert "note: 3 malformed counter fields skipped" in p.stdout


def test_reads_only_the_window_keys(redis, data):
    """HGETALL of each hour key of the window by name, HMGET of the orders shown:
    never KEYS or SCAN, never a write."""
    c = redis.client()
    c.config_resetstat()
    run(redis, "top", *WINDOW)
    stats = c.info("commandstats")
    calls = {k[len("cmdstat_"):]: v["calls"] for k, v in stats.items()}
    assert calls.get("hgetall") == HOURS
    assert calls.get("hmget") == len(ORDERS)
    assert set(calls) <= {"hgetall", "hmget", "config|resetstat", "config", "info", "select", "auth"}, calls
    c.config_resetstat()
    run(redis, "series", "--last", "24h", "--order", "RG-1234")
    calls = {k[len("cmdstat_"):]: v["calls"] for k, v in c.info("commandstats").items()}
    assert calls.get("hgetall") == 24


def test_redis_access_and_exit_codes(redis, data, tmp_path):
    c = redis.client()
    # unreachable
    p = run(redis, "top", url=f"127.0.0.1:{harness.free_port()}", rc=4)
    assert "cannot connect to Redis" in p.stderr
    # an ACL user with just the rights the man page lists
    c.execute_command("ACL", "SETUSER", "researcher", "on", ">s3cret", "~redsink:*", "+hgetall", "+hmget")
    c.execute_command("ACL", "SETUSER", "nohmget", "on", ">s3cret", "~redsink:*", "+hgetall")
    pw = tmp_path / "pw"
    pw.write_text("s3cret\n")
    pw.chmod(0o600)  # issue 11: a credential file others can read is refused
    doc = jrun(redis, "top", "--user", "researcher", "--password-file", pw, *WINDOW)
    assert len(doc["rows"]) == len(ORDERS)
    jrun(redis, "top", "--user", "researcher", *WINDOW, env={"REDSINK_PASSWORD": "s3cret"})
    p = run(redis, "top", "--user", "nohmget", "--password-file", pw, *WINDOW, rc=4)
    assert "NOPERM" in p.stderr
    p = run(redis, "top", "--user", "researcher", *WINDOW, env={"REDSINK_PASSWORD": "wrong"}, rc=4)
    assert "authentication as researcher failed" in p.stderr
    # a password on the default user
    c.config_set("requirepass", "s3cret")
    p = run(redis, "top", *WINDOW, rc=4)
    assert "NOAUTH" in p.stderr
    jrun(redis, "top", *WINDOW, env={"REDSINK_PASSWORD": "s3cret"})
    jrun(redis, "top", "--password-file", pw, *WINDOW, env={"REDSINK_PASSWORD": "wrong"})
    # never on the command line
    p = run(redis, "top", "--password", "s3cret", rc=2)
    assert "--password-file or REDSINK_PASSWORD" in p.stderr
    # issue 11: a credential problem is exit 4 in every tool (was 1 here)
    run(redis, "top", "--password-file", tmp_path / "missing", rc=4)
    redis.client(password="s3cret").config_set("requirepass", "")


@pytest.mark.parametrize("args,msg", [
    ((), "no command given"),
    (("frobnicate",), "unknown command 'frobnicate'"),
    (("series", "--by", "domain"), "series does not take --by"),
    (("export", "--format", "table"), "export writes csv or json"),
    (("report",), "report needs --html FILE"),
    (("top", "--region", "Italy"), "--region 'Italy'"),
    (("top", "--from", "2026-03-01", "--last", "7d"), "--from and --last cannot be used together"),
    (("top", "--from", "2026-03-02", "--to", "2026-03-01T00:00:00Z"), "empty window"),
    (("top", "--to", "tomorrow"), "--to 'tomorrow'"),
    (("top", "--last", "1w"), "--last '1w'"),
    (("top", "--by", "client"), "--by 'client'"),
    (("top", "--per-region", "--by", "region"), "--per-region ranks orders or domains"),
    (("top", "--order", "a|b"), "--order 'a|b'"),
    (("top", "--domain", "a..b"), "--domain 'a..b'"),
    (("top", "--min-count", "-1"), "--min-count '-1'"),
    (("top", "--min-count", "0"), "--min-count 0 would suppress nothing: use --no-suppression"),
    (("series", "--min-count", "1"), "--min-count 1 would suppress nothing: use --no-suppression"),
    (("top", "--min-count", "5", "--no-suppression"), "--no-suppression and --min-count exclude each other"),
    (("top", "--csv", "--json"), "more than one output format"),
    (("top", "extra"), "unexpected argument 'extra'"),
    # issue 11: the endpoint syntax of every tool; "nowhere" is a host (port 6379) as in redsink-ctl
    (("top", "--redis", "ftp://nowhere"), "expected redis://host:port/db"),
    (("--last", "24h", "top", "--redis", "[::1"), "missing ']'"),
    (("regions", "--by", "domain"), "regions --by takes region or country"),
])
def test_usage_errors(redis, args, msg):
    p = run(redis, *args, rc=2)
    assert msg in p.stderr
    assert "usage: redsink-stats" in p.stderr


def test_help(redis):
    p = run(redis, "--help")
    for cmd in ("top", "series", "regions", "export", "report"):
        assert cmd in p.stdout
        h = run(redis, cmd, "--help").stdout
        assert h.startswith("usage: redsink-stats " + cmd)
        assert "--min-count" in h and "--redis" in h and "Exit status" in h
    assert run(redis, "--version").stdout.startswith("redsink-stats ")


# ---------------------------------------------------------------------------
# The HTML report in a real browser
# ---------------------------------------------------------------------------

CHROMIUM = "/usr/bin/chromium"


def chromium(tmp_path, *args, timeout=120):
    """Run headless Chromium in its own session; returns stdout. Whatever it
    leaves in its process group is stopped by that group's id, never by name."""
    cmd = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
           "--disable-background-networking", "--disable-component-update", "--disable-sync",
           f"--user-data-dir={tmp_path / 'chromium-profile'}"] + list(args)
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        out, err = p.communicate(timeout=timeout)
    finally:
        try:
            os.killpg(p.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        p.wait()
    assert p.returncode == 0, err[-4000:]
    return out


def magick(*args):
    return subprocess.run(["convert"] + [str(a) for a in args], capture_output=True, text=True, check=True,
                          timeout=60).stdout.strip()


def test_html_report_renders_in_chromium(redis, data, tmp_path):
    assert os.path.exists(CHROMIUM), "chromium is needed (scripts/deps.sh installs it)"
    report = tmp_path / "report.html"
    p = run(redis, "report", "--html", report, *WINDOW)
    assert f"wrote {report}" in p.stderr
    html = report.read_text()

    # self-contained, escaped, the window in the title
    assert "<title>redsink: DNS hits on court-ordered blocks, 2026-03-01 00:00 to 2026-03-04 00:00 UTC</title>" in html
    for bad in ("<script", "http:", "https:", "src=", "href=", "url(", "@import", "<link", "<img", "<iframe"):
        assert bad not in html, bad
    assert "UK&lt;HC&gt;&amp;1" in html and "UK<HC>" not in html
    assert "High Court &lt;Chancery&gt; &amp; &quot;Co&quot;" in html

    # the tables hold the figures Redis holds (per region, per domain, per order, per day)
    recs = records(data)
    for table_id, key in (("regions", lambda r: (0, r[3])), ("domains", lambda r: (0, r[2])),
                          ("orders", lambda r: (0, r[1]))):
        state, _ = model(recs, key)
        got = table_cells(html, "table-" + table_id)
        want = [(htmllib.escape(display(k[1])), fmt_cell(state[k])) for k in ranked(state)][:15]
        assert [(name, hits) for name, hits in got] == want, table_id
    state, _ = model(recs, lambda r: (r[0] - r[0] % 24,), fill=[(h,) for h in range(H0, H1, 24)])
    assert table_cells(html, "table-time") == [(day(k[0]), fmt_cell(state[k])) for k in sorted(state)]

    # the browser's DOM has the four charts with their marks
    dom = chromium(tmp_path, "--dump-dom", report.as_uri())
    for chart in ("chart-time", "chart-regions", "chart-domains", "chart-orders"):
        m = re.search(r'<svg class="chart[^"]*" id="%s"[^>]*>(.*?)</svg>' % chart, dom, re.S)
        assert m, chart
        assert len(re.findall(r'<rect class="bar', m.group(1))) >= 3, chart
    assert len(re.findall(r'<rect class="supp"', dom)) >= 2  # JP below 10, and its complement, as stubs

    # the screenshot is not blank and shows the charts' colour
    shot = tmp_path / "report.png"
    chromium(tmp_path, f"--screenshot={shot}", "--window-size=1200,1600", report.as_uri())
    assert shot.stat().st_size > 10000
    assert magick(shot, "-format", "%w %h", "info:") == "1200 1600"
    assert float(magick(shot, "-format", "%[fx:standard_deviation]", "info:")) > 0.01
    blue = float(magick(shot, "-fill", "black", "+opaque", "rgb(37,99,235)", "-fill", "white", "-opaque",
                        "rgb(37,99,235)", "-format", "%[fx:mean]", "info:"))
    assert blue > 0.01, f"chart bars cover only {blue:.4f} of the screenshot"
    # the time chart sits in the top part: chart colour there too
    top = float(magick(shot, "-crop", "1200x700+0+300", "+repage", "-fill", "black", "+opaque", "rgb(37,99,235)",
                       "-fill", "white", "-opaque", "rgb(37,99,235)", "-format", "%[fx:mean]", "info:"))
    assert top > 0.01
    keep = os.environ.get("REDSINK_STATS_KEEP")
    if keep:  # for a person to look at
        shutil.copy(shot, keep)


def display(name):
    """A domain as the table and HTML outputs show it (the data's one IDN)."""
    return "b\u00fccher.example (xn--bcher-kva.example)" if name == "xn--bcher-kva.example" else name


def fmt_cell(v):
    if v == "min":
        return "&lt;10"
    if v == "compl":
        return "withheld"
    return f"{v:,}"


def table_cells(html, table_id):
    """(name, hits) of each row of the table: the first text cell after the
    rank (or the only one), and the hits cell."""
    m = re.search(r'<table class="data" id="%s">.*?<tbody>(.*?)</tbody>' % table_id, html, re.S)
    assert m, table_id
    out = []
    for row in re.findall(r"<tr>(.*?)</tr>", m.group(1)):
        cells = re.findall(r'<td( class="[^"]*")?>(.*?)</td>', row)
        if cells[0][0] == ' class="n rank"':
            cells = cells[1:]
        name = cells[0][1]
        hits = [c[1] for c in cells if c[0] in (' class="n"', ' class="n s"')][0]
        out.append((name, hits))
    return out
