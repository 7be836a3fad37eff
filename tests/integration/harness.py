"""Integration-test harness for redsink: real servers on loopback.

Starts private instances of Redis, NSD (authoritative upstream serving
zones/example.zone) and Unbound (optionally loading the redsink dynlib module)
on free loopback ports, each as a child process in its own directory.

Rules this module follows:
  * Every server listens and sends on 127.0.0.1 only; Unbound is pinned to
    loopback for outgoing queries too, and every name outside "example." is
    stubbed to NSD, which refuses it, so no query ever leaves the machine.
  * Every server records the PID it started and signals only that PID (or,
    as a last resort, the process group that PID leads, which was created for
    it with start_new_session=True).  Nothing is ever killed by name.
  * Live servers are tracked in a registry; stop_all() (also run at exit)
    stops whatever is left, and each child gets PR_SET_PDEATHSIG so it is
    sent SIGTERM if the Python process dies without cleaning up.

Public API (see each docstring):
  free_port(), dns_query(), stop_all(), ServerError, StartFailure,
  Redis, Nsd, Unbound, start_expect_failure(),
  REPO_ROOT, ZONE_FILE, unbound_binary(), unbound_control_binary().
"""

import atexit
import ctypes
import os
import signal
import socket
import subprocess
import threading
import time
from collections import namedtuple
from pathlib import Path

import dns.exception
import dns.message
import dns.query
import redis as redis_py

REPO_ROOT = Path(__file__).resolve().parents[2]
ZONE_FILE = REPO_ROOT / "zones" / "example.zone"

# Words in a server's log/stderr that mean "the port we picked was taken
# between free_port() and the server's bind()": such a start is retried on
# fresh ports.
_PORT_IN_USE_MARKERS = ("address already in use", "could not open ports",
                        "can't bind", "could not bind", "cannot bind")
_START_ATTEMPTS = 3


class ServerError(RuntimeError):
    """A server failed to start, died, or did not answer in time."""


# Result of start_expect_failure(): exit code, log file text, stderr text.
StartFailure = namedtuple("StartFailure", "rc log stderr")


# ---------------------------------------------------------------------------
# Ports
# ---------------------------------------------------------------------------

_issued_ports = set()
_port_lock = threading.Lock()


def free_port():
    """Return a 127.0.0.1 port that is currently free for BOTH UDP and TCP.

    The kernel picks a TCP port (bind to port 0); we then check the same
    number can be bound for UDP.  Ports already handed out by this process
    are never handed out again, so two servers of one test run cannot get
    the same port even if the first one has not bound it yet.
    """
    for _ in range(200):
        tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            tcp.bind(("127.0.0.1", 0))
            port = tcp.getsockname()[1]
            try:
                udp.bind(("127.0.0.1", port))
            except OSError:
                continue
            with _port_lock:
                if port in _issued_ports:
                    continue
                _issued_ports.add(port)
            return port
        finally:
            tcp.close()
            udp.close()
    raise ServerError("could not find a port free for both UDP and TCP")


# ---------------------------------------------------------------------------
# DNS helper
# ---------------------------------------------------------------------------

def dns_query(port, name, rdtype, use_edns=True, tcp=False, timeout=3,
              want_dnssec=False, host="127.0.0.1"):
    """Send one query to host:port and return the dns.message response.

    use_edns=False sends a query with no OPT record at all (EDNS version 0
    otherwise).  Raises dns.exception.Timeout when nothing answers.
    """
    q = dns.message.make_query(name, rdtype,
                               use_edns=0 if use_edns else False,
                               want_dnssec=want_dnssec)
    if tcp:
        return dns.query.tcp(q, host, port=port, timeout=timeout)
    return dns.query.udp(q, host, port=port, timeout=timeout)


# ---------------------------------------------------------------------------
# Process bookkeeping
# ---------------------------------------------------------------------------

_live = set()          # servers currently running (started, not stopped)
_live_lock = threading.Lock()


def stop_all():
    """Stop every server of this process that is still running."""
    with _live_lock:
        servers = list(_live)
    for srv in servers:
        try:
            srv.stop()
        except Exception:   # best effort: keep stopping the others
            pass


atexit.register(stop_all)

_PR_SET_PDEATHSIG = 1
try:
    _libc = ctypes.CDLL(None, use_errno=True)
except OSError:     # pragma: no cover - non-glibc platform
    _libc = None


def _child_setup():
    """Runs in the child before exec: ask for SIGTERM when our parent dies."""
    if _libc is not None:
        _libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)


def _group_members(pgid):
    """PIDs of live (non-zombie) processes in process group pgid."""
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        # fields after the ")" that ends the command name:
        # state ppid pgrp ...
        fields = stat[stat.rfind(")") + 2:].split()
        if fields[0] not in ("Z", "X") and int(fields[2]) == pgid:
            pids.append(int(entry))
    return pids


def _wait_group_gone(pgid, timeout):
    """Wait until no live process is left in group pgid; True if none."""
    deadline = time.monotonic() + timeout
    while _group_members(pgid):
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.05)
    return True


def _kill_group(pgid):
    """SIGKILL the process group that one of our children leads."""
    try:
        os.killpg(pgid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def _read(path):
    """Text of a file, or '' when it does not exist (yet)."""
    try:
        return Path(path).read_text(errors="replace")
    except FileNotFoundError:
        return ""


class _Server:
    """Common part of the servers: one child process, its files and stop().

    Subclasses set self.dir, self.logfile, and implement _argv() and
    _wait_ready(deadline) (returning True when ready).
    """

    name = "server"
    stop_timeout = 10

    def __init__(self, tmpdir):
        self.dir = Path(tmpdir)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.proc = None
        self.stdout_file = self.dir / f"{self.name}.stdout"
        self.stderr_file = self.dir / f"{self.name}.stderr"
        self.env = None

    # -- process control ----------------------------------------------------

    @property
    def pid(self):
        """PID of the running child, or None."""
        return self.proc.pid if self.proc else None

    def running(self):
        """True while the child we started is alive."""
        return self.proc is not None and self.proc.poll() is None

    def _spawn(self):
        """Start the child (stdout/stderr appended to files in self.dir)."""
        env = dict(os.environ)
        if self.env:
            env.update({k: str(v) for k, v in self.env.items()})
        with open(self.stdout_file, "ab") as out, \
                open(self.stderr_file, "ab") as err:
            self.proc = subprocess.Popen(
                self._argv(), stdin=subprocess.DEVNULL, stdout=out,
                stderr=err, cwd=str(self.dir), env=env,
                start_new_session=True, preexec_fn=_child_setup)
        with _live_lock:
            _live.add(self)

    def _start_and_wait(self, timeout):
        """Spawn and wait until ready; on failure stop and raise ServerError."""
        # remember where this start's output begins (files are appended to)
        self._mark = (len(self.log()), len(self.stderr()))
        self._spawn()
        deadline = time.monotonic() + timeout
        try:
            if self._wait_ready(deadline):
                return
        except BaseException:
            self.stop()
            raise
        rc = self.proc.poll()
        self.stop()
        what = (f"exited with code {rc}" if rc is not None
                else f"did not become ready within {timeout} s")
        raise ServerError(f"{self.name} (pid {self.pid}) {what}\n"
                          f"{self.diagnostics()}")

    def stop(self):
        """Stop the child we started: SIGTERM, wait, then SIGKILL.

        Only our PID is signalled; if it must be SIGKILLed, its process
        group (which it leads, see start_new_session) is killed too so no
        worker children of it are left behind.  Safe to call twice.
        """
        proc = self.proc
        if proc is None:
            return
        try:
            if proc.poll() is None:
                try:
                    proc.send_signal(signal.SIGTERM)
                    proc.wait(timeout=self.stop_timeout)
                except subprocess.TimeoutExpired:
                    _kill_group(proc.pid)
                    proc.wait(timeout=10)
            # NSD's main process may exit before its workers do: give them
            # a moment, then kill whatever of the group is still alive.
            if not _wait_group_gone(proc.pid, timeout=5):
                _kill_group(proc.pid)
                _wait_group_gone(proc.pid, timeout=5)
        finally:
            with _live_lock:
                _live.discard(self)

    # -- diagnostics ----------------------------------------------------------

    def log(self):
        """Text of the server's log file."""
        return _read(self.logfile)

    def stderr(self):
        """Text the server wrote to stderr (all starts appended)."""
        return _read(self.stderr_file)

    def diagnostics(self):
        """Log + stdout + stderr, formatted for an error message."""
        parts = [f"--- {self.name} log ({self.logfile}) ---", self.log(),
                 f"--- {self.name} stderr ---", self.stderr()]
        out = _read(self.stdout_file)
        if out:
            parts += [f"--- {self.name} stdout ---", out]
        return "\n".join(parts)

    def _port_was_taken(self):
        """Did the last start fail because its port was already in use?"""
        log_at, err_at = getattr(self, "_mark", (0, 0))
        text = (self.log()[log_at:] + self.stderr()[err_at:]).lower()
        return any(m in text for m in _PORT_IN_USE_MARKERS)

    def __repr__(self):
        return f"<{type(self).__name__} pid={self.pid} dir={self.dir}>"


# ---------------------------------------------------------------------------
# Redis
# ---------------------------------------------------------------------------

class Redis(_Server):
    """A private redis-server on 127.0.0.1:<free port>, no persistence.

    Started by the constructor; stop()/start() may be repeated and always
    reuse the same port, config and directory (tests restart Redis to check
    how the module copes with an outage).
    """

    name = "redis"

    def __init__(self, tmpdir, binary="redis-server", timeout=10):
        super().__init__(tmpdir)
        self.binary = binary
        self.timeout = timeout
        self.logfile = self.dir / "redis.log"
        self.conf = self.dir / "redis.conf"
        for attempt in range(_START_ATTEMPTS):
            self.port = free_port()
            self._write_conf()
            try:
                self._start_and_wait(timeout)
                return
            except ServerError:
                if attempt + 1 == _START_ATTEMPTS or not self._port_was_taken():
                    raise

    @property
    def url(self):
        """"127.0.0.1:PORT", the form redsink's config takes."""
        return f"127.0.0.1:{self.port}"

    def _write_conf(self):
        self.conf.write_text(
            "# generated by tests/integration/harness.py\n"
            "bind 127.0.0.1\n"
            f"port {self.port}\n"
            "daemonize no\n"
            'save ""\n'
            "appendonly no\n"
            f'dir "{self.dir}"\n'
            f'logfile "{self.logfile}"\n'
            "loglevel notice\n"
            "databases 16\n")

    def _argv(self):
        return [self.binary, str(self.conf)]

    def _wait_ready(self, deadline):
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                return False
            try:
                if self.client(socket_timeout=0.5).ping():
                    return True
            except redis_py.exceptions.RedisError:
                pass
            time.sleep(0.05)
        return False

    def start(self):
        """Start again (after stop()) on the same port and directory."""
        if self.running():
            raise ServerError("redis is already running")
        self._start_and_wait(self.timeout)

    def client(self, **kw):
        """A redis.Redis client for this server (decode_responses=True)."""
        kw.setdefault("socket_timeout", 5)
        kw.setdefault("socket_connect_timeout", 2)
        return redis_py.Redis(host="127.0.0.1", port=self.port,
                              decode_responses=True, **kw)


# ---------------------------------------------------------------------------
# NSD
# ---------------------------------------------------------------------------

class Nsd(_Server):
    """A private NSD on 127.0.0.1:<free port>, authoritative for `zones`.

    zones maps zone name -> zone file path (default: example. from
    zones/example.zone).  NSD answers REFUSED for anything else.
    """

    name = "nsd"

    def __init__(self, tmpdir, zones=None, binary="nsd", timeout=15):
        super().__init__(tmpdir)
        self.binary = binary
        self.zones = {k: Path(v).resolve() for k, v in
                      (zones or {"example.": ZONE_FILE}).items()}
        self.logfile = self.dir / "nsd.log"
        self.conf = self.dir / "nsd.conf"
        for attempt in range(_START_ATTEMPTS):
            self.port = free_port()
            self._write_conf()
            try:
                self._start_and_wait(timeout)
                return
            except ServerError:
                if attempt + 1 == _START_ATTEMPTS or not self._port_was_taken():
                    raise

    def _write_conf(self):
        d = self.dir
        lines = [
            "# generated by tests/integration/harness.py",
            "server:",
            f"    ip-address: 127.0.0.1@{self.port}",
            f"    port: {self.port}",
            "    do-ip6: no",
            "    server-count: 1",
            "    reuseport: no",
            # run as the invoking user: no privilege drop, no chroot
            '    username: ""',
            '    chroot: ""',
            f'    zonesdir: "{d}"',
            # NSD 4.6: empty database = no nsd.db, zones read from text
            '    database: ""',
            f'    pidfile: "{d}/nsd.pid"',
            f'    xfrdfile: "{d}/xfrd.state"',
            f'    xfrdir: "{d}"',
            f'    zonelistfile: "{d}/zone.list"',
            f'    logfile: "{self.logfile}"',
            "    verbosity: 1",
            "    hide-version: yes",
            # no response rate limiting: Debian's NSD limits 200 answers a second
            # per /24 by default, and benches and tests ask faster from 127.0.0.1
            # (dropped answers showed as 0.5-1 s resolver retries)
            "    rrl-ratelimit: 0",
            "    rrl-whitelist-ratelimit: 0",
            "remote-control:",
            "    control-enable: no",
        ]
        for zone, path in self.zones.items():
            lines += ["zone:", f'    name: "{zone}"', f'    zonefile: "{path}"']
        self.conf.write_text("\n".join(lines) + "\n")

    def _argv(self):
        return [self.binary, "-d", "-c", str(self.conf)]

    def _wait_ready(self, deadline):
        zone = next(iter(self.zones))
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                return False
            try:
                r = self.query(zone, "SOA", timeout=0.5)
                if r.answer:
                    return True
            except (dns.exception.DNSException, OSError):
                pass
            time.sleep(0.05)
        return False

    def query(self, name, rdtype, **kw):
        """Query NSD directly (see dns_query for the keyword arguments)."""
        return dns_query(self.port, name, rdtype, **kw)


# ---------------------------------------------------------------------------
# Unbound
# ---------------------------------------------------------------------------

def unbound_binary():
    """The unbound daemon to test: $REDSINK_UNBOUND or the repo's build."""
    return os.environ.get("REDSINK_UNBOUND",
                          str(REPO_ROOT / "build" / "unbound" / "unbound"))


def unbound_control_binary():
    """unbound-control from the same folder as unbound_binary()."""
    return os.environ.get(
        "REDSINK_UNBOUND_CONTROL",
        str(Path(unbound_binary()).parent / "unbound-control"))


class Unbound(_Server):
    """A private Unbound on 127.0.0.1:<free port>, stubbing to NSD.

    module_so: path of the redsink .so; when given, module-config is
               "dynlib validator iterator" and the dynlib is loaded,
               otherwise "validator iterator".
    env:       extra environment for the daemon (e.g. REDSINK_CONF).
    extra_conf: text appended inside the server: clause (may hold its own
               clauses after a blank line, e.g. more stub-zones).
    ready_query: (name, type) used to decide Unbound is up; it lands in
               Unbound's cache, so pass another name if a test cares.
    start:     False to only write the config (call start() yourself).

    Every name outside "example." goes to a stub for "." pointing at NSD,
    which refuses it (SERVFAIL to the client): nothing leaves loopback.
    """

    name = "unbound"

    def __init__(self, tmpdir, upstream_port, module_so=None, env=None,
                 extra_conf="", timeout=15, ready_query=("ok.example", "A"),
                 start=True):
        super().__init__(tmpdir)
        self.upstream_port = upstream_port
        self.module_so = str(Path(module_so).resolve()) if module_so else None
        self.env = dict(env or {})
        self.extra_conf = extra_conf
        self.timeout = timeout
        self.ready_query = ready_query
        self.logfile = self.dir / "unbound.log"
        self.conf = self.dir / "unbound.conf"
        self.port = self.control_port = None
        self._new_ports()
        if start:
            self.start()

    # -- config ---------------------------------------------------------------

    def _new_ports(self):
        self.port = free_port()
        self.control_port = free_port()
        self._write_conf()

    def _write_conf(self):
        if self.module_so:
            modules = "dynlib validator iterator"
        else:
            modules = "validator iterator"
        text = f"""# generated by tests/integration/harness.py
server:
    interface: 127.0.0.1
    port: {self.port}
    outgoing-interface: 127.0.0.1
    do-ip4: yes
    do-ip6: no
    so-reuseport: no
    do-daemonize: no
    use-syslog: no
    logfile: "{self.logfile}"
    log-time-ascii: yes
    directory: "{self.dir}"
    chroot: ""
    username: ""
    pidfile: ""
    verbosity: 1
    num-threads: 2
    do-not-query-localhost: no
    access-control: 127.0.0.0/8 allow
    qname-minimisation: no
    module-config: "{modules}"
{self.extra_conf}
"""
        if self.module_so:
            text += f'dynlib:\n    dynlib-file: "{self.module_so}"\n'
        text += f"""remote-control:
    control-enable: yes
    control-interface: 127.0.0.1
    control-port: {self.control_port}
    control-use-cert: no
stub-zone:
    name: "example."
    stub-addr: 127.0.0.1@{self.upstream_port}
# Everything else also goes to NSD, which REFUSEs it: no root servers.
stub-zone:
    name: "."
    stub-addr: 127.0.0.1@{self.upstream_port}
"""
        self.conf.write_text(text)

    def _argv(self):
        return [unbound_binary(), "-d", "-c", str(self.conf)]

    # -- lifecycle ------------------------------------------------------------

    def start(self):
        """Start the daemon and wait until it answers ready_query.

        Raises ServerError (with log and stderr) if it exits or does not
        answer within `timeout`.  Retries on fresh ports if the chosen ones
        turned out to be taken.
        """
        if self.running():
            raise ServerError("unbound is already running")
        for attempt in range(_START_ATTEMPTS):
            try:
                self._start_and_wait(self.timeout)
                return
            except ServerError:
                if attempt + 1 == _START_ATTEMPTS or not self._port_was_taken():
                    raise
                self._new_ports()

    def _answers(self, timeout=0.5):
        try:
            self.query(*self.ready_query, timeout=timeout)
            return True
        except (dns.exception.DNSException, OSError):
            return False

    def _wait_ready(self, deadline):
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                return False
            if self._answers():
                return True
            time.sleep(0.05)
        return False

    def _starts_logged(self):
        return self.log().count("start of service")

    def reload(self, timeout=None):
        """SIGHUP the daemon and wait until it has restarted and answers.

        Unbound logs "start of service" on every (re)start; we wait for one
        more of those, then for an answer.  Raises ServerError if it dies.
        """
        timeout = self.timeout if timeout is None else timeout
        before = self._starts_logged()
        self.proc.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                break
            if self._starts_logged() > before and self._answers():
                return
            time.sleep(0.05)
        rc = self.proc.poll()
        what = (f"exited with code {rc}" if rc is not None
                else f"did not answer within {timeout} s")
        raise ServerError(f"unbound (pid {self.pid}) after SIGHUP {what}\n"
                          f"{self.diagnostics()}")

    # -- use ------------------------------------------------------------------

    def query(self, name, rdtype, use_edns=True, tcp=False, timeout=3, **kw):
        """Query this Unbound; returns a dns.message response.

        use_edns=False sends no OPT record.  See dns_query for **kw.
        """
        return dns_query(self.port, name, rdtype, use_edns=use_edns, tcp=tcp,
                         timeout=timeout, **kw)

    def control(self, *args, check=True, timeout=30):
        """Run `unbound-control -c <conf> ARGS...` and return its stdout.

        With check=True a non-zero exit raises ServerError (stdout+stderr
        included); with check=False the output is returned regardless.
        """
        res = subprocess.run(
            [unbound_control_binary(), "-c", str(self.conf), *map(str, args)],
            stdin=subprocess.DEVNULL, capture_output=True, text=True,
            timeout=timeout)
        if check and res.returncode != 0:
            raise ServerError(
                f"unbound-control {' '.join(map(str, args))} exited "
                f"{res.returncode}\nstdout: {res.stdout}\nstderr: {res.stderr}")
        return res.stdout

    # -- expected failures ----------------------------------------------------

    @classmethod
    def start_expect_failure(cls, tmpdir, upstream_port, timeout=15, **kw):
        """Start Unbound expecting it to refuse to start (e.g. bad module conf).

        Returns StartFailure(rc, log, stderr) once the process exits with a
        non-zero code.  Raises ServerError if it is still running after
        `timeout` seconds or exits with 0 (it is stopped first).
        """
        ub = cls(tmpdir, upstream_port, start=False, timeout=timeout, **kw)
        ub._spawn()
        try:
            rc = ub.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            answering = ub._answers()
            ub.stop()
            raise ServerError(
                f"unbound was expected to fail but still runs after {timeout} s"
                f" ({'answering' if answering else 'not answering'} queries)\n"
                f"{ub.diagnostics()}")
        finally:
            ub.stop()   # bookkeeping only when it has exited already
        if rc == 0:
            raise ServerError("unbound was expected to fail but exited 0\n"
                              + ub.diagnostics())
        return StartFailure(rc, ub.log(), ub.stderr())


def start_expect_failure(tmpdir, upstream_port, **kw):
    """Module-level alias of Unbound.start_expect_failure."""
    return Unbound.start_expect_failure(tmpdir, upstream_port, **kw)
