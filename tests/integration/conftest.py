"""pytest fixtures for redsink integration tests (real servers on loopback).

Fixtures:
  nsd           (session)  one NSD serving zones/example.zone for the session
  redis         (function) a fresh private Redis for the test
  make_unbound  (function) factory: make_unbound(**kw) -> harness.Unbound,
                           make_unbound.expect_failure(**kw) -> StartFailure
  server_logs   (function, autouse) collects the servers a test started and,
                           if the test failed, prints their logs at teardown

Every server is stopped at teardown whatever the outcome; as a last resort
harness.stop_all() runs at session end (also after Ctrl-C) and at exit.
"""

import itertools
import os

import pytest

import harness


# ---------------------------------------------------------------------------
# Outcome recording: lets fixtures know at teardown whether the test failed.
# ---------------------------------------------------------------------------

@pytest.hookimpl(tryfirst=True, hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """Store each phase's report on the item as rep_setup/rep_call/..."""
    outcome = yield
    rep = outcome.get_result()
    setattr(item, "rep_" + rep.when, rep)


def _failed(node):
    """True if the test's setup or call phase failed."""
    return any(getattr(getattr(node, "rep_" + when, None), "failed", False)
               for when in ("setup", "call"))


def pytest_sessionfinish(session, exitstatus):
    """Stop anything still running (e.g. after KeyboardInterrupt)."""
    harness.stop_all()


# ---------------------------------------------------------------------------
# Log collection
# ---------------------------------------------------------------------------

LOG_TAIL_CHARS = 20000      # per server and stream, to keep reports readable


def _tail(text):
    if len(text) <= LOG_TAIL_CHARS:
        return text
    return "[... %d chars cut ...]\n" % (len(text) - LOG_TAIL_CHARS) + \
        text[-LOG_TAIL_CHARS:]


@pytest.fixture(autouse=True)
def server_logs(request):
    """List of servers started for this test; their logs print on failure.

    Fixtures below append to it.  The session NSD is always included (its
    log is shared, so only its tail is useful).  Printed output shows up in
    pytest's failure report as "Captured stdout teardown".
    """
    servers = []
    yield servers
    if not _failed(request.node):
        return
    shown = list(servers)
    nsd = _session_nsd.get("nsd")
    if nsd is not None and nsd not in shown:
        shown.append(nsd)
    for srv in shown:
        print(f"\n===== {srv!r} =====")
        print(f"----- log {srv.logfile} -----")
        print(_tail(srv.log()))
        err = srv.stderr()
        if err:
            print("----- stderr -----")
            print(_tail(err))
        conf = getattr(srv, "conf", None)
        if conf is not None and conf.exists():
            print(f"----- config {conf} -----")
            print(conf.read_text())


# ---------------------------------------------------------------------------
# Servers
# ---------------------------------------------------------------------------

_session_nsd = {}


@pytest.fixture(scope="session")
def nsd(tmp_path_factory):
    """One NSD, authoritative for example. (zones/example.zone), per session."""
    server = harness.Nsd(tmp_path_factory.mktemp("nsd"))
    _session_nsd["nsd"] = server
    try:
        yield server
    finally:
        _session_nsd.pop("nsd", None)
        server.stop()


@pytest.fixture
def redis(tmp_path, server_logs):
    """A private Redis (harness.Redis) for one test; stopped at teardown."""
    server = harness.Redis(tmp_path / "redis")
    server_logs.append(server)
    try:
        yield server
    finally:
        server.stop()


class UnboundFactory:
    """Callable that starts Unbounds for one test and stops them all later.

    make_unbound(**kw) -> harness.Unbound, started and answering.
        kw are harness.Unbound's (module_so, env, extra_conf, timeout,
        ready_query, start); upstream_port defaults to the session NSD.
    make_unbound.expect_failure(**kw) -> harness.StartFailure(rc, log, stderr)
        for a start that must fail (non-zero exit).
    Each instance gets its own directory under the test's tmp_path.
    """

    def __init__(self, tmp_path, nsd, server_logs):
        self._tmp_path = tmp_path
        self._nsd = nsd
        self._server_logs = server_logs
        self._counter = itertools.count(1)
        self.started = []
        self.failed_dirs = []

    def _dir(self):
        return self._tmp_path / f"unbound-{next(self._counter)}"

    @staticmethod
    def _sanitize(d, kw):
        """With $REDSINK_SANITIZE (the ASan runtime): the module was built with
        ASan+UBSan, Unbound was not, so the runtime is preloaded. Reports go
        to files in d, checked at teardown."""
        if kw.get("module_so") and os.environ.get("REDSINK_SANITIZE"):
            env = dict(kw.get("env") or {})
            env["LD_PRELOAD"] = os.environ["REDSINK_SANITIZE"]
            env["ASAN_OPTIONS"] = f"log_path={d}/asan-report:detect_leaks=1"
            env["UBSAN_OPTIONS"] = f"log_path={d}/ubsan-report:print_stacktrace=1"
            kw["env"] = env

    def __call__(self, cls=None, **kw):
        """cls: a subclass of harness.Unbound (e.g. another command line)."""
        kw.setdefault("upstream_port", self._nsd.port)
        d = self._dir()
        self._sanitize(d, kw)
        ub = (cls or harness.Unbound)(d, **kw)
        # Registered even before a successful start is impossible here: a
        # failed start raises with the log in the message and leaves no
        # process running.
        self.started.append(ub)
        self._server_logs.append(ub)
        return ub

    def expect_failure(self, **kw):
        kw.setdefault("upstream_port", self._nsd.port)
        d = self._dir()
        self._sanitize(d, kw)
        self.failed_dirs.append(d)
        return harness.start_expect_failure(d, **kw)

    def stop_all(self):
        for ub in self.started:
            ub.stop()

    def sanitizer_reports(self):
        """Text of every ASan/UBSan report the started Unbounds left."""
        out = []
        for d in [ub.dir for ub in self.started] + self.failed_dirs:
            for f in sorted(d.glob("*san-report*")):
                out.append(f"----- {f} -----\n{f.read_text(errors='replace')}")
        return "\n".join(out)


@pytest.fixture
def make_unbound(tmp_path, nsd, server_logs):
    """Factory fixture: see UnboundFactory.  All are stopped at teardown."""
    factory = UnboundFactory(tmp_path, nsd, server_logs)
    try:
        yield factory
    finally:
        factory.stop_all()
    reports = factory.sanitizer_reports()
    if reports:
        pytest.fail("sanitizer reports:\n" + reports, pytrace=False)
