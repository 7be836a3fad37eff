"""redsink-ctl signs every change of an order, and `verify` audits offline (issue 14).

Redis and the ctl binary only (no resolver). Keys are made with python3-cryptography
as well as with `redsink-ctl key generate`, and every signature the tool writes is
checked here with cryptography's Ed25519 (another implementation than ours); set
digests and manifest hashes are recomputed here from doc/signing.md's definitions.

Covered: a signed push writes manifest:<id> and an op=signed entry after its add
entries in the same MULTI/EXEC; the chain over several writes (versions 1..n, prev
links, fields, state); versions of at most 10,000 delta lines; a write without a
key to a signed order refused (exit 3) and allowed with --unsigned (recorded); a
key file others can read refused; `verify` passing on a clean Redis and failing,
naming the order and the check, after each tampering behind the tool's back; key
rotation; `export --json` carrying the manifests and `verify --from-export`;
`order show` and `receipts` naming the signer.
"""

import base64
import hashlib
import json
import os
import socket
import threading
import time

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

import rs
from test_ctl import auth_env, ctl, ok, set_acl_users

P = rs.PREFIX


# ---------------------------------------------------------------------------
# keys, manifests and digests, computed independently of the tool
# ---------------------------------------------------------------------------

class Key:
    """An Ed25519 key written as the PEM PKCS#8 file redsink-ctl reads."""

    def __init__(self, path, label, priv=None, mode=0o600):
        self.priv = priv or ed25519.Ed25519PrivateKey.generate()
        self.raw = self.priv.public_key().public_bytes(serialization.Encoding.Raw,
                                                       serialization.PublicFormat.Raw)
        self.pub = "ed25519:" + base64.b64encode(self.raw).decode()
        self.id = hashlib.sha256(self.raw).hexdigest()[:16]
        self.label = label
        self.path = path
        pem = self.priv.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                      serialization.NoEncryption())
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
        os.write(fd, pem)
        os.close(fd)
        os.chmod(path, mode)

    def sign(self, text):
        return base64.b64encode(self.priv.sign(text.encode())).decode()

    def verify(self, text, sig):
        self.priv.public_key().verify(base64.b64decode(sig), text.encode())   # raises if bad


def trust_file(path, keys, revoked=()):
    lines = ["# a resolver's redsink.conf: other directives are ignored by verify",
             "read-redis: 127.0.0.1:6379"]
    lines += [f"trusted-key: {k.label} {k.pub}" for k in keys]
    lines += [f"revoked-key: {r}" for r in revoked]
    path.write_text("\n".join(lines) + "\n")
    return path


def setdigest(members):
    return hashlib.sha256(b"".join(sorted(hashlib.sha256(m.encode()).digest() for m in members))).hexdigest()


def parse(text):
    """The manifest's header lines as a dict, fields as a dict, delta lines as a list."""
    head, fields, delta = {}, {}, []
    lines = text.split("\n")
    assert lines[-1] == "" and lines[0] == "redsink-manifest 1"
    for ln in lines[1:-1]:
        if ln.startswith(("+ ", "- ", "+ip ", "-ip ")):
            delta.append(ln)
        elif ln.startswith("field "):
            _, name, value = ln.split(" ", 2)
            fields[name] = value
        else:
            k, v = ln.split(" ", 1)
            head[k] = v
    return head, fields, delta


def signed_entries(c, order=None):
    """(index in the stream, id, fields) of every op=signed entry (of order)."""
    return [(i, eid, f) for i, (eid, f) in enumerate(c.xrange(P + "changes"))
            if f.get("op") == "signed" and (order is None or f.get("order") == order)]


def check_chain(c, order, keys):
    """Every signed version of order verifies with one of keys, versions go 1..n, prev links; returns them."""
    by_id = {k.id: k for k in keys}
    prev_text = None
    out = []
    for _, _, f in signed_entries(c, order):
        head, fields, delta = parse(f["text"])
        assert head["order"] == order and head["key"] == f["key"]
        by_id[f["key"]].verify(f["text"], f["sig"])
        assert int(head["version"]) == len(out) + 1
        assert head["prev"] == ("-" if prev_text is None else hashlib.sha256(prev_text.encode()).hexdigest())
        prev_text = f["text"]
        out.append((head, fields, delta))
    m = c.hgetall(P + f"manifest:{order}")
    assert m["text"] == prev_text                     # the stored manifest is the last version
    return out


def add_order(redis, oid, key=None, *extra):
    args = ["order", "add", oid, "--authority", "AGCOM", "--reference", f"ref-{oid}", "--scope", "IT", *extra]
    return ok(ctl(redis, *(["--sign-key", key.path] if key else []), *args))


def push(redis, tmp_path, oid, names, key=None, *extra, cmd="push"):
    f = tmp_path / f"{oid}-{cmd}-{len(names)}.txt"
    f.write_text("".join(n + "\n" for n in names))
    return ctl(redis, *(["--sign-key", key.path] if key else []), cmd, oid, f, "--max-batch", "0", *extra,
               timeout=600)


@pytest.fixture
def k1(tmp_path):
    return Key(tmp_path / "k1.pem", "AGCOM")


@pytest.fixture
def k2(tmp_path):
    return Key(tmp_path / "k2.pem", "AGCOM-2027")


# ---------------------------------------------------------------------------
# signing on write
# ---------------------------------------------------------------------------

class Monitor:
    """MONITOR on a raw socket: the commands Redis executes, in order."""

    def __init__(self, redis):
        host, port = redis.url.split(":")
        self.s = socket.create_connection((host, int(port)))
        self.s.sendall(b"MONITOR\r\n")
        self.buf = b""
        self.lines = []
        self.stop = False
        self.t = threading.Thread(target=self._run, daemon=True)
        self.t.start()
        time.sleep(0.2)

    def _run(self):
        self.s.settimeout(0.2)
        while not self.stop:
            try:
                d = self.s.recv(1 << 20)
            except socket.timeout:
                continue
            if not d:
                break
            self.buf += d

    def close(self):
        time.sleep(0.3)
        self.stop = True
        self.t.join()
        self.s.close()
        return [ln for ln in self.buf.decode(errors="replace").split("\r\n") if ln.startswith("+")]


def test_signed_push_writes_the_manifest_and_a_signed_entry_in_its_transaction(redis, tmp_path, k1):
    c = redis.client()
    add_order(redis, "o1", k1)
    mon = Monitor(redis)
    p = ok(push(redis, tmp_path, "o1", ["b.example", "a.example", "c.example"], k1))
    cmds = mon.close()
    assert "signed" not in p.stdout                   # the receipt's change ids are the add entries'
    # the manifest hash
    m = c.hgetall(P + "manifest:o1")
    assert set(m) == {"text", "sig", "key"} and m["key"] == k1.id
    k1.verify(m["text"], m["sig"])                    # our C signature, checked by another implementation
    head, fields, delta = parse(m["text"])
    assert head["version"] == "2" and head["state"] == "active" and head["key"] == k1.id
    assert fields == {"authority": "AGCOM", "reference": "ref-o1", "issued": fields["issued"], "scope": "IT",
                      "action": "sinkhole"}
    assert delta == ["+ a.example", "+ b.example", "+ c.example"]
    members = c.smembers(P + "order:o1:domains")
    assert head["names"] == f"3 {setdigest(members)}"
    assert head["prefixes"] == f"0 {hashlib.sha256(b'').hexdigest()}"
    # the stream: order + signed v1, then three adds and the signed v2 right after them
    es = c.xrange(P + "changes")
    assert [f["op"] for _, f in es] == ["order", "signed", "add", "add", "add", "signed"]
    assert es[-1][1] == {"op": "signed", "order": "o1", "text": m["text"], "sig": m["sig"], "key": k1.id,
                         "by": "tester"}
    check_chain(c, "o1", [k1])
    # one MULTI/EXEC: the SADD, the adds, HSET manifest and XADD op=signed between MULTI and EXEC
    multi = max(i for i, ln in enumerate(cmds) if '"MULTI"' in ln)
    exe = max(i for i, ln in enumerate(cmds) if '"EXEC"' in ln)
    inside = cmds[multi:exe]
    assert any('"SADD"' in ln for ln in inside)
    hset = [i for i, ln in enumerate(inside) if '"HSET"' in ln and "manifest:o1" in ln]
    xsig = [i for i, ln in enumerate(inside) if '"XADD"' in ln and '"signed"' in ln]
    adds = [i for i, ln in enumerate(inside) if ('"add"' in ln and ('"XADD"' in ln or '"EVAL"' in ln))]
    assert hset and xsig and adds and max(adds) < min(xsig)


def test_the_chain_over_every_kind_of_write(redis, tmp_path, k1):
    c = redis.client()
    add_order(redis, "o1", k1)
    ok(push(redis, tmp_path, "o1", ["a.example", "b.example"], k1))
    ok(push(redis, tmp_path, "o1", ["b.example"], k1, cmd="withdraw"))
    ok(ctl(redis, "--sign-key", k1.path, "order", "update", "o1", "--action", "nxdomain", "--reason", "a\\b"))
    ok(ctl(redis, "--sign-key", k1.path, "window", "set", "o1", "2030-01-01T18:00:00Z/2030-01-01T20:00:00Z"))
    ok(ctl(redis, "--sign-key", k1.path, "addip", "o1", "203.0.113.0/24", "2001:db8::/48", "--why", "w"))
    ok(ctl(redis, "--sign-key", k1.path, "delip", "o1", "2001:db8::/48", "--why", "w"))
    ok(ctl(redis, "--sign-key", k1.path, "order", "revoke", "o1"))
    v = check_chain(c, "o1", [k1])
    assert len(v) == 8
    assert [d for _, _, d in v] == [[], ["+ a.example", "+ b.example"], ["- b.example"], [], [],
                                    ["+ip 2001:db8::/48", "+ip 203.0.113.0/24"], ["-ip 2001:db8::/48"], []]
    assert v[3][1]["action"] == "nxdomain" and v[3][1]["reason"] == "a\\\\b"      # escaped in the text
    assert v[4][1]["windows"] == "2030-01-01T18:00:00Z/2030-01-01T20:00:00Z"
    assert v[5][0]["prefixes"].startswith("2 ") and v[6][0]["prefixes"] == f"1 {setdigest(['203.0.113.0/24'])}"
    assert v[6][0]["names"] == f"1 {setdigest(['a.example'])}"
    assert [h["state"] for h, _, _ in v] == ["active"] * 7 + ["revoked"]


def test_a_ticket_import_is_one_signed_version_with_names_and_prefixes(redis, tmp_path, k1):
    c = redis.client()
    add_order(redis, "t1", k1)
    t = tmp_path / "ticket.json"
    t.write_text(json.dumps({"ticket_id": "PS-1", "fqdn": ["t2.example", "t1.example"],
                             "ipv4": ["198.51.100.0/24"], "ipv6": []}))
    ok(ctl(redis, "--sign-key", k1.path, "ticket", "import", "t1", t))
    v = check_chain(c, "t1", [k1])
    assert v[-1][2] == ["+ t1.example", "+ t2.example", "+ip 198.51.100.0/24"]
    assert v[-1][0]["names"] == f"2 {setdigest(['t1.example', 't2.example'])}"
    assert v[-1][0]["prefixes"] == f"1 {setdigest(['198.51.100.0/24'])}"
    assert [f["op"] for _, f in c.xrange(P + "changes")][-1] == "signed"


def test_expire_signs_each_revocation(redis, tmp_path, k1):
    c = redis.client()
    add_order(redis, "old", k1, "--issued", "2020-01-01", "--expires", "2099-01-01")
    add_order(redis, "keep", k1)
    c.hset(P + "order:old", "expires", "2021-01-01T00:00:00Z")   # behind the tool's back: in the past now
    p = ctl(redis, "--sign-key", k1.path, "expire")                # a field changed behind its back: refused
    assert p.returncode == 3 and "expires ('2099-01-01T00:00:00Z' signed, '2021-01-01T00:00:00Z' in Redis)" \
        in p.stderr, p.stderr
    p = ctl(redis, "--sign-key", k1.path, "expire", "--resign-current-state")
    assert p.returncode == 0, p.stderr
    v = check_chain(c, "old", [k1])
    assert v[-1][0]["state"] == "revoked" and v[-1][1]["expires"] == "2021-01-01T00:00:00Z"
    assert len(check_chain(c, "keep", [k1])) == 1          # untouched: still version 1


def test_a_big_push_is_signed_in_versions_of_at_most_10000_lines(redis, tmp_path, k1):
    c = redis.client()
    add_order(redis, "big", k1)
    names = [f"n{i}.example" for i in range(25000)]
    ok(push(redis, tmp_path, "big", names, k1))
    sig = signed_entries(c, "big")
    assert [i for i, _, _ in sig] == [1, 10002, 20003, 25004]    # each after its own chunk's adds
    v = check_chain(c, "big", [k1])
    assert [len(d) for _, _, d in v] == [0, 10000, 10000, 5000]
    assert [h["names"].split()[0] for h, _, _ in v] == ["0", "10000", "20000", "25000"]
    assert v[-1][0]["names"] == f"25000 {setdigest(names)}"
    done = set()                                                  # every name in exactly one version
    for _, _, d in v:
        done |= {ln[2:] for ln in d}
    assert done == set(names)
    es = c.xrange(P + "changes", count=10002)
    assert all(f["op"] == "add" for _, f in es[2:10002])


def test_without_a_key_a_signed_order_is_refused_unless_unsigned(redis, tmp_path, k1):
    c = redis.client()
    add_order(redis, "o1", k1)
    add_order(redis, "plain")                        # never signed: works as before
    ok(push(redis, tmp_path, "plain", ["p.example"]))
    assert not c.exists(P + "manifest:plain")
    before = c.hgetall(P + "manifest:o1")
    n = c.xlen(P + "changes")
    p = push(redis, tmp_path, "o1", ["x.example"])
    assert p.returncode == 3, p.stderr
    assert ("order o1 is signed: give --sign-key, or --unsigned to write without signing (resolvers requiring "
            "signatures will not enforce it)") in p.stderr
    assert c.xlen(P + "changes") == n and not c.sismember(P + "order:o1:domains", "x.example")
    p = ctl(redis, "order", "update", "o1", "--action", "nxdomain")
    assert p.returncode == 3 and c.hget(P + "order:o1", "action") == "sinkhole"
    p = ok(push(redis, tmp_path, "o1", ["x.example"], None, "--unsigned"))
    assert c.sismember(P + "order:o1:domains", "x.example")
    last = c.xrevrange(P + "changes", count=1)[0][1]
    assert last["op"] == "add" and last["override"] == "unsigned"
    assert c.hgetall(P + "manifest:o1") == before    # the manifest stays at its last signed version
    # the next signed write refuses the state changed without signing (review of issue 14, item 1) ...
    p = push(redis, tmp_path, "o1", ["y.example"], k1)
    assert p.returncode == 3 and "no longer match signed version 1" in p.stderr, p.stderr
    # ... and signs it as it is only when told so
    p = ok(push(redis, tmp_path, "o1", ["y.example"], k1, "--resign-current-state"))
    assert "no longer match signed version 1" in p.stderr


def test_the_regulator_acl_signs_and_the_operator_acl_verifies(redis, tmp_path, k1):
    """doc/acl.md's roles: the regulator's user may sign (the sets are read on a second
    connection with the same credentials); the read-only operator may verify."""
    set_acl_users(redis)
    reg, ops = auth_env(tmp_path, "regulator"), auth_env(tmp_path, "operator")
    ok(ctl(redis, "--sign-key", k1.path, "order", "add", "o1", "--authority", "A", "--reference", "R",
           "--scope", "IT", env=reg))
    f = tmp_path / "n.txt"
    f.write_text("a.example\nb.example\n")
    ok(ctl(redis, "--sign-key", k1.path, "push", "o1", f, env=reg))
    assert len(check_chain(redis.client(), "o1", [k1])) == 2
    p = ok(ctl(redis, "verify", "--key", k1.pub, env=ops))
    assert "1 order verified, 0 failed" in p.stdout
    ok(ctl(redis, "order", "show", "o1", "--json", env=ops))


def test_a_key_file_others_can_read_is_refused(redis, tmp_path):
    k = Key(tmp_path / "open.pem", "X", mode=0o644)
    c = redis.client()
    n = c.xlen(P + "changes")
    p = ctl(redis, "--sign-key", k.path, "order", "add", "o1", "--authority", "A", "--reference", "R",
            "--scope", "IT")
    assert p.returncode == 3, p.stderr
    assert "open.pem" in p.stderr and "chmod 600" in p.stderr
    assert c.xlen(P + "changes") == n and not c.exists(P + "order:o1")
    p = ctl(redis, "order", "add", "o1", "--authority", "A", "--reference", "R", "--scope", "IT",
            env={"REDSINK_SIGN_KEY": str(k.path)})
    assert p.returncode == 3 and not c.exists(P + "order:o1")


def test_a_key_made_by_key_generate_signs(redis, tmp_path):
    ok(ctl(redis, "key", "generate", "--out", tmp_path / "g.pem", "--label", "AGCOM"))
    info = json.loads(ok(ctl(redis, "key", "show", tmp_path / "g.pem", "--json")).stdout)
    ok(ctl(redis, "order", "add", "o1", "--authority", "A", "--reference", "R", "--scope", "IT",
           env={"REDSINK_SIGN_KEY": str(tmp_path / "g.pem")}))
    m = redis.client().hgetall(P + "manifest:o1")
    assert m["key"] == info["key_id"]
    raw = base64.b64decode(info["public_key"].split(":", 1)[1])
    ed25519.Ed25519PublicKey.from_public_bytes(raw).verify(base64.b64decode(m["sig"]), m["text"].encode())


# ---------------------------------------------------------------------------
# verify
# ---------------------------------------------------------------------------

def verify(redis, *args):
    return ctl(redis, "verify", *args)


def failed(p):
    """{order: [check, ...]} of a failing verify's output."""
    out = {}
    for ln in p.stdout.splitlines():
        if ln.startswith("FAILED"):
            order, rest = ln.split(None, 1)[1].split(": ", 1)
            out.setdefault(order, []).append(rest.split(":", 1)[0])
    return out


def test_verify_passes_on_a_clean_redis_and_names_every_tampering(redis, tmp_path, k1, k2):
    c = redis.client()
    ids = ["clean", "sadd", "srem", "action", "forged", "untrusted"]
    for oid in ids:
        add_order(redis, oid, k1)
        ok(push(redis, tmp_path, oid, ["a.example", "b.example"], k1))
    ok(ctl(redis, "--sign-key", k1.path, "addip", "clean", "203.0.113.0/24"))
    trusted = trust_file(tmp_path / "redsink.conf", [k1])
    p = verify(redis, "--trusted", trusted)
    assert p.returncode == 0, p.stdout + p.stderr
    assert p.stdout.count("ok ") == len(ids) and "version 2, signed by " + k1.id + " (AGCOM)" in p.stdout
    j = json.loads(ok(verify(redis, "--trusted", trusted, "--json")).stdout)
    assert j["ok"] and j["verified"] == len(ids) and j["orders"][0]["label"] == "AGCOM"

    c.sadd(P + "order:sadd:domains", "evil.example")
    c.srem(P + "order:srem:domains", "a.example")
    c.hset(P + "order:action", "action", "nxdomain")
    head, fields, delta = parse(c.hget(P + "manifest:forged", "text"))      # a next version, badly signed
    text = c.hget(P + "manifest:forged", "text").replace("version 2\n", "version 3\n")
    c.xadd(P + "changes", {"op": "signed", "order": "forged", "text": text, "sig": k1.sign("other text"),
                           "key": k1.id})
    # a manifest signed by a key nobody trusts (consistent with the sets: only the key is wrong)
    evil = Key(tmp_path / "evil.pem", "EVIL")
    m = c.hget(P + "manifest:untrusted", "text").replace(f"key {k1.id}\n", f"key {evil.id}\n")
    c.hset(P + "manifest:untrusted", mapping={"text": m, "sig": evil.sign(m), "key": evil.id})

    p = verify(redis, "--trusted", trusted)
    assert p.returncode == 1, p.stdout + p.stderr
    f = failed(p)
    assert f["sadd"] == ["names"] and f["srem"] == ["names"] and f["action"] == ["fields"]
    assert set(f["forged"]) == {"chain"} and "the signature does not verify" in p.stdout
    assert "key" in f["untrusted"] and "signed by a key that is not trusted" in p.stdout
    assert "clean" not in f and "ok      clean: version 3" in p.stdout
    assert "FAILED  action: fields: action is 'nxdomain', signed 'sinkhole'" in p.stdout
    j = json.loads(verify(redis, "--trusted", trusted, "--json").stdout)
    assert not j["ok"] and j["exit"] == 1 and j["failed"] == 5
    assert {o["order"]: [x["check"] for x in o["failures"]] for o in j["orders"] if not o["ok"]}["sadd"] == ["names"]


def test_verify_checks_the_stream_entry_by_entry_and_bounds_its_report(redis, tmp_path, k1):
    """Review of issue 14, item 10: verify checks each op=signed entry as it reads the stream (one text per
    order in memory, orders found by a hash index) and reports at most 100 chain failures per order."""
    c = redis.client()
    trusted = trust_file(tmp_path / "t.conf", [k1])
    oids = [f"o{i}" for i in range(300)]
    for oid in oids[:3]:
        add_order(redis, oid, k1)
    for oid in oids[3:]:                          # many orders with a signed entry each
        c.sadd(P + "orders", oid)
    ok(push(redis, tmp_path, "o1", ["a.example"], k1))
    pipe = c.pipeline()
    for i in range(150):                          # 150 forged entries of o0
        pipe.xadd(P + "changes", {"op": "signed", "order": "o0", "text": f"junk {i}\n", "sig": "x", "key": k1.id})
    pipe.execute()
    p = verify(redis, "--trusted", trusted, "--json")
    assert p.returncode == 1, p.stdout + p.stderr
    j = {o["order"]: o for o in json.loads(p.stdout)["orders"]}
    fails = [x for x in j["o0"]["failures"] if x["check"] == "chain"]
    assert len(fails) == 101 and "50 more failures of the chain not shown" in fails[-1]["detail"], fails[-1]
    assert j["o0"]["chain_entries"] == 151
    assert j["o1"]["ok"] and j["o1"]["chain_entries"] == 2 and j["o2"]["ok"]
    # the stored manifest compared with the last entry that parsed: o0's manifest is its version 1
    assert not any("stored manifest" in x["detail"] for x in fails)


def test_verify_refuses_a_revoked_key_and_an_unsigned_order(redis, tmp_path, k1, k2):
    add_order(redis, "o1", k1)
    add_order(redis, "o2", k2)
    add_order(redis, "plain")
    p = verify(redis, "--key", k1.pub, "--key", f"AGCOM-2027={k2.pub}")
    assert p.returncode == 1 and failed(p) == {"plain": ["manifest"]}
    assert "no manifest (the order is not signed)" in p.stdout
    redis.client().srem(P + "orders", "plain")
    ok(verify(redis, "--key", k1.pub, "--key", f"AGCOM-2027={k2.pub}"))
    p = verify(redis, "--trusted", trust_file(tmp_path / "r.conf", [k1, k2], revoked=[k2.id]))
    assert p.returncode == 1 and failed(p) == {"o2": ["revoked", "chain"]}
    assert "signed by a revoked key" in p.stdout
    p = verify(redis)
    assert p.returncode == 2 and "no trusted key" in p.stderr


def test_rotation_continues_the_chain_with_a_second_key(redis, tmp_path, k1, k2):
    c = redis.client()
    add_order(redis, "o1", k1)
    ok(push(redis, tmp_path, "o1", ["a.example"], k1))
    p = push(redis, tmp_path, "o1", ["b.example"], k2)          # k1 not trusted by k2's signer: refused
    assert p.returncode == 3 and f"it is signed by key {k1.id}, neither this key ({k2.id})" in p.stderr
    p = ok(push(redis, tmp_path, "o1", ["b.example"], k2, "--trusted", trust_file(tmp_path / "k1.conf", [k1])))
    assert f"version 2 was signed by key {k1.id}, not by this key ({k2.id})" in p.stderr
    v = check_chain(c, "o1", [k1, k2])
    assert [h["key"] for h, _, _ in v] == [k1.id, k1.id, k2.id]
    ok(verify(redis, "--trusted", trust_file(tmp_path / "both.conf", [k1, k2])))
    p = verify(redis, "--trusted", trust_file(tmp_path / "old.conf", [k1]))
    assert p.returncode == 1 and "key" in failed(p)["o1"]


def test_a_signer_refuses_a_set_member_added_behind_its_back(redis, tmp_path, k1):
    """Review of issue 14, item 1: SADD behind the tool's back is never signed silently."""
    c = redis.client()
    add_order(redis, "o1", k1)
    ok(push(redis, tmp_path, "o1", ["a.example"], k1))
    c.sadd(P + "order:o1:domains", "evil.example")
    n = c.xlen(P + "changes")
    before = c.hgetall(P + "manifest:o1")
    p = push(redis, tmp_path, "o1", ["b.example"], k1)
    assert p.returncode == 3, p.stderr
    assert "order 'o1': its names (2 in Redis, 1 signed) no longer match signed version 2" in p.stderr
    assert "--resign-current-state" in p.stderr
    assert c.xlen(P + "changes") == n and c.hgetall(P + "manifest:o1") == before
    assert not c.sismember(P + "order:o1:domains", "b.example")
    c.sadd(P + "order:o1:ips", "192.0.2.0/24")
    c.srem(P + "order:o1:domains", "evil.example")
    p = push(redis, tmp_path, "o1", ["b.example"], k1)
    assert p.returncode == 3 and "its address prefixes (1 in Redis, 0 signed)" in p.stderr, p.stderr
    # accepted with --resign-current-state, and recorded in the signed entry
    c.sadd(P + "order:o1:domains", "evil.example")
    p = ok(push(redis, tmp_path, "o1", ["b.example"], k1, "--resign-current-state"))
    v = check_chain(c, "o1", [k1])
    head, _, delta = v[-1]
    assert head["names"].split()[0] == "3" and delta == ["+ b.example"]
    assert head["names"].split()[1] == setdigest(["a.example", "b.example", "evil.example"])
    assert head["prefixes"].split()[1] == setdigest(["192.0.2.0/24"])
    last = signed_entries(c, "o1")[-1][2]
    assert last["override"] == "resign-current-state"
    ok(push(redis, tmp_path, "o1", ["c.example"], k1))      # in step again: no override needed
    assert "override" not in signed_entries(c, "o1")[-1][2]


def test_a_signer_refuses_a_field_changed_behind_its_back(redis, tmp_path, k1):
    """Review of issue 14, item 1: HSET order:<id> behind the tool's back is never signed silently."""
    c = redis.client()
    add_order(redis, "o1", k1)
    c.hset(P + "order:o1", "action", "nxdomain")
    n = c.xlen(P + "changes")
    p = push(redis, tmp_path, "o1", ["a.example"], k1)
    assert p.returncode == 3, p.stderr
    assert "order 'o1': order:o1 differs from its signed version 1: action ('sinkhole' signed, 'nxdomain' in Redis)" \
        in p.stderr
    assert c.xlen(P + "changes") == n
    p = ctl(redis, "--sign-key", k1.path, "order", "update", "o1", "--reason", "x")
    assert p.returncode == 3 and "differs from its signed version 1" in p.stderr
    p = ok(push(redis, tmp_path, "o1", ["a.example"], k1, "--resign-current-state"))
    assert "action ('sinkhole' signed, 'nxdomain' in Redis)" in p.stderr
    head, fields, _ = check_chain(c, "o1", [k1])[-1]
    assert fields["action"] == "nxdomain" and head["version"] == "2"
    assert signed_entries(c, "o1")[-1][2]["override"] == "resign-current-state"


def test_a_signer_continues_only_a_manifest_of_its_own_or_a_trusted_key(redis, tmp_path, k1, k2):
    """Review of issue 14, item 1: a stored manifest by a key neither own nor --trusted is refused."""
    c = redis.client()
    mallory = Key(tmp_path / "m.pem", "MALLORY")
    add_order(redis, "o1", mallory)
    n = c.xlen(P + "changes")
    p = push(redis, tmp_path, "o1", ["a.example"], k1)
    assert p.returncode == 3, p.stderr
    assert (f"order 'o1': its manifest (manifest:o1) is not sound: it is signed by key {mallory.id}, neither this "
            f"key ({k1.id}) nor a key of --trusted FILE") in p.stderr
    assert c.xlen(P + "changes") == n
    # a key given with --trusted is a rotation; a revoked one is refused
    add_order(redis, "o2", k2)
    p = push(redis, tmp_path, "o2", ["a.example"], k1, "--trusted", trust_file(tmp_path / "t.conf", [k2]))
    assert p.returncode == 0 and f"version 1 was signed by key {k2.id}" in p.stderr, p.stderr
    check_chain(c, "o2", [k1, k2])
    p = push(redis, tmp_path, "o1", ["a.example"], k1, "--trusted",
             trust_file(tmp_path / "r.conf", [mallory], revoked=[mallory.id]))
    assert p.returncode == 3 and f"it is signed by key {mallory.id}, revoked in" in p.stderr, p.stderr
    # a manifest of a trusted key that does not verify
    c.hset(P + "manifest:o1", "sig", mallory.sign("something else"))
    p = push(redis, tmp_path, "o1", ["a.example"], k1, "--trusted", trust_file(tmp_path / "m.conf", [mallory]))
    assert p.returncode == 1 and f"its signature does not verify with key {mallory.id}" in p.stderr, p.stderr


def test_a_deleted_manifest_never_restarts_the_chain(redis, tmp_path, k1):
    """Review of issue 14, item 5: manifest:<id> deleted, the order exists: refused with and without a key."""
    c = redis.client()
    add_order(redis, "o1", k1)
    ok(push(redis, tmp_path, "o1", ["a.example"], k1))
    c.delete(P + "manifest:o1")
    n = c.xlen(P + "changes")
    p = push(redis, tmp_path, "o1", ["b.example"], k1)
    assert p.returncode == 3, p.stderr
    assert ("order 'o1' exists but has no manifest (manifest:o1): its signed versions are in the stream (the "
            "manifest was deleted?)") in p.stderr
    p = push(redis, tmp_path, "o1", ["b.example"])                      # without a key: a signed order
    assert p.returncode == 3 and "order o1 is signed: give --sign-key, or --unsigned" in p.stderr, p.stderr
    assert c.xlen(P + "changes") == n and not c.exists(P + "manifest:o1")
    # re-anchored explicitly: the chain continues from the last signed version in the stream (v3, not v1)
    ok(push(redis, tmp_path, "o1", ["b.example"], k1, "--resign-current-state"))
    v = check_chain(c, "o1", [k1])
    assert [h["version"] for h, _, _ in v] == ["1", "2", "3"]
    assert signed_entries(c, "o1")[-1][2]["override"] == "resign-current-state"
    # an order that exists and was never signed: signing it starts a chain only when told so
    add_order(redis, "plain")
    ok(push(redis, tmp_path, "plain", ["p.example"]))                   # no key, never signed: as before
    p = push(redis, tmp_path, "plain", ["q.example"], k1)
    assert p.returncode == 3 and "it was never signed (or its manifest was deleted)" in p.stderr, p.stderr
    ok(push(redis, tmp_path, "plain", ["q.example"], k1, "--resign-current-state"))
    head, _, _ = check_chain(c, "plain", [k1])[-1]
    assert head["version"] == "1" and head["names"].split()[0] == "2"


def test_a_signer_refuses_a_member_not_in_canonical_form(redis, tmp_path, k1):
    """Review of issue 14, item 7: resolvers digest the members they enforce (canonical, deduplicated):
    a signed order's sets hold canonical members only, else the signer refuses (exit 5, naming the member)."""
    c = redis.client()
    add_order(redis, "o1", k1)
    c.sadd(P + "order:o1:domains", "Evil.Example.")
    n = c.xlen(P + "changes")
    p = push(redis, tmp_path, "o1", ["a.example"], k1, "--resign-current-state")
    assert p.returncode == 5, p.stderr
    assert (f"order 'o1': {P}order:o1:domains holds 'Evil.Example.', not a domain name in canonical form "
            "('evil.example')") in p.stderr
    assert c.xlen(P + "changes") == n
    c.srem(P + "order:o1:domains", "Evil.Example.")
    c.sadd(P + "order:o1:ips", "10.1.2.3/8")
    p = push(redis, tmp_path, "o1", ["a.example"], k1, "--resign-current-state")
    assert p.returncode == 5 and "holds '10.1.2.3/8', not an address prefix in canonical form" \
        in p.stderr, p.stderr
    c.srem(P + "order:o1:ips", "10.1.2.3/8")
    c.sadd(P + "order:o1:ips", "bad\x01")
    p = push(redis, tmp_path, "o1", ["a.example"], k1, "--resign-current-state")
    assert p.returncode == 5 and "holds 'bad\\x01', not an address prefix in canonical form:" in p.stderr, p.stderr
    c.srem(P + "order:o1:ips", "bad\x01")
    ok(push(redis, tmp_path, "o1", ["a.example"], k1))


def test_a_signer_refuses_to_continue_from_a_manifest_of_its_own_key_that_does_not_verify(redis, tmp_path, k1):
    c = redis.client()
    add_order(redis, "o1", k1)
    c.hset(P + "manifest:o1", "sig", k1.sign("something else"))
    n = c.xlen(P + "changes")
    p = push(redis, tmp_path, "o1", ["a.example"], k1)
    assert p.returncode == 1 and "its signature does not verify with this key" in p.stderr
    assert c.xlen(P + "changes") == n


def test_export_json_carries_the_manifests_and_verify_reads_it(redis, tmp_path, k1):
    add_order(redis, "o1", k1)
    ok(push(redis, tmp_path, "o1", ["a.example", "b.example"], k1))
    ok(ctl(redis, "--sign-key", k1.path, "addip", "o1", "203.0.113.0/24"))
    out = tmp_path / "export.json"
    ok(ctl(redis, "export", "--json", "-o", out))
    d = json.loads(out.read_text())
    m = d["orders"][0]["manifest"]
    assert m["key"] == k1.id and m["text"] == redis.client().hget(P + "manifest:o1", "text")
    p = ok(verify(redis, "--key", k1.pub, "--from-export", out))
    assert "1 order verified, 0 failed (export: no chain check)" in p.stdout
    d["orders"][0]["domains"].append("evil.example")
    d["orders"][0]["scope"] = "*"
    out.write_text(json.dumps(d))
    p = verify(redis, "--key", k1.pub, "--from-export", out)
    assert p.returncode == 1 and failed(p) == {"o1": ["fields", "names"]}


# ---------------------------------------------------------------------------
# who signed: order show, receipts
# ---------------------------------------------------------------------------

def test_order_show_and_receipts_name_the_signer(redis, tmp_path, k1):
    add_order(redis, "o1", k1)
    ok(push(redis, tmp_path, "o1", ["a.example"], k1))
    ok(push(redis, tmp_path, "o1", ["u.example"], None, "--unsigned"))
    trusted = trust_file(tmp_path / "t.conf", [k1])
    p = ok(ctl(redis, "order", "show", "o1"))
    assert f"signed:      version 2 by {k1.id} at " in p.stdout
    p = ok(ctl(redis, "order", "show", "o1", "--trusted", trusted))
    assert f"version 2 by {k1.id} (AGCOM) at " in p.stdout and "(verified)" in p.stdout
    j = json.loads(ok(ctl(redis, "order", "show", "o1", "--json", "--trusted", trusted)).stdout)
    assert j["signature"]["version"] == 2 and j["signature"]["label"] == "AGCOM" and j["signature"]["verified"]
    add_order(redis, "plain")
    assert json.loads(ok(ctl(redis, "order", "show", "plain", "--json")).stdout)["signature"] is None
    assert "no (unsigned)" in ok(ctl(redis, "order", "show", "plain")).stdout
    p = ok(ctl(redis, "receipts", "o1", "--trusted", trusted))
    rows = {ln.split()[2]: ln for ln in p.stdout.splitlines() if ln.endswith(("(AGCOM)", "unsigned"))}
    assert rows["a.example"].endswith(f"v2 {k1.id} (AGCOM)") and rows["u.example"].endswith("unsigned")
    j = json.loads(ok(ctl(redis, "receipts", "o1", "--json")).stdout)
    sig = {it["domain"]: it["signed"] for it in j["items"]}
    assert sig["a.example"]["version"] == 2 and sig["a.example"]["key"] == k1.id and sig["u.example"] is None


# ---------------------------------------------------------------------------
# cost
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("n", [100_000, 1_000_000])
def test_cost_of_signing_a_push(redis, tmp_path, k1, n):
    names = [f"site{i}.pirate-{i % 997}.example" for i in range(n)]
    took = {}
    for signed in (False, True):
        oid = "s" if signed else "u"
        add_order(redis, oid, k1 if signed else None)
        t0 = time.monotonic()
        ok(push(redis, tmp_path, oid, names, k1 if signed else None))
        took[signed] = time.monotonic() - t0
    print(f"push of {n} names: unsigned {took[False]:.2f} s, signed {took[True]:.2f} s")
    c = redis.client()
    assert len(signed_entries(c, "s")) == 1 + n // 10000
    head, _, _ = parse(c.hget(P + "manifest:s", "text"))
    assert head["version"] == str(1 + n // 10000) and head["names"] == f"{n} {setdigest(names)}"
    assert took[True] < 3 * took[False] + 20
