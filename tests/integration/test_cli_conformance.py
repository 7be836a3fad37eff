"""The redsink tools are one family (issue 11, "One interface").

Every command of every tool (redsink-ctl, redsink-stats, redsink-warnd,
redsink-mkgeo) is run with --help (exit 0, the output names the command),
--version ("PROG 0.1.0": one version for all), a bad option (exit 2, a first
line naming the program), an unreachable Redis (exit 4, the message names the
endpoint) and, for the commands that report or change something, --json (it
parses, and counts are JSON numbers, not strings). Also: the common options
before or after the command word, the endpoint syntax (redis://host:port/db)
and the environment ($REDSINK_PREFIX, $REDSINK_REDIS_AUTH_FILE) accepted by
ctl and stats alike, mode-600 credential files, the deprecated spellings still
working with a warning, and the exit-code scheme written in the same words
in every man page.

The tools are those of the build $REDSINK_MODULE comes from, else build/redsink.
"""
import datetime
import json
import os
import re
import subprocess
from pathlib import Path

import pytest

import harness

REPO = harness.REPO_ROOT
VERSION = re.search(r"AC_INIT\(\[redsink\],\s*\[([^\]]+)\]", (REPO / "configure.ac").read_text()).group(1)


# each tool's folder under tools/ (sources, man page) and under the build's tools/
TOOL_DIR = {"redsink-ctl": "ctl", "redsink-stats": "stats", "redsink-warnd": "warnd", "redsink-mkgeo": "mkgeo"}


def tool(name):
    if os.environ.get("REDSINK_MODULE"):
        b = Path(os.environ["REDSINK_MODULE"]).resolve().parents[2] / "tools" / TOOL_DIR[name] / name
        if b.exists():
            return str(b)
    return str(REPO / "build" / "redsink" / "tools" / TOOL_DIR[name] / name)


def run(name, *args, env=None, input=None, timeout=60):
    e = {k: v for k, v in os.environ.items() if not k.startswith("REDSINK_")}
    e.update({"USER": "conformance", "ASAN_OPTIONS": "detect_leaks=1:abort_on_error=0:exitcode=99"})
    e.update(env or {})
    p = subprocess.run([tool(name), *map(str, args)], capture_output=True, text=True, env=e, input=input,
                       timeout=timeout)
    assert "AddressSanitizer" not in p.stderr and "runtime error:" not in p.stderr, p.stderr
    return p


# Every command: (words, arguments that reach Redis).
CTL = [
    (("order", "add"), ("X1", "--authority", "A", "--reference", "R", "--scope", "*", "--action", "sinkhole",
                        "--reason", "r", "--url", "https://o.example/1", "--lang", "en")),
    (("order", "show"), ("X1",)),
    (("order", "list"), ()),
    (("order", "update"), ("X1", "--reference", "R2")),
    (("order", "revoke"), ("X1", "--why", "test")),
    (("push",), ("X1", "NAMES")),
    (("withdraw",), ("X1", "NAMES")),
    (("protect", "add"), ("a.example",)),
    (("protect", "remove"), ("a.example", "--why", "test")),
    (("protect", "list"), ()),
    (("expire",), ()),
    (("status",), ()),
    (("export",), ("--json",)),
    (("log",), ()),
    (("dataset", "show"), ()),
    (("dataset", "new"), ("--why", "test")),
    (("check",), ("a.example",)),
    (("fleet", "add"), ("r1", "--jurisdiction", "IT")),
    (("fleet", "remove"), ("r1",)),
    (("fleet", "list"), ()),
    (("receipts",), ("X1",)),
    (("addip",), ("X1", "192.0.2.0/24")),
    (("delip",), ("X1", "192.0.2.0/24")),
    (("protect-ip",), ("192.0.2.0/24",)),
    (("unprotect-ip",), ("192.0.2.0/24", "--why", "test")),
    (("ip", "list"), ()),
    (("confirm-ip",), ("192.0.2.0/24", "--why", "test")),
    (("unconfirm-ip",), ("192.0.2.0/24",)),
    (("window", "set"), ("X1", "2030-05-01T18:00:00Z/2030-05-01T20:00:00Z")),
    (("window", "clear"), ("X1",)),
    (("window", "list"), ()),
    (("verify",), ("--key", "ed25519:11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=")),
]
# Commands that never reach Redis (signing keys, issue 14): no exit 4 to check.
CTL_OFFLINE = [
    (("key", "generate"), ("--out", "KEYFILE")),
    (("key", "show"), ("KEYFILE",)),
    (("key", "fingerprint"), ("ed25519:11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=",)),
]
OFFLINE = {w for w, _ in CTL_OFFLINE}
STATS = [(("top",), ()), (("series",), ()), (("regions",), ()), (("export",), ()),
         (("report",), ("--html", "-")), (("discovered",), ()), (("collateral",), ())]
COMMANDS = ([("redsink-ctl", w, a) for w, a in CTL + CTL_OFFLINE] + [("redsink-stats", w, a) for w, a in STATS] +
            [("redsink-warnd", (), ()), ("redsink-mkgeo", (), ())])
IDS = [f"{t}:{'-'.join(w) or 'main'}" for t, w, _ in COMMANDS]


def known(t, words):
    """A command another part of issue 11 adds may not exist yet in this tree."""
    if t != "redsink-ctl":
        return True
    return re.search(rf"(?m)^  {re.escape(words[0])}\b", run(t, "--help").stdout) is not None


@pytest.mark.parametrize("t,words,args", COMMANDS, ids=IDS)
def test_help_version_bad_option(t, words, args):
    if not known(t, words):
        pytest.skip(f"{t} {' '.join(words)} is not in this tree")
    p = run(t, *words, "--help")
    assert p.returncode == 0, p.stderr
    assert (" ".join(words) if words else t) in p.stdout, p.stdout
    p = run(t, *words, "--version")
    assert p.returncode == 0 and p.stdout == f"{t} {VERSION}\n", (p.stdout, p.stderr)
    p = run(t, *words, "--no-such-option")
    assert p.returncode == 2, (p.returncode, p.stderr)
    # one line naming the program (and the command) and the option, as
    # "redsink-ctl: push: unrecognized option '--no-such-option' (see ...)":
    # not getopt's line followed by a "Try ..." line
    lines = p.stderr.splitlines()
    assert len(lines) == 1, p.stderr
    assert lines[0].startswith(f"{t}: ") and "no-such-option" in lines[0], p.stderr
    if t == "redsink-ctl":
        assert lines[0].startswith(f"{t}: {' '.join(words)}: ") and "--help" in lines[0], p.stderr


def test_version_is_the_one_of_configure():
    for t in ("redsink-ctl", "redsink-stats", "redsink-warnd", "redsink-mkgeo"):
        p = run(t, "--version")
        assert p.returncode == 0 and p.stdout == f"{t} {VERSION}\n", (t, p.stdout)
    # the module reports the same version (module/sync.c, module/redsink.c)
    for f in ("module/sync.c", "module/redsink.c"):
        text = (REPO / f).read_text()
        assert "REDSINK_VERSION" in text, f   # -DREDSINK_VERSION from AC_INIT (Makefile.am)
        for v in re.findall(r'"(\d+\.\d+\.\d+)"', text):
            assert v == VERSION, (f, v)


@pytest.mark.parametrize("t,words,args", [c for c in COMMANDS if c[0] not in ("redsink-mkgeo", "redsink-warnd")
                                          and c[1] not in OFFLINE],
                         ids=[i for i, c in zip(IDS, COMMANDS) if c[0] not in ("redsink-mkgeo", "redsink-warnd")
                              and c[1] not in OFFLINE])
def test_unreachable_redis_is_exit_4(t, words, args, tmp_path):
    if not known(t, words):
        pytest.skip(f"{t} {' '.join(words)} is not in this tree")
    names = tmp_path / "names.txt"
    names.write_text("a.example\n")
    port = harness.free_port()
    args = [str(names) if a == "NAMES" else a for a in args]
    for where in (("--redis", f"127.0.0.1:{port}"), ("--redis", f"redis://127.0.0.1:{port}/2")):
        # the common options before the command word, and after it
        for argv in ((*where, *words, *args), (*words, *args, *where)):
            p = run(t, *argv, input="")
            assert p.returncode == 4, (argv, p.returncode, p.stderr)
            assert f"127.0.0.1:{port}" in p.stderr and p.stderr.startswith(f"{t}: "), p.stderr
    # $REDSINK_REDIS, the same syntax
    p = run(t, *words, *args, env={"REDSINK_REDIS": f"redis://127.0.0.1:{port}/1"}, input="")
    assert p.returncode == 4 and f"127.0.0.1:{port}" in p.stderr, p.stderr


def test_warnd_and_mkgeo_exit_codes(tmp_path):
    # warnd: a bad endpoint is a usage error (it waits for an unreachable Redis: /healthz degraded)
    p = run("redsink-warnd", "--redis", "ftp://x", "--check")
    assert p.returncode == 2 and p.stderr.startswith("redsink-warnd: --redis: "), p.stderr
    p = run("redsink-warnd", "--templates", str(tmp_path / "none"))
    assert p.returncode == 1
    (tmp_path / "plan.csv").write_text("10.0.0.1/8,IT\n")
    p = run("redsink-mkgeo", "-o", tmp_path / "x.mmdb", tmp_path / "plan.csv")
    assert p.returncode == 5, p.stderr


def numbers_are_numbers(doc, path="$"):
    """No count written as a string: a string of digits is a number in disguise
    (identifiers that may be all digits are allowed)."""
    ids = {"id", "order", "reference", "name", "domain", "dataset", "version", "prefix", "entry", "a_label",
           "ascii", "resolver", "reason", "why", "by", "stream_id", "last_id", "supersedes"}
    if isinstance(doc, dict):
        for k, v in doc.items():
            if isinstance(v, str) and re.fullmatch(r"-?\d+(\.\d+)?", v) and k not in ids:
                pytest.fail(f"{path}.{k} is the string {v!r}, not a number")
            numbers_are_numbers(v, f"{path}.{k}")
    elif isinstance(doc, list):
        for i, v in enumerate(doc):
            numbers_are_numbers(v, f"{path}[{i}]")


# Commands that report or change something, with --json.
CTL_JSON = [
    ("order", "list", "--json"),
    ("order", "show", "J1", "--json"),
    ("push", "J1", "NAMES", "--json"),
    ("status", "--json"),
    ("status", "J1", "--json"),
    ("export", "--json"),
    ("log", "--json"),
    ("protect", "list", "--json"),
    ("dataset", "show", "--json"),
    ("check", "a1.example", "--json"),
    ("fleet", "add", "r1", "--jurisdiction", "IT", "--json"),
    ("fleet", "list", "--json"),
    ("fleet", "remove", "r1", "--json"),
    ("receipts", "J1", "--json"),
    ("withdraw", "J1", "NAMES", "--json"),
    ("addip", "J1", "192.0.2.0/24", "--json"),
    ("ip", "list", "--json"),
    ("window", "list", "--json"),
    ("delip", "J1", "192.0.2.0/24", "--json"),
    ("expire", "--dry-run", "--json"),
    ("verify", "--key", "ed25519:11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=", "--json"),
    ("order", "revoke", "J1", "--why", "end", "--json"),
]


def test_json_parses_with_typed_values(redis, tmp_path):
    env = {"REDSINK_REDIS": redis.url}
    names = tmp_path / "names.txt"
    names.write_text("a1.example\na2.example\n")
    p = run("redsink-ctl", "order", "add", "J1", "--authority", "Tribunale", "--reference", "RG 1/2026",
            "--scope", "*", "--action", "sinkhole", "--reason", "Copyright", "--url", "https://o.example/1",
            "--lang", "en", env=env)
    assert p.returncode == 0, p.stderr
    failed = []
    for argv in CTL_JSON:
        if not known("redsink-ctl", argv[:1]):
            continue
        argv = [str(names) if a == "NAMES" else a for a in argv]
        p = run("redsink-ctl", *argv, env=env)
        try:
            assert p.returncode in (0, 1), (p.returncode, p.stderr)
            assert p.stdout.strip(), ("no JSON on standard output", p.stderr)
            try:
                doc = json.loads(p.stdout)
            except ValueError:      # JSON Lines (log --json): one object per line
                doc = [json.loads(line) for line in p.stdout.splitlines() if line.strip()]
            numbers_are_numbers(doc)
        except (AssertionError, ValueError, pytest.fail.Exception) as e:
            failed.append((argv[:2], str(e)[:300], p.stdout[:200]))
    assert not failed, failed
    for cmd in ("top", "series", "regions", "export", "discovered", "collateral"):
        p = run("redsink-stats", cmd, "--last", "24h", "--json", env=env)
        assert p.returncode == 0, p.stderr
        numbers_are_numbers(json.loads(p.stdout))
    # the common options before the command
    p = run("redsink-stats", "--json", "--redis", redis.url, "top", "--last", "24h")
    assert p.returncode == 0 and isinstance(json.loads(p.stdout), dict), p.stderr


def test_one_environment_and_credentials(redis, tmp_path):
    """ctl and stats: $REDSINK_PREFIX, redis://host:port/db, mode-600 auth files, old spellings."""
    c = redis.client()
    c.execute_command("ACL", "SETUSER", "reader", "on", ">s3cret", "~*", "+@all")
    url = f"redis://reader@{redis.url}/0"
    auth = tmp_path / "auth"
    auth.write_text("reader s3cret\n")
    auth.chmod(0o644)
    for t, argv in (("redsink-ctl", ("order", "list", "--json")),
                    ("redsink-stats", ("top", "--last", "24h", "--json"))):
        # a credential file others can read is refused: exit 4
        p = run(t, "--redis", url, "--auth-file", auth, *argv)
        assert p.returncode == 4 and "chmod 600" in p.stderr, (t, p.stderr)
    auth.chmod(0o600)
    c.config_set("requirepass", "s3cret")
    try:
        for t, argv in (("redsink-ctl", ("order", "list", "--json")),
                        ("redsink-stats", ("top", "--last", "24h", "--json"))):
            p = run(t, "--redis", url, "--auth-file", auth, *argv)
            assert p.returncode == 0, (t, p.stderr)
            p = run(t, *argv, env={"REDSINK_REDIS": redis.url, "REDSINK_REDIS_AUTH_FILE": str(auth)})
            assert p.returncode == 0, (t, p.stderr)
            p = run(t, *argv, env={"REDSINK_REDIS": redis.url, "REDSINK_REDIS_PASSWORD": "s3cret"})
            assert p.returncode == 0, (t, p.stderr)
            # deprecated spellings: still working, with a warning
            p = run(t, *argv, env={"REDSINK_REDIS": redis.url, "REDSINK_PASSWORD": "s3cret"})
            assert p.returncode == 0 and "deprecated" in p.stderr, (t, p.stderr)
            p = run(t, "--password-file", auth, *argv, env={"REDSINK_REDIS": redis.url})
            assert p.returncode == 0 and "deprecated" in p.stderr, (t, p.stderr)
            p = run(t, *argv, env={"REDSINK_REDIS": redis.url})
            assert p.returncode == 4 and "NOAUTH" in p.stderr, (t, p.stderr)
    finally:
        redis.client(password="s3cret").config_set("requirepass", "")
    # $REDSINK_PREFIX: both tools read the same keys
    c = redis.client()
    hour = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H")
    c.hset(f"other:hits:{hour}", "O1|a.example|IT", 50)
    p = run("redsink-stats", "top", "--last", "2h", "--json", "--no-suppression",
            env={"REDSINK_REDIS": redis.url, "REDSINK_PREFIX": "other:"})
    assert p.returncode == 0, p.stderr
    assert "O1" in p.stdout, p.stdout
    p = run("redsink-stats", "top", "--last", "2h", "--json", env={"REDSINK_REDIS": redis.url})
    assert "O1" not in p.stdout


def test_dash_n_is_dry_run_everywhere():
    assert "-n, --dry-run" in run("redsink-ctl", "push", "--help").stdout
    h = run("redsink-stats", "top", "--help").stdout
    assert "-l, --limit" in h and "-n," not in h
    p = run("redsink-stats", "top", "-n", "3")
    assert p.returncode == 2 and "--limit" in p.stderr


EXIT_WORDS = [r"^\.TP\n0\nok$", r"^\.TP\n1\nan error, or not compliant$", r"^\.TP\n2\nusage: ",
              r"^\.TP\n3\nrefused by a safety check", r"^\.TP\n4\nRedis unreachable, authentication or ACL refused",
              r"^\.TP\n5\ninput data invalid"]


@pytest.mark.parametrize("page", ["redsink-ctl.1", "redsink-stats.1", "redsink-warnd.8", "redsink-mkgeo.1"])
def test_exit_codes_documented_in_the_same_words(page):
    man = (REPO / "tools" / TOOL_DIR[page.rsplit(".", 1)[0]] / page).read_text()
    section = man.split(".SH EXIT STATUS\n", 1)[1].split("\n.SH ", 1)[0]
    for pat in EXIT_WORDS:
        assert re.search(pat, section, re.M), (page, pat)


def test_bash_completion():
    """tools/completion/redsink.bash completes commands, subcommands and options from the tools' --help."""
    comp = REPO / "tools" / "completion" / "redsink.bash"
    script = f"""
source {comp}
cw() {{ COMP_WORDS=("$@"); COMP_CWORD=$(( ${{#COMP_WORDS[@]}} - 1 )); COMPREPLY=(); _redsink_complete "$1"; echo "${{COMPREPLY[*]}}"; }}
cw redsink-ctl ""
cw redsink-ctl pu
cw redsink-ctl push --dr
cw redsink-ctl --redis 127.0.0.1:1 order ""
cw redsink-stats --re
cw redsink-stats top --li
cw redsink-warnd --auth
cw redsink-mkgeo --vers
"""
    path = os.pathsep.join([str(Path(tool(t)).parent) for t in TOOL_DIR] + [os.environ["PATH"]])
    p = subprocess.run(["bash", "-c", script], capture_output=True, text=True, timeout=60,
                       env={**os.environ, "PATH": path})
    assert p.returncode == 0, p.stderr
    lines = p.stdout.splitlines()
    assert {"push", "status", "order", "dataset"} <= set(lines[0].split()) and "--redis" not in lines[0]
    assert lines[1].split() == ["push"]
    assert lines[2].split() == ["--dry-run"]
    assert {"add", "show", "list", "update", "revoke"} <= set(lines[3].split())
    assert "--redis" in lines[4].split()
    assert lines[5].split() == ["--limit"]
    assert lines[6].split() == ["--auth-file"]
    assert lines[7].split() == ["--version"]
    am = (REPO / "Makefile.am").read_text()
    assert "tools/completion/redsink.bash" in am and "bash-completion/completions" in am
