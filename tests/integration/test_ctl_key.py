"""redsink-ctl key generate|show|fingerprint (issue 14, signed orders).

No Redis: the key commands work on files only. A new key file is created with
mode 0600 and never overwritten; its public key text ("ed25519:" + 44
characters of base64) and key id (16 hex digits: the first 8 octets of
SHA-256 of the raw key) are printed; a private key that group or others can
read is refused with exit 3 and the credential files' message; a file that is
not a PEM Ed25519 key is invalid input (5); keys made by openssl are read too.

The tool is the one of the build $REDSINK_MODULE comes from, else build/redsink.
"""
import base64
import hashlib
import json
import os
import re
import shutil
import stat
import subprocess
from pathlib import Path

import pytest

import harness

REPO = harness.REPO_ROOT


def ctl_binary():
    if os.environ.get("REDSINK_CTL"):        # as test_ctl.py: the tool to test, when given
        return os.environ["REDSINK_CTL"]
    if os.environ.get("REDSINK_MODULE"):
        b = Path(os.environ["REDSINK_MODULE"]).resolve().parents[2] / "tools" / "ctl" / "redsink-ctl"
        if b.exists():
            return str(b)
    return str(REPO / "build" / "redsink" / "tools" / "ctl" / "redsink-ctl")


def ctl(*args, cwd=None):
    env = {k: v for k, v in os.environ.items() if not k.startswith("REDSINK_")}
    env["ASAN_OPTIONS"] = "detect_leaks=1:abort_on_error=0:exitcode=99"
    p = subprocess.run([ctl_binary(), *map(str, args)], capture_output=True, text=True, env=env, cwd=cwd,
                       timeout=60)
    assert "AddressSanitizer" not in p.stderr and "runtime error:" not in p.stderr, p.stderr
    return p


def key_id_of(pub_text):
    raw = base64.b64decode(pub_text.split(":", 1)[1], validate=True)
    assert len(raw) == 32
    return hashlib.sha256(raw).hexdigest()[:16]


def test_generate_writes_a_0600_file_and_prints_the_public_key(tmp_path):
    key = tmp_path / "agcom.key"
    old = os.umask(0o022)
    try:
        p = ctl("key", "generate", "--out", key, "--label", "agcom")
    finally:
        os.umask(old)
    assert p.returncode == 0, p.stderr
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    text = key.read_text()
    assert "-----BEGIN PRIVATE KEY-----" in text and "# redsink signing key: agcom" in text
    m = re.search(r"^public key:\s+(ed25519:[A-Za-z0-9+/]{43}=)$", p.stdout, re.M)
    assert m, p.stdout
    pub = m.group(1)
    kid = re.search(r"^key id:\s+([0-9a-f]{16})$", p.stdout, re.M).group(1)
    assert kid == key_id_of(pub)
    assert f"trusted-key: agcom {pub}" in p.stdout
    # show: the same key, from the private key file
    p = ctl("key", "show", key, "--json")
    assert p.returncode == 0, p.stderr
    doc = json.loads(p.stdout)
    assert doc == {"key_id": kid, "public_key": pub, "label": "agcom"}
    # fingerprint: of the text, of the private key file, of a trusted-key line in a file
    for arg in (pub, key):
        p = ctl("key", "fingerprint", arg)
        assert p.returncode == 0 and p.stdout == kid + "\n", (arg, p.stdout, p.stderr)
    conf = tmp_path / "trusted.conf"
    conf.write_text(f"trusted-key: agcom {pub}\n")
    p = ctl("key", "fingerprint", conf)
    assert p.returncode == 0 and p.stdout == kid + "\n", p.stderr


def test_generate_never_overwrites(tmp_path):
    key = tmp_path / "k"
    key.write_text("precious\n")
    p = ctl("key", "generate", "--out", key)
    assert p.returncode == 3, (p.returncode, p.stderr)
    assert "never overwritten" in p.stderr and p.stderr.startswith("redsink-ctl: key generate: ")
    assert key.read_text() == "precious\n"
    # two keys are different keys
    a, b = tmp_path / "a", tmp_path / "b"
    assert ctl("key", "generate", "-o", a).returncode == 0
    assert ctl("key", "generate", "-o", b).returncode == 0
    assert ctl("key", "fingerprint", a).stdout != ctl("key", "fingerprint", b).stdout


def test_a_key_others_can_read_is_refused(tmp_path):
    key = tmp_path / "k"
    assert ctl("key", "generate", "--out", key).returncode == 0
    for mode in (0o644, 0o640, 0o604, 0o660):
        key.chmod(mode)
        for argv in (("key", "show", key), ("key", "fingerprint", key)):
            p = ctl(*argv)
            assert p.returncode == 3, (oct(mode), argv, p.returncode, p.stderr)
            assert f"signing key {key} can be read by other users: refused (chmod 600 {key})" in p.stderr, p.stderr
            assert p.stdout == ""
    key.chmod(0o400)
    assert ctl("key", "show", key).returncode == 0
    # not a regular file, a symbolic link
    p = ctl("key", "show", tmp_path)
    assert p.returncode == 3 and "not a regular file" in p.stderr, p.stderr
    link = tmp_path / "link"
    link.symlink_to(key)
    p = ctl("key", "show", link)
    assert p.returncode == 3 and "symbolic link" in p.stderr, p.stderr


@pytest.mark.skipif(os.geteuid() != 0, reason="chown to another user needs root")
def test_a_key_of_another_user_is_refused(tmp_path):
    """Review of issue 14, item 11: a key file must belong to the signer (st_uid == euid)."""
    key = tmp_path / "k"
    assert ctl("key", "generate", "--out", key).returncode == 0
    os.chown(key, 65534, -1)
    p = ctl("key", "show", key)
    assert p.returncode == 3 and f"signing key {key} belongs to another user (uid 65534): refused" in p.stderr, \
        p.stderr
    os.chown(key, 0, -1)
    assert ctl("key", "show", key).returncode == 0


@pytest.mark.skipif(not shutil.which("openssl"), reason="no openssl command")
def test_an_encrypted_key_is_refused_even_with_an_empty_passphrase(tmp_path):
    """Review of issue 14, item 11: no passphrase is ever tried, not even the empty one."""
    key, enc = tmp_path / "o.pem", tmp_path / "e.pem"
    subprocess.run(["openssl", "genpkey", "-algorithm", "ed25519", "-out", key], check=True)
    for pw in ("pass:", "pass:secret"):
        enc.unlink(missing_ok=True)
        subprocess.run(["openssl", "pkey", "-in", key, "-aes256", "-passout", pw, "-out", enc], check=True)
        enc.chmod(0o600)
        p = ctl("key", "show", enc)
        assert p.returncode == 5 and f"signing key {enc} is encrypted: refused" in p.stderr, (pw, p.stderr)
        assert p.stdout == ""


def test_bad_key_files_and_texts(tmp_path):
    bad = tmp_path / "bad.pem"
    bad.write_text("-----BEGIN PRIVATE KEY-----\nbm90IGEga2V5\n-----END PRIVATE KEY-----\n")
    bad.chmod(0o600)
    p = ctl("key", "show", bad)
    assert p.returncode == 5, (p.returncode, p.stderr)
    assert f"signing key {bad}: not a PEM Ed25519 private key (PKCS#8)" in p.stderr
    p = ctl("key", "show", tmp_path / "missing")
    assert p.returncode == 1 and "No such file or directory" in p.stderr, p.stderr
    for text in ("ed25519:", "ed25519:11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo",
                 "ed25519:11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURp="):
        p = ctl("key", "fingerprint", text)
        assert p.returncode == 5 and "public key" in p.stderr, (text, p.stderr)
    # the RFC 8032 TEST 1 public key: a known key id
    p = ctl("key", "fingerprint", "ed25519:11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=")
    assert p.returncode == 0 and p.stdout == "21fe31dfa154a261\n", p.stderr
    # usage errors
    assert ctl("key", "generate").returncode == 2
    assert ctl("key", "generate", "--out", tmp_path / "x", "--label", "a b").returncode == 2
    assert ctl("key", "show").returncode == 2
    assert ctl("key", "rotate").returncode == 2


@pytest.mark.skipif(not shutil.which("openssl"), reason="no openssl command")
def test_keys_made_by_openssl(tmp_path):
    key, pubpem = tmp_path / "o.pem", tmp_path / "o.pub"
    subprocess.run(["openssl", "genpkey", "-algorithm", "ed25519", "-out", key], check=True)
    key.chmod(0o600)
    subprocess.run(["openssl", "pkey", "-in", key, "-pubout", "-out", pubpem], check=True)
    p = ctl("key", "show", key, "--json")
    assert p.returncode == 0, p.stderr
    doc = json.loads(p.stdout)
    assert doc["key_id"] == key_id_of(doc["public_key"])
    p = ctl("key", "fingerprint", pubpem)
    assert p.returncode == 0 and p.stdout == doc["key_id"] + "\n", p.stderr


def test_bash_completion_knows_the_signing_commands(tmp_path):
    """tools/completion/redsink.bash: `key` and its subcommands, `verify`,
    `window`, `ip`, the common signing options after a command (push --sign-key)
    and file names as the values of --sign-key, --trusted, --out."""
    (tmp_path / "agcom.pem").touch()
    comp = REPO / "tools" / "completion" / "redsink.bash"
    script = f"""
source {comp}
cw() {{ COMP_WORDS=("$@"); COMP_CWORD=$(( ${{#COMP_WORDS[@]}} - 1 )); COMPREPLY=(); _redsink_complete "$1"; echo "${{COMPREPLY[*]}}"; }}
cw redsink-ctl ""
cw redsink-ctl key ""
cw redsink-ctl push --si
cw redsink-ctl --sign-key ag
cw redsink-ctl --sign-key agcom.pem pu
cw redsink-ctl verify --trusted ag
cw redsink-ctl key generate --out ag
cw redsink-ctl window ""
cw redsink-ctl ip ""
cw redsink-ctl verify --
"""
    path = os.pathsep.join([str(Path(ctl_binary()).parent), os.environ["PATH"]])
    p = subprocess.run(["bash", "-c", script], capture_output=True, text=True, timeout=60, cwd=tmp_path,
                       env={**os.environ, "PATH": path})
    assert p.returncode == 0, p.stderr
    lines = p.stdout.splitlines()
    assert {"key", "verify", "window", "ip", "protect-ip"} <= set(lines[0].split())
    assert lines[1].split() == ["fingerprint", "generate", "show"]
    assert lines[2].split() == ["--sign-key"]
    assert lines[3].split() == ["agcom.pem"]
    assert lines[4].split() == ["push"]
    assert lines[5].split() == ["agcom.pem"]
    assert lines[6].split() == ["agcom.pem"]
    assert lines[7].split() == ["clear", "list", "set"]
    assert lines[8].split() == ["list"]
    assert {"--trusted", "--from-export", "--json"} <= set(lines[9].split())
