"""Monitoring that ships (issue 15): monitoring/ checked by promtool and used by a real Prometheus.

The static tests run promtool (Debian's prometheus package: scripts/deps.sh) on
monitoring/redsink.rules.yml, its unit tests monitoring/redsink.rules.test.yml
and monitoring/prometheus.example.yml, and check that every alert has the
annotations and a section in doc/monitoring.md, and that the Grafana dashboard
is valid JSON whose queries use only metrics the module exports or the rules
record. The live test starts a real Prometheus (own storage, 1 s scrape and
evaluation) scraping Unbound with redsink.so and redsink-warnd
(--metrics-listen), checks that every metric the rules and the dashboard use
is really scraped, runs every dashboard query, then makes alerts fire for real:
a malformed change (RedsinkMalformedSkipped) and Redis stopped
(RedsinkRedisLinkDown), observed in /api/v1/alerts.
"""

import json
import re
import shutil
import subprocess
import time
import urllib.parse
import urllib.request
from pathlib import Path

import pytest
import yaml

import harness
import rs
from test_warnd import get as http_get
from test_warnd import make_warnd  # noqa: F401  (fixture)
from test_warnd import warnd_binary

REPO = harness.REPO_ROOT
MON = REPO / "monitoring"
RULES = MON / "redsink.rules.yml"
RULES_TEST = MON / "redsink.rules.test.yml"
EXAMPLE = MON / "prometheus.example.yml"
DASHBOARD = MON / "grafana-dashboard.json"
DOC = REPO / "doc" / "monitoring.md"
PROMETHEUS = "/usr/bin/prometheus"
PROMTOOL = "/usr/bin/promtool"
# a metric name: redsink_*, a recorded level:redsink_*:op or redsink:*:op (not a job="redsink" value)
METRIC = re.compile(r"\b(?:[a-z_]+:redsink_[a-z0-9_:]+|redsink_[a-z0-9_:]+|redsink:[a-z0-9_:]+)")


def promtool(*args):
    assert Path(PROMTOOL).exists(), "promtool is missing: scripts/deps.sh installs prometheus"
    p = subprocess.run([PROMTOOL, *map(str, args)], capture_output=True, text=True, timeout=60, cwd=MON)
    assert p.returncode == 0, p.stdout + p.stderr
    return p.stdout + p.stderr


def rules():
    """[(group name, rule dict)] of monitoring/redsink.rules.yml."""
    return [(g["name"], r) for g in yaml.safe_load(RULES.read_text())["groups"] for r in g["rules"]]


def recorded():
    return {r["record"] for _, r in rules() if "record" in r}


def dashboard_exprs():
    """Every query of the dashboard (panels and template variables), with $instance as .*"""
    d = json.loads(DASHBOARD.read_text())
    out = [t["expr"] for p in d["panels"] for t in p.get("targets", [])]
    for v in d["templating"]["list"]:
        if v["type"] == "query":
            out.append(re.sub(r"^label_values\((\w+), \w+\)$", r"\1", v["definition"]))
    return [e.replace("$instance", ".*") for e in out]


def used_metrics():
    """Metric names (redsink_*, recorded redsink:* / level:redsink_*) the rules and the dashboard use."""
    names = set()
    for _, r in rules():
        names |= set(METRIC.findall(r["expr"]))
    for e in dashboard_exprs():
        names |= set(METRIC.findall(e))
    return names


def exported_in_source():
    """redsink_* names the module's /metrics page (module/sync.c) writes."""
    return set(re.findall(r"\b(redsink_[a-z_]+)", (REPO / "module" / "sync.c").read_text()))


def anchors(md):
    """GitHub's anchors of the headings of a markdown text."""
    out = set()
    for h in re.findall(r"(?m)^#+ (.+)$", md):
        a = re.sub(r"[^\w\- ]", "", h.strip().lower()).replace(" ", "-")
        out.add(a)
    return out


# ---------------------------------------------------------------------------
# Static: promtool, annotations, documentation, dashboard
# ---------------------------------------------------------------------------

def test_promtool_checks_rules_config_and_unit_tests():
    out = promtool("check", "rules", RULES)
    assert "SUCCESS" in out
    out = promtool("check", "config", EXAMPLE)      # also checks the rule file it names
    assert "SUCCESS" in out
    out = promtool("test", "rules", RULES_TEST)
    assert "SUCCESS" in out
    # every alert has a unit test case that fires it
    tested = set(re.findall(r"alertname: (\w+)\n\s+exp_alerts:\n\s+- exp_labels", RULES_TEST.read_text()))
    alerts = {r["alert"] for _, r in rules() if "alert" in r}
    assert alerts - tested == set(), "alerts without a firing unit test"


def test_alerts_are_annotated_and_documented():
    doc = DOC.read_text()
    have = anchors(doc)
    alerts = [r for _, r in rules() if "alert" in r]
    assert len(alerts) >= 10
    for r in alerts:
        a = r["annotations"]
        assert {"summary", "description", "runbook_url"} <= set(a), r["alert"]
        assert r["labels"]["severity"] in ("warning", "critical"), r["alert"]
        url = a["runbook_url"]
        assert url == f"doc/monitoring.md#{r['alert'].lower()}", (r["alert"], url)
        assert url.split("#")[1] in have, f"doc/monitoring.md has no section {r['alert']}"
    for name in recorded():
        assert f"`{name}`" in doc, f"recording rule {name} is not in doc/monitoring.md"
    assert "doc/monitoring.md" in (REPO / "README.md").read_text()


def test_rules_and_dashboard_use_only_existing_metrics():
    known = exported_in_source() | recorded()
    assert "redsink_list_entries" in known and "redsink_dataset_alarm" in known
    assert used_metrics() - known == set()
    # the documented list of metrics (doc/configuration.md) is the exported one
    conf = (REPO / "doc" / "configuration.md").read_text()
    for name in exported_in_source():
        assert f"`{name}" in conf or f"`{name}`" in DOC.read_text(), f"{name} is not documented"


def test_dashboard_is_valid_grafana_json():
    d = json.loads(DASHBOARD.read_text())
    assert d["title"] and d["uid"] == "redsink" and d["schemaVersion"] >= 30
    ids = [p["id"] for p in d["panels"]]
    assert len(ids) == len(set(ids))
    for p in d["panels"]:
        assert {"type", "title", "gridPos"} <= set(p), p.get("title")
        if p["type"] != "row":
            assert p["targets"] and all(t["expr"].strip() for t in p["targets"]), p["title"]
            assert p["datasource"]["uid"] == "${datasource}", p["title"]
        g = p["gridPos"]
        assert 0 <= g["x"] and g["x"] + g["w"] <= 24, p["title"]


def test_warnd_metrics_listen_option():
    wd = warnd_binary()
    p = subprocess.run([wd, "--help"], capture_output=True, text=True, timeout=10)
    assert p.returncode == 0 and "--metrics-listen ADDR:PORT" in p.stdout
    for bad in ("unix:/run/x.sock", "redis://127.0.0.1:9168", "127.0.0.1", "127.0.0.1:99999", ""):
        p = subprocess.run([wd, "--metrics-listen", bad, "--check", "--templates", str(REPO / "tools" / "warnd" /
                            "templates")], capture_output=True, text=True, timeout=10)
        assert p.returncode == 2 and p.stderr.startswith("redsink-warnd: --metrics-listen: "), (bad, p.stderr)
    assert r"\-\-metrics\-listen" in (REPO / "tools" / "warnd" / "redsink-warnd.8").read_text()


# ---------------------------------------------------------------------------
# Live: a real Prometheus scraping a resolver and redsink-warnd
# ---------------------------------------------------------------------------

class Prometheus(harness._Server):
    """prometheus on 127.0.0.1:<free port> with its own storage; stop() signals only its PID."""

    name = "prometheus"

    def __init__(self, tmpdir, config, timeout=30):
        super().__init__(tmpdir)
        self.logfile = self.stderr_file
        self.config = config
        for attempt in range(3):
            self.port = harness.free_port()
            try:
                self._start_and_wait(timeout)
                return
            except harness.ServerError:
                if attempt == 2 or not self._port_was_taken():
                    raise

    def stderr(self):
        return ""   # the log is stderr: printed once as the log

    def _argv(self):
        return [PROMETHEUS, f"--config.file={self.config}", f"--storage.tsdb.path={self.dir / 'data'}",
                f"--web.listen-address=127.0.0.1:{self.port}", "--storage.tsdb.retention.time=1h",
                "--log.level=info"]

    def _wait_ready(self, deadline):
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                return False
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/-/ready", timeout=0.5) as r:
                    if r.status == 200:
                        return True
            except OSError:
                pass
            time.sleep(0.1)
        return False

    def api(self, path, **params):
        url = f"http://127.0.0.1:{self.port}/api/v1/{path}"
        if params:
            url += "?" + urllib.parse.urlencode(params)
        with urllib.request.urlopen(url, timeout=5) as r:
            body = json.loads(r.read())
        assert body["status"] == "success", body
        return body["data"]

    def query(self, expr):
        return self.api("query", query=expr)["result"]

    def firing(self, alertname):
        """{job: instance} of the firing alerts named alertname."""
        return {a["labels"]["job"]: a["labels"]["instance"] for a in self.api("alerts")["alerts"]
                if a["labels"]["alertname"] == alertname and a["state"] == "firing"}


def wait_until(fn, timeout, what):
    t0 = time.monotonic()
    last = None
    while time.monotonic() - t0 < timeout:
        last = fn()
        if last:
            return last
        time.sleep(0.25)
    raise AssertionError(f"{what}: not within {timeout} s (last: {last!r})")


def scraped_names(port):
    """Metric names of a /metrics page, samples or only # TYPE (labelled families may be empty)."""
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=3).read().decode()
    return set(re.findall(r"(?m)^# TYPE (\w+) ", text)) | set(re.findall(r"(?m)^(\w+)[{ ]", text))


def test_prometheus_scrapes_and_alerts(redis, make_unbound, make_warnd, tmp_path, server_logs):  # noqa: F811
    assert Path(PROMETHEUS).exists(), "prometheus is missing: scripts/deps.sh installs it"
    c = redis.client()
    rs.put_order(c, "o1", ["pirate.example"])
    ub_metrics, wd_metrics = harness.free_port(), harness.free_port()
    ub = rs.start_resolver(make_unbound, redis, tmp_path, {"metrics_listen": f"127.0.0.1:{ub_metrics}",
                                                           "stats_flush_interval": "1"})
    w = make_warnd(redis, ["--metrics-listen", f"127.0.0.1:{wd_metrics}", "--flush-interval", "1"])

    # the shipped rules with every `for:` at 1 s, evaluated every second
    rules_copy = tmp_path / "redsink.rules.yml"
    rules_copy.write_text(re.sub(r"(?m)^(\s+for:) \S+$", r"\1 1s", RULES.read_text()))
    conf = tmp_path / "prometheus.yml"
    conf.write_text(f"""
global:
  scrape_interval: 1s
  scrape_timeout: 1s
  evaluation_interval: 1s
rule_files: [{rules_copy}]
scrape_configs:
  - job_name: redsink
    static_configs: [{{targets: ["127.0.0.1:{ub_metrics}"]}}]
  - job_name: redsink-warnd
    static_configs: [{{targets: ["127.0.0.1:{wd_metrics}"]}}]
""")
    promtool("check", "config", conf)
    prom = Prometheus(tmp_path / "prometheus", conf)
    server_logs.append(prom)
    try:
        up = lambda: {r["metric"]["job"]: r["value"][1] for r in prom.query("up")}   # noqa: E731
        wait_until(lambda: up() == {"redsink": "1", "redsink-warnd": "1"}, 20, "up == 1 for both jobs")

        # traffic, so that the labelled families have samples: a blocked
        # answer (country ZZ) and a warning page view
        assert rs.first_a(ub, "pirate.example") == rs.SINK4
        assert http_get(w.port, "pirate.example")[0] == 451

        # every metric the rules and the dashboard use is really there
        names = set(prom.api("label/__name__/values")) | scraped_names(ub_metrics) | scraped_names(wd_metrics)
        wait_until(lambda: "job_country:redsink_blocked_answers:rate5m" in prom.api("label/__name__/values"),
                   15, "the recording rules")
        names |= set(prom.api("label/__name__/values"))
        assert used_metrics() - names == set(), "used by the rules or the dashboard, but not exported"

        # every dashboard query runs, and all but the collateral table (no
        # prefix over the threshold here) return data
        # (a counter's first sample is not an increase: a second blocked answer
        # once the country's series exists)
        wait_until(lambda: prom.query('redsink_blocked_answers_by_country_total{country="ZZ"}'), 15, "country ZZ")
        assert rs.first_a(ub, "www.pirate.example") == rs.SINK4
        wait_until(lambda: prom.query('job_country:redsink_blocked_answers:rate5m{country="ZZ"} > 0'), 15,
                   "the blocked answers in the rates")
        for e in dashboard_exprs():
            if "redsink_collateral_names" in e:
                prom.query(e)
            else:
                assert prom.query(e), f"dashboard query without data: {e}"
        # nothing fires while all is well
        assert [a["labels"]["alertname"] for a in prom.api("alerts")["alerts"]] == []
        lag = {r["metric"]["job"]: float(r["value"][1]) for r in prom.query("instance:redsink_change_lag_seconds")}
        assert lag == {"redsink": 0.0, "redsink-warnd": 0.0}

        # a malformed change: both servers skip it, the alert fires for both
        c.xadd(rs.PREFIX + "changes", {"op": "add", "order": "o1", "domain": "bad..name", "by": "test"})
        fired = wait_until(lambda: len(prom.firing("RedsinkMalformedSkipped")) == 2 and
                           prom.firing("RedsinkMalformedSkipped"), 20, "RedsinkMalformedSkipped")
        assert fired == {"redsink": f"127.0.0.1:{ub_metrics}", "redsink-warnd": f"127.0.0.1:{wd_metrics}"}

        # Redis goes away: both keep serving, and both alert
        redis.stop()
        wait_until(lambda: len(prom.firing("RedsinkRedisLinkDown")) == 2, 25, "RedsinkRedisLinkDown")
        a = [x for x in prom.api("alerts")["alerts"] if x["labels"]["alertname"] == "RedsinkRedisLinkDown"][0]
        assert a["annotations"]["runbook_url"] == "doc/monitoring.md#redsinkredislinkdown"
        assert "change stream" in a["annotations"]["summary"]
        assert rs.first_a(ub, "pirate.example") == rs.SINK4
    finally:
        prom.stop()
    assert not prom.running()
    shutil.rmtree(tmp_path / "prometheus" / "data", ignore_errors=True)
