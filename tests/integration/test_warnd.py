"""redsink-warnd: the warning page on the sinkhole address (issue 7).

Every test runs the real server (build/redsink/tools/warnd/redsink-warnd; see
warnd_binary() for the sanitizer build) in the foreground on a free loopback port against a private
Redis, and talks HTTP to it. Region tests use a MaxMind DB built with
tools/mkgeo/redsink-mkgeo that maps 127.0.0.2 to KR and 127.0.0.3 to IT-25; the
client binds to those addresses so the server sees different peers. The
browser test resolves the blocked name through Unbound with redsink.so and
loads the page in headless Chromium.
"""

import http.client
import os
import re
import resource
import shutil
import signal
import socket
import subprocess
import threading
import time
from pathlib import Path

import pytest

import harness
import rs

REPO = harness.REPO_ROOT
TEMPLATES = REPO / "tools" / "warnd" / "templates"
MKGEO = rs.mkgeo_binary()
CHROMIUM = "/usr/bin/chromium"
CONVERT = "/usr/bin/convert"
CSP = ("default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; "
       "form-action 'none'; frame-ancestors 'none'")
KR, IT, ZZ = "127.0.0.2", "127.0.0.3", "127.0.0.1"


def warnd_binary():
    """$REDSINK_WARND; else the warnd of the build $REDSINK_MODULE comes from
    (scripts/test.sh's sanitizer pass points that at build/asan); else build/redsink."""
    if os.environ.get("REDSINK_WARND"):
        return os.environ["REDSINK_WARND"]
    if os.environ.get("REDSINK_MODULE"):
        b = Path(os.environ["REDSINK_MODULE"]).resolve().parents[2] / "tools" / "warnd" / "redsink-warnd"
        if b.exists():
            return str(b)
    return str(REPO / "build" / "redsink" / "tools" / "warnd" / "redsink-warnd")


# ---------------------------------------------------------------------------
# The server
# ---------------------------------------------------------------------------

class Warnd(harness._Server):
    """redsink-warnd in the foreground on 127.0.0.1:<free port>.

    Logs go to stderr (warnd.stderr in its directory); stop() signals only
    the PID it started.
    """

    name = "warnd"

    def __init__(self, tmpdir, redis_url, args=(), wait_list=True, timeout=10, tls=False, nofile=None):
        super().__init__(tmpdir)
        self.nofile = nofile      # RLIMIT_NOFILE, soft and hard, set by prlimit(1) before the exec
        self.logfile = self.stderr_file
        self.redis_url = redis_url
        self.extra = list(args)
        self.wait_list = wait_list
        self.tls_port = None
        for attempt in range(3):
            self.port = harness.free_port()
            if tls:
                self.tls_port = harness.free_port()
            try:
                self._start_and_wait(timeout)
                return
            except harness.ServerError:
                if attempt == 2 or not self._port_was_taken():
                    raise

    def stderr(self):
        return ""   # the log is stderr: printed once as the log

    def _argv(self):
        argv = [warnd_binary(), "--foreground", "--listen", f"127.0.0.1:{self.port}",
                "--redis", self.redis_url, "--templates", str(TEMPLATES), "--redis-timeout", "500"]
        if self.tls_port:
            argv += ["--tls-reset", f"127.0.0.1:{self.tls_port}"]
        if self.nofile:
            argv = ["prlimit", f"--nofile={self.nofile}:{self.nofile}", "--"] + argv
        return argv + self.extra

    def _wait_ready(self, deadline):
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                return False
            try:
                st, _, _ = get(self.port, path="/healthz", timeout=0.5)
                if st == 200 or (st == 503 and not self.wait_list):
                    return True
            except OSError:
                pass
            time.sleep(0.05)
        return False

    def url(self, path="/"):
        return f"http://127.0.0.1:{self.port}{path}"


@pytest.fixture
def make_warnd(tmp_path, server_logs):
    """Factory: make_warnd(redis, args=(), wait_list=True) -> a running Warnd."""
    started = []
    counter = iter(range(1, 100))

    def start(redis, args=(), **kw):
        url = redis.url if hasattr(redis, "url") else redis
        w = Warnd(tmp_path / f"warnd-{next(counter)}", url, args, **kw)
        started.append(w)
        server_logs.append(w)
        return w

    try:
        yield start
    finally:
        for w in started:
            w.stop()
    # a sanitizer build ($REDSINK_WARND=build/asan/...) reports to stderr
    reports = [w.log() for w in started if re.search(r"Sanitizer|runtime error:", w.log())]
    if reports:
        pytest.fail("sanitizer reports:\n" + "\n".join(reports), pytrace=False)


@pytest.fixture(scope="session")
def geo_db(tmp_path_factory):
    """A MaxMind DB: 127.0.0.2 -> KR, 127.0.0.3 -> IT-25 (Lombardy), built by redsink-mkgeo."""
    d = tmp_path_factory.mktemp("geo")
    csv = d / "regions.csv"
    csv.write_text("network,country,subdivision\n"
                   "# test regions\n"
                   f"{KR}/32,KR\n"
                   f"{IT}/32,IT,IT-25\n")
    out = d / "regions.mmdb"
    r = subprocess.run([str(MKGEO), "-o", str(out), str(csv)], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    look = subprocess.run(["mmdblookup", "--file", str(out), "--ip", IT, "subdivisions", "0", "iso_code"],
                          capture_output=True, text=True)
    assert '"25"' in look.stdout, look.stdout + look.stderr
    return out


@pytest.fixture
def blocked(redis):
    """Redis with order o1 blocking pirate.example (schema as redsink-ctl writes it)."""
    c = redis.client()
    rs.put_order(c, "o1", ["pirate.example"])
    return c


# ---------------------------------------------------------------------------
# HTTP helpers
# ---------------------------------------------------------------------------

def get(port, host="pirate.example", path="/", headers=None, source=None, method="GET", timeout=5,
        body=None):
    """(status, {lowercase header: value}, body text) of one request."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout,
                                      source_address=(source, 0) if source else None)
    try:
        conn.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
        if host is not None:
            conn.putheader("Host", host)
        for k, v in (headers or {}).items():
            conn.putheader(k, v)
        if body is not None:
            conn.putheader("Content-Length", str(len(body)))
        conn.endheaders(body)
        r = conn.getresponse()
        data = r.read().decode("utf-8")
        return r.status, {k.lower(): v for k, v in r.getheaders()}, data
    finally:
        conn.close()


def raw(port, data, timeout=5):
    """Send raw octets; everything the server answers until it closes."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(data)
        out = b""
        while True:
            try:
                chunk = s.recv(65536)
            except ConnectionResetError:
                break
            if not chunk:
                break
            out += chunk
        return out


def views(client):
    """{field: count} summed over every views:<hour> key."""
    total = {}
    for key in client.scan_iter(rs.PREFIX + "views:*"):
        for f, n in client.hgetall(key).items():
            total[f] = total.get(f, 0) + int(n)
    return total


def wait_until(fn, timeout=5.0, step=0.05):
    t0 = time.monotonic()
    last = None
    while time.monotonic() - t0 < timeout:
        last = fn()
        if last:
            return last
        time.sleep(step)
    raise AssertionError(f"condition not met within {timeout}s (last: {last!r})")


# ---------------------------------------------------------------------------
# Pages
# ---------------------------------------------------------------------------

def test_blocked_domain_page(blocked, redis, make_warnd):
    w = make_warnd(redis)
    st, h, body = get(w.port, "pirate.example")
    assert st == 451
    assert h["content-type"] == "text/html; charset=utf-8"
    assert h["content-security-policy"] == CSP
    assert h["x-content-type-options"] == "nosniff"
    assert h["referrer-policy"] == "no-referrer"
    assert h["cache-control"] == "no-store"
    assert h["link"] == '<https://orders.example.org/1>; rel="blocked-by"'
    assert h["content-language"] == "en"
    for text in ["pirate.example", "RG 1234/2026", "Tribunale di Milano", "Copyright infringement",
                 "2026-01-10", 'href="https://orders.example.org/1"', '<html lang="en">']:
        assert text in body, text
    assert "<script" not in body.lower()


def test_subdomain_page_names_the_listed_parent(blocked, redis, make_warnd):
    w = make_warnd(redis)
    st, h, body = get(w.port, "WWW.Pirate.Example.:8080")
    assert st == 451
    assert "www.pirate.example" in body
    assert '<dd class="domain">pirate.example</dd>' in body
    assert "RG 1234/2026" in body


def test_unknown_host_gets_the_neutral_page(blocked, redis, make_warnd):
    w = make_warnd(redis)
    for host in ["ok.example", "192.0.2.1", "[2001:db8::1]:80", "example"]:
        st, h, body = get(w.port, host)
        assert st == 404, host
        assert "link" not in h
        assert h["content-security-policy"] == CSP
        assert "No blocking order applies here" in body
        assert "RG 1234/2026" not in body
    st, _, body = get(w.port, "ok.example")
    assert '<strong class="domain">ok.example</strong> is not blocked' in body


def test_missing_host_header(blocked, redis, make_warnd):
    w = make_warnd(redis)
    out = raw(w.port, b"GET / HTTP/1.0\r\n\r\n").decode()
    assert out.startswith("HTTP/1.0 404") or out.startswith("HTTP/1.1 404"), out[:200]
    assert "did not say which website it asked for" in out
    assert "Traceback" not in out and "error" not in out.lower().split("\r\n\r\n", 1)[1]
    st, _, body = get(w.port, host=None)       # HTTP/1.1 without Host
    assert st == 404
    assert "did not say which website" in body


def test_protected_name_is_not_blocked(blocked, redis, make_warnd):
    rs.protect(blocked, "safe.pirate.example")
    w = make_warnd(redis)
    assert get(w.port, "safe.pirate.example")[0] == 404
    assert get(w.port, "www.safe.pirate.example")[0] == 404
    assert get(w.port, "www.pirate.example")[0] == 451


def test_order_without_url_has_no_link(redis, make_warnd):
    rs.put_order(redis.client(), "o2", ["nolink.example"], url="", reason="", issued="",
                 reference="N-7", authority="AGCOM")
    w = make_warnd(redis)
    st, h, body = get(w.port, "nolink.example")
    assert st == 451
    assert "link" not in h
    assert "N-7" in body and "AGCOM" in body
    assert "<a href" not in body
    assert "contact the authority that issued it" in body
    assert "<dt>Reason</dt>" not in body and "<dt>Date</dt>" not in body


def test_expired_and_out_of_scope_orders(redis, make_warnd):
    c = redis.client()
    rs.put_order(c, "old", ["old.example"], expires="2020-01-01T00:00:00Z")
    rs.put_order(c, "it", ["it-only.example"], scope="IT")
    w = make_warnd(redis)
    assert get(w.port, "old.example")[0] == 404
    assert get(w.port, "it-only.example")[0] == 404          # no jurisdiction: only scope *
    w2 = make_warnd(redis, ["--jurisdiction", "it"])
    assert get(w2.port, "it-only.example")[0] == 451


def test_head_and_other_methods(blocked, redis, make_warnd):
    w = make_warnd(redis)
    st, h, body = get(w.port, "pirate.example", method="HEAD")
    assert st == 451 and body == "" and h["content-security-policy"] == CSP and "link" in h
    st, _, body = get(w.port, "pirate.example", method="POST", body=b"a=1")
    assert st == 451 and "RG 1234/2026" in body
    st, _, _ = get(w.port, "pirate.example", path="/some/deep/path?q=1")
    assert st == 451
    st, _, body = get(w.port, "pirate.example", path="/robots.txt")
    assert st == 200 and "Disallow: /" in body


def test_hostile_host_header_is_escaped(blocked, redis, make_warnd):
    w = make_warnd(redis)
    hostile = "<script>alert(\"x\")</script>'\"><img src=x onerror=alert(1)>"
    st, h, body = get(w.port, hostile)
    assert st == 404
    assert "<script>" not in body and "<img" not in body
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&#39;&quot;&gt;&lt;img src=x " \
           "onerror=alert(1)&gt;" in body
    # hostile Accept-Language and path change nothing
    st, _, body = get(w.port, "pirate.example", path="/<script>x</script>",
                      headers={"Accept-Language": "<script>, ko\"; q=1"})
    assert st == 451 and "<script>x" not in body and '<html lang="en">' in body


def test_hostile_order_fields_are_escaped(redis, make_warnd):
    rs.put_order(redis.client(), "evil", ["evil.example"], reference="R<b>1</b>",
                 authority="\"Court\" & <i>Co</i>", reason="</dd><script>alert(1)</script>",
                 url="javascript:alert(1)", lang='it" onload="x')
    w = make_warnd(redis)
    st, h, body = get(w.port, "evil.example")
    assert st == 451
    assert "link" not in h                       # not an http(s) URL: neither linked nor sent
    assert "javascript:" not in body
    assert "<script>" not in body and "<b>" not in body and "<i>" not in body
    assert "R&lt;b&gt;1&lt;/b&gt;" in body
    assert "&quot;Court&quot; &amp; &lt;i&gt;Co&lt;/i&gt;" in body
    # lang is a BCP 47 tag checked when the order is parsed: the hostile one is
    # replaced by the default language and never reaches the page
    assert "onload" not in body


def test_ipv6_listener(blocked, redis, make_warnd):
    """--listen [::1]:PORT next to the IPv4 one (IPv6 sockets are IPv6-only)."""
    port6 = harness.free_port()
    w = make_warnd(redis, ["--listen", f"[::1]:{port6}"])
    conn = http.client.HTTPConnection("::1", port6, timeout=5)
    try:
        conn.request("GET", "/", headers={"Host": "www.pirate.example"})
        r = conn.getresponse()
        body = r.read().decode()
    finally:
        conn.close()
    assert r.status == 451 and "RG 1234/2026" in body
    assert get(w.port, "www.pirate.example")[0] == 451


def test_healthz(blocked, redis, make_warnd):
    w = make_warnd(redis)
    st, h, body = get(w.port, "anything.example", path="/healthz")
    assert (st, body) == (200, "ok\n")
    assert h["content-type"].startswith("text/plain")


# ---------------------------------------------------------------------------
# Languages
# ---------------------------------------------------------------------------

KOREAN_TITLE = "이 웹사이트는 이용할 수 없습니다"
ENGLISH_TITLE = "This website is not available"


def lang_of(port, headers=None, source=None, host="pirate.example"):
    st, h, body = get(port, host, headers=headers, source=source)
    lang = h["content-language"]
    assert f'<html lang="{lang}">' in body
    if st == 451:
        assert (KOREAN_TITLE if lang == "ko" else ENGLISH_TITLE) in body
    return lang


def test_language_from_accept_language(blocked, redis, make_warnd):
    w = make_warnd(redis)
    assert lang_of(w.port, {"Accept-Language": "ko-KR,ko;q=0.9,en-US;q=0.8,en;q=0.7"}) == "ko"
    assert lang_of(w.port, {"Accept-Language": "fr-FR, de;q=0.9, ko;q=0.5, en;q=0.4"}) == "ko"
    assert lang_of(w.port, {"Accept-Language": "en;q=0.5, ko;q=0.6"}) == "ko"
    assert lang_of(w.port, {"Accept-Language": "ko;q=0, en"}) == "en"
    assert lang_of(w.port, {"Accept-Language": "fr, de"}) == "en"
    assert lang_of(w.port, {"Accept-Language": "garbage;;;q=x"}) == "en"
    assert lang_of(w.port) == "en"
    assert lang_of(w.port, {"Accept-Language": "ko"}, host="ok.example") == "ko"   # neutral page too
    st, _, body = get(w.port, "ok.example", headers={"Accept-Language": "ko"})
    assert "적용되는 차단 명령이 없습니다" in body


def test_language_falls_back_to_country_then_english(blocked, redis, make_warnd, geo_db):
    w = make_warnd(redis, ["--geoip", str(geo_db)])
    assert lang_of(w.port, source=KR) == "ko"                                 # Korea: Korean
    assert lang_of(w.port, source=IT) == "en"                                 # no Italian template
    assert lang_of(w.port, source=ZZ) == "en"                                 # unknown
    assert lang_of(w.port, {"Accept-Language": "en"}, source=KR) == "en"     # the header wins
    assert lang_of(w.port, {"Accept-Language": "fr"}, source=KR) == "ko"     # nothing usable: country
    w2 = make_warnd(redis, ["--geoip", str(geo_db), "--lang", "ko"])
    assert lang_of(w2.port, source=ZZ) == "ko"                                # another default


def test_templates_are_reloaded_on_sighup(blocked, redis, make_warnd, tmp_path):
    tdir = tmp_path / "templates"
    shutil.copytree(TEMPLATES, tdir)
    w = make_warnd(redis, ["--templates", str(tdir)])
    assert ENGLISH_TITLE in get(w.port)[2]
    p = tdir / "en.html"
    p.write_text(p.read_text().replace(ENGLISH_TITLE, "Site blocked by court order"))
    (tdir / "neutral-ko.html").unlink()      # Korean neutral page gone: falls back to English
    os.kill(w.pid, signal.SIGHUP)
    wait_until(lambda: "Site blocked by court order" in get(w.port)[2])
    assert lang_of(w.port, {"Accept-Language": "ko"}, host="ok.example") == "en"
    assert lang_of(w.port, {"Accept-Language": "ko"}) == "ko"
    # a broken directory is refused and the templates in use stay
    (tdir / "neutral-en.html").unlink()
    os.kill(w.pid, signal.SIGHUP)
    wait_until(lambda: "keeping the templates in use" in w.log())
    assert "Site blocked by court order" in get(w.port)[2]


# ---------------------------------------------------------------------------
# The list follows Redis
# ---------------------------------------------------------------------------

def test_changes_are_followed(blocked, redis, make_warnd):
    w = make_warnd(redis)
    assert get(w.port, "new.example")[0] == 404
    rs.add_domains(blocked, "o1", ["new.example"])
    wait_until(lambda: get(w.port, "new.example")[0] == 451, timeout=2)
    rs.put_order(blocked, "o1", [], reference="RG 9999/2026")
    wait_until(lambda: "RG 9999/2026" in get(w.port, "new.example")[2], timeout=2)
    rs.revoke(blocked, "o1")
    wait_until(lambda: get(w.port, "pirate.example")[0] == 404, timeout=2)


def test_redis_down_at_start_then_up(redis, make_warnd):
    redis.stop()
    w = make_warnd(redis, wait_list=False)
    st, h, body = get(w.port, "pirate.example")
    assert st == 503 and h["retry-after"] == "30"
    assert "Please try again in a moment" in body
    assert get(w.port, path="/healthz")[0] == 503
    redis.start()
    rs.put_order(redis.client(), "o1", ["pirate.example"])
    wait_until(lambda: get(w.port, "pirate.example")[0] == 451, timeout=8)
    assert get(w.port, path="/healthz")[:3:2] == (200, "ok\n")


def test_redis_restart_is_followed_at_the_first_retry(blocked, redis, make_warnd):
    """Reconnects are tried 0.25, 0.75, 1.75, 3.75, 7.75, 15.75 s after the loss.
    Redis back after about 4.5 s must be followed at the 7.75 s try: the
    blocking connection of before the restart must not make that try fail (it
    did: the sync thread reused it, failed, and waited until 15.75 s)."""
    w = make_warnd(redis)
    redis.stop()
    t0 = time.monotonic()
    time.sleep(4.5)
    redis.start()            # empty: no persistence
    rs.put_order(redis.client(), "o5", ["other.example"])
    wait_until(lambda: get(w.port, "other.example")[0] == 451, timeout=20)
    took = time.monotonic() - t0
    assert took < 12, f"followed {took:.1f} s after the loss: a retry failed"
    assert get(w.port, path="/healthz")[:3:2] == (200, "ok\n")


def test_redis_lost_while_running_keeps_the_list(blocked, redis, make_warnd):
    w = make_warnd(redis)
    redis.stop()
    time.sleep(0.3)
    assert get(w.port, "pirate.example")[0] == 451
    assert get(w.port, path="/healthz")[0] == 200
    redis.start()            # empty: no persistence
    rs.put_order(redis.client(), "o5", ["other.example"])
    wait_until(lambda: get(w.port, "other.example")[0] == 451, timeout=8)
    assert get(w.port, "pirate.example")[0] == 404


# ---------------------------------------------------------------------------
# Page views
# ---------------------------------------------------------------------------

def test_page_views_counted_by_region(blocked, redis, make_warnd, geo_db):
    w = make_warnd(redis, ["--geoip", str(geo_db), "--flush-interval", "0.2", "--retention", "7"])
    for src in [KR, KR, IT, ZZ]:
        assert get(w.port, "www.pirate.example", source=src)[0] == 451
    # not counted: HEAD, the favicon, health checks, neutral pages
    get(w.port, "pirate.example", method="HEAD", source=KR)
    get(w.port, "pirate.example", path="/favicon.ico", source=KR)
    get(w.port, "pirate.example", path="/healthz", source=KR)
    get(w.port, "ok.example", source=KR)
    want = {"o1|pirate.example|KR": 2, "o1|pirate.example|IT-25": 1, "o1|pirate.example|ZZ": 1}
    wait_until(lambda: views(blocked) == want, timeout=3)
    time.sleep(0.7)                      # three more flush intervals: nothing counted twice
    assert views(blocked) == want
    keys = list(blocked.scan_iter(rs.PREFIX + "views:*"))
    assert all(re.fullmatch(r"redsink:views:\d{4}-\d\d-\d\dT\d\d", k) for k in keys), keys
    for k in keys:
        assert 7 * 86400 - 60 < blocked.ttl(k) <= 7 * 86400
    # no client address anywhere: not in Redis, not in the log
    dump = []
    for k in blocked.scan_iter("*"):
        t = blocked.type(k)
        dump.append(k)
        if t == "hash":
            dump += [x for kv in blocked.hgetall(k).items() for x in kv]
        elif t == "set":
            dump += list(blocked.smembers(k))
    assert not any("127.0.0." in x for x in dump), [x for x in dump if "127.0.0." in x]
    assert "127.0.0." not in w.log().replace(f"127.0.0.1:{w.port}", "").replace(redis.url, "")


def test_page_views_survive_a_redis_outage(blocked, redis, make_warnd):
    w = make_warnd(redis, ["--flush-interval", "0.2"])
    get(w.port)
    wait_until(lambda: views(blocked) == {"o1|pirate.example|ZZ": 1}, timeout=3)
    time.sleep(0.5)
    assert views(blocked) == {"o1|pirate.example|ZZ": 1}
    redis.stop()
    for _ in range(3):
        assert get(w.port)[0] == 451        # the list stays in memory
    time.sleep(0.5)                          # a flush or two fail meanwhile
    redis.start()
    c = redis.client()
    wait_until(lambda: views(c) == {"o1|pirate.example|ZZ": 3}, timeout=8)
    time.sleep(0.7)                      # the retried batch is not written twice
    assert views(c) == {"o1|pirate.example|ZZ": 3}


def test_page_views_key_of_the_wrong_type_is_not_retried_in_a_loop(blocked, redis, make_warnd):
    hour = time.strftime("%Y-%m-%dT%H", time.gmtime())
    blocked.set(rs.PREFIX + f"views:{hour}", "x")
    w = make_warnd(redis, ["--flush-interval", "0.2"])
    for _ in range(3):
        assert get(w.port)[0] == 451
    time.sleep(1.5)                          # seven flush intervals
    assert get(w.port)[0] == 451             # still serving
    assert blocked.get(rs.PREFIX + f"views:{hour}") == "x"
    assert w.log().count("WRONGTYPE") == 1, w.log()   # logged once, dropped, not resent


def test_page_views_written_at_exit(blocked, redis, make_warnd):
    w = make_warnd(redis, ["--flush-interval", "3600"])
    for _ in range(5):
        get(w.port)
    assert views(blocked) == {}
    w.stop()
    assert views(blocked) == {"o1|pirate.example|ZZ": 5}
    assert w.proc.returncode == 0


# ---------------------------------------------------------------------------
# Hostile clients
# ---------------------------------------------------------------------------

def assert_served_quickly(port, n=5, limit=0.5):
    for _ in range(n):
        t0 = time.monotonic()
        st, _, body = get(port, "pirate.example", timeout=3)
        took = time.monotonic() - t0
        assert st == 451 and "RG 1234/2026" in body
        assert took < limit, f"a normal request took {took:.2f} s"


class Slowloris:
    """n connections that send a request's headers one byte at a time, never finishing."""

    REQUEST = b"GET / HTTP/1.1\r\nHost: pirate.example\r\nX-Padding: " + b"a" * 4000

    def __init__(self, port, n, interval=0.3):
        self.socks = [socket.create_connection(("127.0.0.1", port), timeout=5) for _ in range(n)]
        self.closed_at = {}
        self.interval = interval
        self.stop = threading.Event()
        self.t0 = time.monotonic()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        i = 0
        while not self.stop.is_set() and i < len(self.REQUEST):
            for k, s in enumerate(self.socks):
                if k in self.closed_at:
                    continue
                try:
                    s.sendall(self.REQUEST[i:i + 1])
                except OSError:
                    self.closed_at[k] = time.monotonic() - self.t0
            i += 1
            self.stop.wait(self.interval)

    def alive(self):
        """How many the server has not closed yet (a closed one reads EOF or RST)."""
        n = 0
        for k, s in enumerate(self.socks):
            if k in self.closed_at:
                continue
            s.setblocking(False)
            try:
                data = s.recv(4096)
                if data == b"":
                    self.closed_at[k] = time.monotonic() - self.t0
                    continue
            except BlockingIOError:
                pass
            except OSError:
                self.closed_at[k] = time.monotonic() - self.t0
                continue
            finally:
                s.setblocking(True)
            n += 1
        return n

    def close(self):
        self.stop.set()
        self.thread.join(timeout=5)
        for s in self.socks:
            s.close()


def test_slowloris_does_not_stop_other_clients(blocked, redis, make_warnd):
    # the inactivity timeout (2 s) never fires: a byte comes every 0.3 s;
    # the connection lifetime (3 s) does
    w = make_warnd(redis, ["--idle-timeout", "2", "--conn-timeout", "3"])
    slow = Slowloris(w.port, 50)
    try:
        time.sleep(0.5)
        assert slow.alive() == 50
        assert_served_quickly(w.port)
        wait_until(lambda: slow.alive() == 0, timeout=5)
        assert max(slow.closed_at.values()) < 4.5, slow.closed_at
        assert_served_quickly(w.port)
    finally:
        slow.close()


def test_connection_limit_drops_the_oldest(blocked, redis, make_warnd):
    w = make_warnd(redis, ["--max-connections", "20", "--conn-timeout", "60", "--idle-timeout", "60"])
    slow = Slowloris(w.port, 40, interval=0.2)
    try:
        time.sleep(0.5)
        # the oldest 20 made room for the newest 20 ...
        wait_until(lambda: slow.alive() <= 20, timeout=3)
        # ... and a client that finishes its request is still served
        assert_served_quickly(w.port, n=10)
        assert all(k < 30 for k in slow.closed_at), sorted(slow.closed_at)
    finally:
        slow.close()


def send_big(port, data, timeout=10):
    """Send data (the server may stop reading and close early); return what it
    answered before closing. A reset after the answer keeps the answer: the
    octets queued before the RST are read first."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        try:
            s.sendall(data)
        except OSError:
            pass            # the server refused and closed while we were still sending
        out = b""
        while True:
            try:
                chunk = s.recv(65536)
            except OSError:
                break
            if not chunk:
                break
            out += chunk
        return out


def test_oversized_requests_are_refused(blocked, redis, make_warnd):
    w = make_warnd(redis, ["--max-header-size", "8192", "--max-body-size", "4096"])
    results = {}

    def big_header():
        results["header"] = send_big(w.port, b"GET / HTTP/1.1\r\nHost: pirate.example\r\nX-Big: "
                                     + b"x" * (1 << 20) + b"\r\n\r\n")

    def big_body():
        results["body"] = send_big(w.port, b"POST / HTTP/1.1\r\nHost: pirate.example\r\n"
                                   b"Content-Length: 2000000\r\n\r\n" + b"y" * 2000000)

    threads = [threading.Thread(target=f) for f in (big_header, big_body)]
    for t in threads:
        t.start()
    assert_served_quickly(w.port)
    for t in threads:
        t.join(timeout=10)
    # each refused with its own status, never a page (451), never a hang:
    # evhttp answers a header block over --max-header-size with 400 (431
    # would do as well), a body over --max-body-size with 413
    assert re.match(rb"HTTP/1\.1 (400|431) ", results["header"]), results["header"][:200]
    assert results["body"].startswith(b"HTTP/1.1 413 "), results["body"][:200]
    # a header block just over the limit, and one just under it
    assert re.match(rb"HTTP/1\.1 (400|431) ", send_big(w.port, b"GET / HTTP/1.1\r\nHost: pirate.example\r\n"
                                                        b"X-Big: " + b"x" * 8200 + b"\r\n\r\n"))
    assert send_big(w.port, b"GET / HTTP/1.1\r\nHost: pirate.example\r\nConnection: close\r\n"
                    b"X-Big: " + b"x" * 7000 + b"\r\n\r\n").startswith(b"HTTP/1.1 451 ")
    assert_served_quickly(w.port)


def test_malformed_requests(blocked, redis, make_warnd):
    w = make_warnd(redis, ["--idle-timeout", "1"])
    # every malformed request line or header gets 400 at once
    for junk in [b"GARBAGE\r\n\r\n", b"GET / HTTP/9.9\r\nHost: pirate.example\r\n\r\n",
                 b"GET /\x00 HTTP/1.1\r\n\r\n", b"GET / HTTP/1.1\r\nHost pirate.example\r\n\r\n",
                 b"\r\n\r\nGET\r\n\r\n"]:     # (empty lines before a request line are ignored)
        t0 = time.monotonic()
        out = raw(w.port, junk, timeout=5)
        assert out.startswith(b"HTTP/1.1 400 "), (junk, out[:200])
        assert time.monotonic() - t0 < 0.9, junk      # not by the idle timeout
    # junk without an end of line waits for one until the idle timeout (1 s),
    # then the connection is closed without an answer
    t0 = time.monotonic()
    out = raw(w.port, b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + b"\0" * 64, timeout=5)
    took = time.monotonic() - t0
    assert out == b"" and 0.8 < took < 3.5, (out[:200], took)
    assert_served_quickly(w.port)
    assert w.running()


def test_tls_connections_are_reset_at_once(blocked, redis, make_warnd):
    w = make_warnd(redis, tls=True)
    hello = bytes.fromhex("160301002f0100002b0303") + b"\0" * 32 + bytes.fromhex("000002130101000000")
    t0 = time.monotonic()
    try:        # the reset may come while connecting (loopback is fast), sending or reading
        with socket.create_connection(("127.0.0.1", w.tls_port), timeout=5) as s:
            s.sendall(hello)
            data = s.recv(100)
    except (ConnectionResetError, BrokenPipeError):
        data = None
    took = time.monotonic() - t0
    assert data in (None, b""), data
    assert took < 1.0, took
    assert_served_quickly(w.port, n=1)


# ---------------------------------------------------------------------------
# Process
# ---------------------------------------------------------------------------

def run_warnd(*args, timeout=10):
    return subprocess.run([warnd_binary(), *args], capture_output=True, text=True, timeout=timeout)


def test_command_line(tmp_path):
    """Exit codes are the tools' one scheme (issue 11; sysexits before): 2 usage, 1 error, 5 bad data."""
    r = run_warnd("--help")
    assert r.returncode == 0 and "--listen ADDR:PORT" in r.stdout and "--tls-reset" in r.stdout
    assert run_warnd("--version").stdout.startswith("redsink-warnd ")
    assert run_warnd("--no-such-option").returncode == 2
    assert run_warnd("--retention", "0").returncode == 2
    r = run_warnd("--templates", str(tmp_path / "none"))
    assert r.returncode == 1 and str(tmp_path / "none") in r.stderr
    (tmp_path / "t").mkdir()
    (tmp_path / "t" / "ko.html").write_text("<p>{reference}</p>")
    r = run_warnd("--templates", str(tmp_path / "t"))
    assert r.returncode == 5 and "needs both en.html and neutral-en.html" in r.stderr
    r = run_warnd("--templates", str(TEMPLATES), "--check")
    assert r.returncode == 0 and "2 template languages" in r.stdout
    r = run_warnd("--templates", str(TEMPLATES), "--user", "no-such-user-here", "--listen", "127.0.0.1:1")
    assert r.returncode == 1
    r = run_warnd("--templates", str(TEMPLATES), "--geoip", str(tmp_path / "missing.mmdb"))
    assert r.returncode == 1
    port = harness.free_port()
    with socket.socket() as busy:
        busy.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        busy.bind(("127.0.0.1", port))
        busy.listen()
        r = run_warnd("--templates", str(TEMPLATES), "--listen", f"127.0.0.1:{port}")
    assert r.returncode == 1 and "in use" in r.stderr


def test_daemon_drops_privileges(blocked, redis, tmp_path):
    """--daemon --user nobody: detaches, binds first, then runs as nobody."""
    port = harness.free_port()
    pidfile = tmp_path / "warnd.pid"
    r = run_warnd("--daemon", "--user", "nobody", "--pidfile", str(pidfile), "--listen", f"127.0.0.1:{port}",
                  "--redis", redis.url, "--templates", str(TEMPLATES))
    assert r.returncode == 0, r.stderr
    pid = int(wait_until(lambda: pidfile.exists() and pidfile.read_text().strip()))
    try:
        wait_until(lambda: _answers(port))
        status = Path(f"/proc/{pid}/status").read_text()
        uids = re.search(r"^Uid:\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)", status, re.M).groups()
        assert set(uids) == {"65534"}, uids
        wait_until(lambda: get(port, "pirate.example")[0] == 451)
    finally:
        try:
            os.kill(pid, signal.SIGTERM)      # the daemon we started: its PID from its pidfile
        except ProcessLookupError:
            pass
        wait_until(lambda: not Path(f"/proc/{pid}").exists() or
                   Path(f"/proc/{pid}/stat").read_text().split(") ")[1].startswith("Z"), timeout=10)


def _answers(port):
    try:
        return get(port, path="/healthz", timeout=0.5)[0] in (200, 503)
    except OSError:
        return False


# ---------------------------------------------------------------------------
# A real browser, through the real resolver
# ---------------------------------------------------------------------------

def chromium(tmp_path, port, addr, url, *extra):
    assert Path(CHROMIUM).exists(), "chromium is missing: scripts/deps.sh installs it"
    profile = tmp_path / f"chromium-{time.monotonic_ns()}"
    argv = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
            "--disable-dev-shm-usage", f"--user-data-dir={profile}",
            f"--host-resolver-rules=MAP * {addr}:{port}", "--window-size=1200,900", *extra, url]
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
    try:
        out, err = proc.communicate(timeout=90)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)     # the process group of the Chromium we started
        out, err = proc.communicate()
        raise AssertionError("chromium timed out:\n" + err.decode(errors="replace")[-3000:])
    finally:
        shutil.rmtree(profile, ignore_errors=True)
    return proc.returncode, out.decode(errors="replace"), err.decode(errors="replace")


def test_browser_shows_the_order(blocked, redis, make_unbound, make_warnd, tmp_path):
    w = make_warnd(redis)
    ub = rs.start_resolver(make_unbound, redis, tmp_path, {"sinkhole_ipv4": "127.0.0.1"})
    # the resolver sends the browser to the sinkhole address: where warnd listens
    sink = rs.first_a(ub, "www.pirate.example")
    assert sink == "127.0.0.1"
    assert rs.first_a(ub, "ok.example") == "198.51.100.10"

    rc, dom, err = chromium(tmp_path, w.port, sink, "http://www.pirate.example/", "--dump-dom")
    assert rc == 0, err[-3000:]
    assert "RG 1234/2026" in dom and "Tribunale di Milano" in dom, dom[:2000]
    assert "www.pirate.example" in dom

    shots = {}
    for lang in ("en", "ko"):
        png = tmp_path / f"warning-{lang}.png"
        rc, _, err = chromium(tmp_path, w.port, sink, "http://www.pirate.example/", f"--screenshot={png}",
                              f"--accept-lang={lang}")
        assert rc == 0 and png.exists(), err[-3000:]
        assert png.stat().st_size > 10000, png.stat().st_size
        sd = subprocess.run([CONVERT, str(png), "-format", "%[fx:standard_deviation]", "info:"],
                            capture_output=True, text=True, check=True).stdout
        assert float(sd) > 0.03, f"{png} looks blank (standard deviation {sd})"
        shots[lang] = png
    rc, dom, _ = chromium(tmp_path, w.port, sink, "http://www.pirate.example/", "--dump-dom", "--accept-lang=ko")
    assert KOREAN_TITLE in dom and "RG 1234/2026" in dom
    keep = os.environ.get("REDSINK_SCREENSHOTS")     # a directory to keep them in, to look at
    if keep:
        for png in shots.values():
            shutil.copy(png, Path(keep) / png.name)


# ---------------------------------------------------------------------------
# Issue 11: methods, bad options, a degraded /healthz
# ---------------------------------------------------------------------------

def test_methods_without_a_page_get_405_with_allow(blocked, redis, make_warnd):
    """405 + Allow (as redsink-warnd(8) says), not libevent's 501, for TRACE,
    CONNECT and methods nobody registered; the page's methods are unchanged."""
    w = make_warnd(redis)
    for method in ["TRACE", "PROPFIND", "FOO", "BREW"]:
        out = raw(w.port, f"{method} / HTTP/1.1\r\nHost: pirate.example\r\nConnection: close\r\n\r\n".encode())
        head = out.split(b"\r\n\r\n", 1)[0].decode()
        assert head.startswith("HTTP/1.1 405 "), (method, head)
        assert re.search(r"(?mi)^Allow: GET, HEAD\r?$", head), (method, head)
    # CONNECT's authority-form target: libevent answers 405/400 or, with the
    # ASan build, sometimes holds the connection until its idle timeout; never 501
    try:
        out = raw(w.port, b"CONNECT pirate.example:443 HTTP/1.1\r\nHost: pirate.example:443\r\n"
                          b"Connection: close\r\n\r\n", timeout=2)
    except TimeoutError:
        out = b""
    assert out == b"" or out.startswith((b"HTTP/1.1 405 ", b"HTTP/1.1 400 ")), out[:200]
    for method in ["GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "PATCH"]:
        assert get(w.port, "pirate.example", method=method)[0] == 451, method
    assert w.running()


def test_unknown_option_is_one_line(tmp_path):
    for args, named in [(["--no-such-option"], "'--no-such-option'"), (["--bogus=3"], "'--bogus'"),
                        (["-x"], "'-x'"), (["--listen"], "'--listen'"), (["--re"], "'--re'"),
                        (["--daemon=1"], "'--daemon'"), (["--foreground", "-zf"], "'-z'")]:
        r = run_warnd(*args)
        assert r.returncode == 2, (args, r)
        assert r.stdout == "" and len(r.stderr.splitlines()) == 1, (args, r.stderr)
        assert r.stderr.startswith("redsink-warnd: ") and named in r.stderr, (args, r.stderr)
        assert "see redsink-warnd --help or man 8 redsink-warnd" in r.stderr, r.stderr
    assert "ambiguous" in run_warnd("--re").stderr
    r = run_warnd("--foreground", "extra")
    assert r.returncode == 2 and len(r.stderr.splitlines()) == 1 and "'extra'" in r.stderr


def test_healthz_degraded_while_redis_is_down(blocked, redis, make_warnd):
    """A list is served while Redis is away: still 200 (users keep reaching
    the page), but the body and X-Redsink-Health say it may be stale."""
    w = make_warnd(redis)
    st, h, body = get(w.port, path="/healthz")
    assert (st, body) == (200, "ok\n")
    before = time.time()
    redis.stop()
    st, h, body = wait_until(lambda: (lambda r: r if r[2].startswith("degraded:") else None)(
        get(w.port, path="/healthz")), timeout=10)
    assert st == 200 and h["x-redsink-health"] == "degraded", (st, h, body)
    m = re.fullmatch(r"degraded: Redis unreachable for (\d+) s; list from "
                     r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ), may be stale\n", body)
    assert m, body
    assert 3 <= int(m.group(1)) <= 12, body
    t = time.mktime(time.strptime(m.group(2), "%Y-%m-%dT%H:%M:%SZ")) - time.timezone
    assert before - 5 <= t <= before + 2, (before, body)
    assert "127.0.0.1" not in body and str(redis.port) not in body      # a public page: no Redis address
    time.sleep(1.2)
    n2 = int(re.search(r"for (\d+) s", get(w.port, path="/healthz")[2]).group(1))
    assert n2 > int(m.group(1))                                           # counts up
    assert get(w.port, "pirate.example")[0] == 451                       # the list still serves
    assert h.get("x-redsink-health") == "degraded"
    redis.start()
    rs.put_order(redis.client(), "o1", ["pirate.example"])
    wait_until(lambda: not get(w.port, path="/healthz")[2].startswith("degraded:"), timeout=10)
    assert get(w.port, path="/healthz")[1]["x-redsink-health"] in ("ok", "degraded")
    w2 = make_warnd(redis)
    assert get(w2.port, path="/healthz")[1]["x-redsink-health"] == "ok"


def test_healthz_unavailable_header(redis, make_warnd):
    redis.stop()
    w = make_warnd(redis, wait_list=False)
    st, h, body = get(w.port, path="/healthz")
    assert st == 503 and h["x-redsink-health"] == "unavailable" and body.startswith("unavailable:")


# ---------------------------------------------------------------------------
# Address-triggered blocks (issue 13): the host is not a listed name, but an
# order's prefix held its address; the module counted it in discovered:<hour>
# and indexed it in discovered-names:<hour> (name -> order|prefix), which
# warnd reads with HGET
# ---------------------------------------------------------------------------

def put_ips(c, oid, prefixes, op="addip"):
    p = c.pipeline(transaction=True)
    for px in prefixes:
        (p.sadd if op == "addip" else p.srem)(rs.PREFIX + f"order:{oid}:ips", px)
        p.xadd(rs.PREFIX + "changes", {"op": op, "order": oid, "prefix": px, "by": "test"})
    p.execute()


def hour_key(back=0):
    return time.strftime("%Y-%m-%dT%H", time.gmtime(time.time() - back * 3600))


def discover(c, hour, names):
    """Write {name: "order|prefix"} as the module does: the counts and the index."""
    p = c.pipeline(transaction=True)
    for i in range(0, len(names), 5000):
        part = dict(list(names.items())[i:i + 5000])
        p.hset(rs.PREFIX + "discovered:" + hour, mapping={f"{n}|{v}": 1 for n, v in part.items()})
        p.hset(rs.PREFIX + "discovered-names:" + hour, mapping=part)
    p.execute()


def test_address_triggered_block_names_the_prefix(blocked, redis, make_warnd):
    c = blocked
    put_ips(c, "o1", ["198.51.100.0/24"])
    discover(c, hour_key(), {"mirror7.example": "o1|198.51.100.0/24",
                             "mirror7.example.evil": "o1|198.51.100.0/24"})
    # hostile index values: never taken
    c.hset(rs.PREFIX + "discovered-names:" + hour_key(), mapping={
        "mirror8.example": "o1|<script>alert(1)</script>", "mirror9.example": "o1|10.0.0.1/8",
        "mirror10.example": "o:1|198.51.100.0/24", "mirror11.example": "o1|198.51.100.0/24|x",
        "mirror12.example": "o1|2001:DB8::/48", "mirror13.example": "",
    })
    # the previous hour counts too
    discover(c, hour_key(1), {"old-mirror.example": "o1|198.51.100.0/24"})
    w = make_warnd(redis)
    wait_until(lambda: get(w.port, "pirate.example")[0] == 451)
    st, h, body = get(w.port, "mirror7.example")
    assert st == 451, body
    assert "its address lies in the address range <strong class=\"domain\">198.51.100.0/24</strong>" in body
    assert "listed by order <strong>o1</strong>" in body
    assert "RG 1234/2026" in body and "Blocked address range" in body and "Blocked domain" not in body
    assert h["link"] == '<https://orders.example.org/1>; rel="blocked-by"'
    st, h, body = get(w.port, "old-mirror.example", headers={"Accept-Language": "ko"})
    assert st == 451 and h["content-language"] == "ko"
    assert "198.51.100.0/24" in body and "주소 범위" in body
    # not indexed, hostile values, glob metacharacters, a prefix of an indexed name
    for host in ["unknown.example", "mirror8.example", "mirror9.example", "mirror10.example", "mirror11.example",
                 "mirror12.example", "mirror13.example", "mirror7.exampl", "mirror*.example", "mirror?.example",
                 "[m]irror7.example", "example"]:
        st, _, body = get(w.port, host)
        assert st == 404, (host, body)
        assert "<script>" not in body
    # a listed name still gets its own page
    st, _, body = get(w.port, "pirate.example")
    assert st == 451 and "Blocked domain" in body and "address range" not in body
    # page views of an address-triggered block: order|prefix|region
    wait_until(lambda: views(c).get("o1|198.51.100.0/24|ZZ", 0) >= 2, timeout=10)
    assert not [k for k in c.scan_iter(rs.PREFIX + "discovered:*") if c.hget(k, "|o1|198.51.100.0/24")]
    # the prefix withdrawn: the name is no longer blocked, its page neutral
    put_ips(c, "o1", ["198.51.100.0/24"], op="delip")
    wait_until(lambda: get(w.port, "mirror7.example")[0] == 404)


def test_address_triggered_block_found_in_a_big_hour(blocked, redis, make_warnd):
    """A busy hour (60 000 discovered names: a shared range on a CDN) costs one HGET per hour
    key: the host is found wherever it sits in the hash (a bounded HSCAN missed it)."""
    c = blocked
    put_ips(c, "o1", ["198.51.100.0/24"])
    names = {f"site{i}.cdn.example": "o1|198.51.100.0/24" for i in range(60000)}
    discover(c, hour_key(), names)
    w = make_warnd(redis)
    wait_until(lambda: get(w.port, "pirate.example")[0] == 451)
    for host in ["site0.cdn.example", "site31337.cdn.example", "site59999.cdn.example"]:
        st, _, body = get(w.port, host)
        assert st == 451 and "198.51.100.0/24" in body, host
    cmds = {k: v for k, v in c.info("commandstats").items()}
    assert "cmdstat_hscan" not in cmds
    assert cmds["cmdstat_hget"]["calls"] <= 2 * 3


def test_discovered_lookups_are_rate_limited(blocked, redis, make_warnd):
    """Host headers are chosen by the client: lookups the cache does not answer are limited (20 a
    second, a burst of 40); beyond that the page is the neutral one, and it is logged."""
    c = blocked
    put_ips(c, "o1", ["198.51.100.0/24"])
    discover(c, hour_key(), {"mirror7.example": "o1|198.51.100.0/24"})
    w = make_warnd(redis)
    wait_until(lambda: get(w.port, "pirate.example")[0] == 451)
    t0 = time.monotonic()
    for i in range(150):
        assert get(w.port, f"made-up-{i}.example")[0] == 404
    assert get(w.port, "pirate.example")[0] == 451                  # listed names never wait
    elapsed = time.monotonic() - t0
    hget = c.info("commandstats")["cmdstat_hget"]["calls"]
    assert hget <= 2 * (40 + 20 * (int(elapsed) + 2)), (hget, elapsed)
    wait_until(lambda: "lookups over the limit" in w.log(), timeout=5)
    # tokens come back: the indexed host is found
    wait_until(lambda: get(w.port, "mirror7.example")[0] == 451, timeout=5, step=0.3)


def test_discovered_key_of_the_wrong_type_and_redis_down(blocked, redis, make_warnd):
    c = blocked
    put_ips(c, "o1", ["198.51.100.0/24"])
    c.set(rs.PREFIX + "discovered-names:" + hour_key(), "not a hash")
    w = make_warnd(redis)
    wait_until(lambda: get(w.port, "pirate.example")[0] == 451)
    assert get(w.port, "mirror7.example")[0] == 404
    # Redis gone: the listed names still get their page at once, others the neutral one, quickly
    redis.stop()
    t0 = time.monotonic()
    assert get(w.port, "another.example")[0] == 404
    assert get(w.port, "pirate.example")[0] == 451
    assert time.monotonic() - t0 < 3


# ---------------------------------------------------------------------------
# Issue 15: rendered pages kept, and the server's own HTTP/1.1
# ---------------------------------------------------------------------------

def page_of(port, host="pirate.example", lang=None):
    return get(port, host, headers={"Accept-Language": lang} if lang else None)


def test_cached_page_follows_every_change_within_a_second(blocked, redis, make_warnd):
    """A page is rendered once per template and values, then served from the
    cache: a changed order field, a withdrawn name or a revoked order must show
    in the next page, within 1 s of the change in Redis."""
    w = make_warnd(redis)
    for _ in range(3):      # rendered, then served from the cache
        st, _, body = page_of(w.port)
        assert st == 451 and "RG 1234/2026" in body and "Copyright infringement" in body
    for change, check in [
            (dict(reference="RG 5555/2026"), lambda b: "RG 5555/2026" in b and "RG 1234/2026" not in b),
            (dict(reference="RG 5555/2026", reason="Live sports piracy"),
             lambda b: "Live sports piracy" in b and "Copyright infringement" not in b),
            (dict(reference="RG 5555/2026", reason="Live sports piracy", authority="AGCOM"),
             lambda b: "AGCOM" in b and "Tribunale di Milano" not in b),
            (dict(reference="RG 5555/2026", reason="Live sports piracy", authority="AGCOM",
                  url="https://orders.example.org/2"),
             lambda b: 'href="https://orders.example.org/2"' in b)]:
        rs.put_order(blocked, "o1", [], **change)
        t0 = time.monotonic()
        wait_until(lambda: check(page_of(w.port)[2]), timeout=1.0, step=0.02)
        assert time.monotonic() - t0 < 1.0
    st, h, _ = page_of(w.port)
    assert h["link"] == '<https://orders.example.org/2>; rel="blocked-by"'
    # a withdrawn name, then a revoked order: the neutral page at once
    rs.add_domains(blocked, "o1", ["other.example"])
    wait_until(lambda: page_of(w.port, "other.example")[0] == 451, timeout=1.0, step=0.02)
    rs.del_domains(blocked, "o1", ["other.example"])
    wait_until(lambda: page_of(w.port, "other.example")[0] == 404, timeout=1.0, step=0.02)
    rs.revoke(blocked, "o1")
    wait_until(lambda: page_of(w.port)[0] == 404, timeout=1.0, step=0.02)
    assert "RG 5555/2026" not in page_of(w.port)[2]


def test_cached_pages_differ_by_host_and_language(blocked, redis, make_warnd):
    rs.put_order(blocked, "o2", ["stream.example"], reference="N-42", authority="AGCOM")
    w = make_warnd(redis)
    for _ in range(2):      # the second round comes from the cache
        a = page_of(w.port, "pirate.example")
        b = page_of(w.port, "www.pirate.example")
        c = page_of(w.port, "stream.example")
        k = page_of(w.port, "pirate.example", lang="ko")
        n1 = page_of(w.port, "ok.example")
        n2 = page_of(w.port, "fine.example")
        assert a[0] == b[0] == c[0] == k[0] == 451 and n1[0] == n2[0] == 404
        assert "www.pirate.example" in b[2] and "www.pirate.example" not in a[2]
        assert "N-42" in c[2] and "RG 1234/2026" not in c[2] and "RG 1234/2026" in a[2]
        assert a[1]["content-language"] == "en" and k[1]["content-language"] == "ko"
        assert '<html lang="ko">' in k[2] and '<html lang="en">' in a[2]
        assert "ok.example" in n1[2] and "fine.example" in n2[2] and "ok.example" not in n2[2]
        # HEAD: the same head, no body
        st, h, body = get(w.port, "stream.example", method="HEAD")
        assert st == 451 and body == "" and int(h["content-length"]) == len(c[2].encode())


def recv_answers(sock, n, timeout=5):
    """n answers (status, headers, body) read off one connection."""
    sock.settimeout(timeout)
    buf, out = b"", []
    while len(out) < n:
        while b"\r\n\r\n" not in buf:
            chunk = sock.recv(65536)
            assert chunk, (out, buf[:200])
            buf += chunk
        head, buf = buf.split(b"\r\n\r\n", 1)
        lines = head.decode().split("\r\n")
        hdrs = {k.lower(): v.strip() for k, v in (x.split(":", 1) for x in lines[1:])}
        size = int(hdrs.get("content-length", 0))
        while len(buf) < size:
            chunk = sock.recv(65536)
            assert chunk
            buf += chunk
        out.append((int(lines[0].split()[1]), hdrs, buf[:size].decode()))
        buf = buf[size:]
    return out


def test_keep_alive_pipelining_and_bodies(blocked, redis, make_warnd):
    w = make_warnd(redis)
    with socket.create_connection(("127.0.0.1", w.port), timeout=5) as s:
        # three requests in one packet, one of them with a body to skip
        s.sendall(b"GET / HTTP/1.1\r\nHost: pirate.example\r\n\r\n"
                  b"POST /form HTTP/1.1\r\nHost: ok.example\r\nContent-Length: 11\r\n\r\nhello=world"
                  b"GET /robots.txt HTTP/1.1\r\nHost: pirate.example\r\n\r\n")
        ans = recv_answers(s, 3)
        assert [a[0] for a in ans] == [451, 404, 200]
        assert "RG 1234/2026" in ans[0][2] and "ok.example" in ans[1][2] and "Disallow" in ans[2][2]
        assert all("connection" not in a[1] for a in ans)      # HTTP/1.1: kept open
        # a request split into pieces, and its body sent later
        for piece in [b"POST / HTTP/1.1\r\nHo", b"st: pirate.example\r\nContent-Le", b"ngth: 4\r\n\r\n"]:
            s.sendall(piece)
            time.sleep(0.05)
        assert recv_answers(s, 1)[0][0] == 451
        s.sendall(b"a=1&GET / HTTP/1.1\r\nHost: ok.example\r\nConnection: close\r\n\r\n")
        (st, h, _), = recv_answers(s, 1)
        assert st == 404 and h["connection"] == "close"
        assert s.recv(100) == b""                               # closed after it
    # HTTP/1.0: closed unless it asks for keep-alive
    out = raw(w.port, b"GET / HTTP/1.0\r\nHost: pirate.example\r\n\r\n")
    assert out.startswith(b"HTTP/1.1 451 ") and b"\r\nConnection: close\r\n" in out
    with socket.create_connection(("127.0.0.1", w.port), timeout=5) as s:
        s.sendall(b"GET / HTTP/1.0\r\nHost: pirate.example\r\nConnection: keep-alive\r\n\r\n" * 2)
        ans = recv_answers(s, 2)
        assert [a[0] for a in ans] == [451, 451] and ans[0][1]["connection"] == "keep-alive"


def test_requests_the_server_refuses(blocked, redis, make_warnd):
    w = make_warnd(redis)
    cases = [
        (b"POST / HTTP/1.1\r\nHost: pirate.example\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 501),
        (b"GET / HTTP/1.1\r\nHost: pirate.example\r\nHost: other.example\r\n\r\n", 400),
        (b"GET / HTTP/1.1\r\nHost: pirate.example\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", 400),
        (b"GET / HTTP/1.1\r\nHost: pirate.example\r\nContent-Length: -1\r\n\r\n", 400),
        (b"GET / HTTP/1.1\r\nHost: pirate.example\r\n folded\r\n\r\n", 400),
        (b"GET / HTTP/1.1\r\nHost: pirate.example\rX: y\r\n\r\n", 400),
        (b"GET  / HTTP/1.1\r\nHost: pirate.example\r\n\r\n", 400),
        (b"GET / HTTP/1.1\r\nBad Name: x\r\nHost: pirate.example\r\n\r\n", 400),
        (b"GET / HTTP/1.1\r\nHost: pirate.example\r\nX: a\x01b\r\n\r\n", 400),
        (b"GET pirate.example/ HTTP/1.1\r\nHost: pirate.example\r\n\r\n", 400),
        (b"GET http://user@pirate.example/ HTTP/1.1\r\nHost: pirate.example\r\n\r\n", 400),
    ]
    for req, status in cases:
        out = raw(w.port, req)
        assert out.startswith(b"HTTP/1.1 %d " % status), (req, out[:120])
        assert b"\r\nConnection: close\r\n" in out and b"RG 1234/2026" not in out
    # an absolute-form target's host wins over Host; Expect: 100-continue is
    # answered at once (the body is not waited for) and the connection closed
    out = raw(w.port, b"GET http://pirate.example/x?y HTTP/1.1\r\nHost: ok.example\r\nConnection: close\r\n\r\n")
    assert out.startswith(b"HTTP/1.1 451 ") and b"RG 1234/2026" in out
    out = raw(w.port, b"POST / HTTP/1.1\r\nHost: pirate.example\r\nExpect: 100-continue\r\n"
                      b"Content-Length: 100\r\n\r\n")
    assert out.startswith(b"HTTP/1.1 451 ") and b"RG 1234/2026" in out
    assert_served_quickly(w.port)
    assert w.running()


def test_client_that_reads_slowly_gets_every_answer(blocked, redis, make_warnd):
    """Answers the socket cannot take at once wait in the connection (the server
    stops reading meanwhile); every pipelined request is answered, in order."""
    w = make_warnd(redis, ["--idle-timeout", "10", "--conn-timeout", "60"])
    n = 3000                                     # about 10 MB of answers: more than the socket buffers hold
    reqs = b"".join(b"GET /%d HTTP/1.1\r\nHost: %s\r\n\r\n" % (i, b"pirate.example" if i % 2 else b"ok.example")
                    for i in range(n))
    with socket.create_connection(("127.0.0.1", w.port), timeout=10) as s:
        sender = threading.Thread(target=s.sendall, args=(reqs,), daemon=True)
        sender.start()
        time.sleep(0.5)                          # the server's send buffer fills up
        ans = recv_answers(s, n, timeout=20)
        sender.join(timeout=10)
    assert [a[0] for a in ans] == [404 if i % 2 == 0 else 451 for i in range(n)]
    assert all("RG 1234/2026" in a[2] for a in ans[1::2])
    assert_served_quickly(w.port)
    # the server stops reading while an answer waits: 100 clients that pipeline
    # 2000 requests each (some 600 MB of answers) and never read cost a few
    # buffers each, not their answers
    before = rss_kib(w.pid)
    req = b"GET / HTTP/1.1\r\nHost: pirate.example\r\n\r\n" * 2000
    socks = []
    try:
        for _ in range(100):
            s = socket.create_connection(("127.0.0.1", w.port), timeout=5)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            s.setblocking(False)
            try:
                s.send(req)
            except BlockingIOError:
                pass
            socks.append(s)
        time.sleep(2)
        grown = rss_kib(w.pid) - before
        assert grown < 64 * 1024, f"RSS grew by {grown} KiB"
        assert_served_quickly(w.port, n=1)
    finally:
        for s in socks:
            s.close()


def rss_kib(pid):
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


def cpu_ticks(pid):
    """User + system CPU time of pid, in clock ticks (1/100 s)."""
    f = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(f[11]) + int(f[12])


def open_fds(pid):
    return len(os.listdir(f"/proc/{pid}/fd"))


def test_out_of_descriptors_neither_spins_nor_floods_the_log(blocked, redis, make_warnd):
    """accept() failing with EMFILE on a level-triggered listening socket is
    retried at once: the TLS-reset listener spun at full CPU and logged each
    failure (hundreds of thousands of lines a second). Now every listener
    goes through one accept policy: the oldest HTTP connection makes room,
    or, with none to close, the listeners pause for 100 ms (one warning)."""
    w = make_warnd(redis, ["--idle-timeout", "60", "--conn-timeout", "120"], tls=True)
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    base = open_fds(w.pid)
    resource.prlimit(w.pid, resource.RLIMIT_NOFILE, (base + 20, hard))
    # 1. the descriptors held by idle HTTP clients: the oldest makes room for the TLS client
    socks = [socket.create_connection(("127.0.0.1", w.port), timeout=5) for _ in range(40)]
    try:
        for s in socks:
            s.sendall(b"GET / HTTP/1.1\r\n")
        time.sleep(0.5)
        c0 = cpu_ticks(w.pid)
        assert tls_reset(w.tls_port)
        time.sleep(1)
        assert cpu_ticks(w.pid) - c0 < 30, "busy looping on accept"
    finally:
        for s in socks:
            s.close()
    wait_until(lambda: open_fds(w.pid) <= base + 2)   # the HTTP connections closed (the sync thread may open one)
    # 2. no descriptor at all and no connection to close: a pause, logged once
    resource.prlimit(w.pid, resource.RLIMIT_NOFILE, (3, hard))   # below every descriptor it holds
    lines = len(w.log().splitlines())
    c0 = cpu_ticks(w.pid)
    with socket.create_connection(("127.0.0.1", w.tls_port), timeout=5) as t:
        time.sleep(2)
        assert cpu_ticks(w.pid) - c0 < 30, "busy looping on accept"
        new = w.log().splitlines()[lines:]
        assert len(new) <= 3 and sum("cannot accept connections" in x for x in new) == 1, new
        resource.prlimit(w.pid, resource.RLIMIT_NOFILE, (base + 64, hard))
        t.settimeout(2)
        try:
            assert t.recv(10) == b""                # accepted (and reset) after the pause
        except ConnectionResetError:
            pass
    assert tls_reset(w.tls_port)
    assert_served_quickly(w.port)


def tls_reset(port):
    """A connection to a TLS-reset port is closed at once (the reset may come
    while connecting, on loopback, or while reading)."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=5) as t:
            t.settimeout(2)
            return t.recv(10) == b""
    except ConnectionResetError:
        return True


def test_connections_leave_descriptors_for_redis(redis, make_warnd):
    """With a descriptor limit of 48, slow HTTP clients must not take the
    descriptors the sync thread needs to reconnect after a Redis restart:
    --max-connections is capped below the limit (logged), and a change made
    after the restart is on the page while the attack goes on."""
    rs.put_order(redis.client(), "o1", ["pirate.example"])
    w = make_warnd(redis, nofile=48)
    stop = threading.Event()

    def attack():
        socks = []
        while not stop.is_set():
            alive = []
            for s in socks:
                try:
                    s.send(b"X")
                    alive.append(s)
                except OSError:
                    s.close()
            socks = alive
            while len(socks) < 60 and not stop.is_set():
                try:
                    socks.append(socket.create_connection(("127.0.0.1", w.port), timeout=1))
                except OSError:
                    break
            stop.wait(0.5)
        for s in socks:
            s.close()

    attacker = threading.Thread(target=attack, daemon=True)
    attacker.start()
    try:
        time.sleep(2)
        redis.stop()
        time.sleep(0.5)
        redis.start()                               # empty: no persistence
        rs.put_order(redis.client(), "o1", ["pirate.example"], reference="CHANGED-3")

        def changed():
            try:
                return "CHANGED-3" in get(w.port, "pirate.example", timeout=3)[2]
            except OSError:
                return False
        wait_until(changed, timeout=8, step=0.5)   # the reconnect tried 0.75, 1.75, 3.75 s after the loss
    finally:
        stop.set()
        attacker.join(timeout=10)
    assert w.running()
    assert "the descriptor limit is 48" in w.log()


def test_empty_lines_before_a_request_line_are_ignored(blocked, redis, make_warnd):
    """RFC 9112 section 2.2: a server SHOULD ignore at least one empty line
    before a request line (some clients send CRLF after a POST's body); they
    got 400 and lost the connection."""
    w = make_warnd(redis)
    with socket.create_connection(("127.0.0.1", w.port), timeout=5) as s:
        s.sendall(b"POST / HTTP/1.1\r\nHost: ok.example\r\nContent-Length: 3\r\n\r\na=1\r\n")
        time.sleep(0.2)
        s.sendall(b"GET / HTTP/1.1\r\nHost: pirate.example\r\n\r\n")
        assert [a[0] for a in recv_answers(s, 2)] == [404, 451]
        s.sendall(b"\r")                            # an empty line in pieces
        time.sleep(0.1)
        s.sendall(b"\n\n\r\nGET / HTTP/1.1\r\nHost: pirate.example\r\n\r\n")
        assert recv_answers(s, 1)[0][0] == 451
    out = raw(w.port, b"\r\nGET / HTTP/1.1\r\nHost: pirate.example\r\nConnection: close\r\n\r\n")
    assert out.startswith(b"HTTP/1.1 451 ")
    # but not without bound: more than --max-header-size octets of them
    out = raw(w.port, b"\r\n" * 4200 + b"GET / HTTP/1.1\r\nHost: pirate.example\r\n\r\n")
    assert out.startswith(b"HTTP/1.1 400 ")
    # a CR that is not an empty line's is still a bare CR
    assert raw(w.port, b"\rGET / HTTP/1.1\r\nHost: pirate.example\r\n\r\n").startswith(b"HTTP/1.1 400 ")
