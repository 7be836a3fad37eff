"""Signed orders for the integration tests (issue 14, doc/signing.md), written
independently of redsink-ctl from the contract: Ed25519 keys (key id, public
key text), the manifest text, the set digest, and a writer that puts one
signed version of an order into Redis the way the tools do (the change, its
stream entries, manifest:<id> and the op=signed entry in one MULTI/EXEC).

Nothing here reads the C code: a resolver that accepts what this module
signs agrees with the contract, not merely with itself.
"""

import base64
import hashlib
import time

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

import rs

FIELDS = ("authority", "reference", "issued", "expires", "scope", "action", "reason", "url", "lang", "windows")


class Key:
    """An authority's Ed25519 key (from a fixed seed: tests repeat)."""

    def __init__(self, seed, label):
        self.priv = ed25519.Ed25519PrivateKey.from_private_bytes(bytes([seed]) * 32)
        self.raw = self.priv.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        self.label = label
        self.id = hashlib.sha256(self.raw).hexdigest()[:16]
        self.text = "ed25519:" + base64.b64encode(self.raw).decode()

    def conf(self):
        """The value of a trusted-key: line."""
        return f"{self.label} {self.text}"

    def sign(self, text):
        return base64.b64encode(self.priv.sign(text.encode())).decode()


def sha256_hex(text):
    return hashlib.sha256(text.encode()).hexdigest()


def set_digest(members):
    """SHA-256 over the sorted SHA-256 of every member's canonical text."""
    hs = sorted({hashlib.sha256(m.encode()).digest() for m in members})  # a set: duplicates count once
    return len(hs), hashlib.sha256(b"".join(hs)).hexdigest()


def escape(value):
    out = []
    for ch in value:
        o = ord(ch)
        if ch == "\\":
            out.append("\\\\")
        elif ch == "\n":
            out.append("\\n")
        elif o < 0x20 or o == 0x7F:
            out.append("\\x%02x" % o)
        else:
            out.append(ch)
    return "".join(out)


def manifest(order, version, prev, keyid, fields, names, prefixes, delta, revoked=False, signed_at=None):
    """The canonical manifest text. delta: [(op, item)] with op in + - +ip -ip."""
    t = time.gmtime(signed_at if signed_at is not None else time.time())
    lines = ["redsink-manifest 1", f"order {order}", f"version {version}", f"prev {prev}", f"key {keyid}",
             "signed-at " + time.strftime("%Y-%m-%dT%H:%M:%SZ", t), "state " + ("revoked" if revoked else "active")]
    for f in FIELDS:
        v = fields.get(f, "")
        if v:
            lines.append(f"field {f} {escape(v)}")
    n, d = set_digest(names)
    lines.append(f"names {n} {d}")
    n, d = set_digest(prefixes)
    lines.append(f"prefixes {n} {d}")
    groups = {op: sorted(item for o, item in delta if o == op) for op in ("+", "-", "+ip", "-ip")}
    lines.append(f"delta {sum(len(g) for g in groups.values())}")
    for op in ("+", "-", "+ip", "-ip"):
        lines.extend(f"{op} {item}" for item in groups[op])
    return "\n".join(lines) + "\n"


DEFAULT_FIELDS = {"authority": "Tribunale di Milano", "reference": "RG 1234/2026", "scope": "*",
                  "action": "sinkhole", "reason": "Copyright infringement", "url": "https://orders.example.org/1",
                  "lang": "en"}


class SignedOrder:
    """One order's signed chain, as its authority keeps it: the version it
    signed last, that text's hash, the names and prefixes it holds."""

    def __init__(self, oid, **fields):
        self.id = oid
        self.fields = dict(DEFAULT_FIELDS, **fields)
        self.version = 0
        self.prev = "-"
        self.names = set()
        self.prefixes = set()
        self.history = []   # (text, sig, keyid) of every version

    def next(self, key, add=(), delete=(), addip=(), delip=(), revoked=False, **fields):
        """The next version's (text, sig, keyid), and the chain advanced."""
        self.fields.update(fields)
        self.names |= set(add)
        self.names -= set(delete)
        self.prefixes |= set(addip)
        self.prefixes -= set(delip)
        delta = [("+", d) for d in add] + [("-", d) for d in delete] + \
                [("+ip", p) for p in addip] + [("-ip", p) for p in delip]
        self.version += 1
        text = manifest(self.id, self.version, self.prev, key.id, self.fields, self.names, self.prefixes, delta,
                        revoked=revoked)
        self.prev = sha256_hex(text)
        signed = (text, key.sign(text), key.id)
        self.history.append(signed)
        return signed

    def push(self, r, key, add=(), delete=(), addip=(), delip=(), revoked=False, **fields):
        """Sign the next version and write it as the tools do: the order hash,
        `orders`, the sets and their stream entries (what unsigned readers
        apply), then manifest:<id> and the op=signed entry, in one
        MULTI/EXEC. Returns (text, sig, keyid)."""
        text, sig, keyid = self.next(key, add, delete, addip, delip, revoked, **fields)
        P = rs.PREFIX
        p = r.pipeline(transaction=True)
        if revoked:
            p.srem(P + "orders", self.id)
            p.xadd(P + "changes", {"op": "revoke", "order": self.id, "by": "test"})
        else:
            p.hset(P + f"order:{self.id}", mapping=self.fields)
            p.sadd(P + "orders", self.id)
            if self.version == 1 or fields:
                p.xadd(P + "changes", {"op": "order", "order": self.id, "by": "test"})
        for d in add:
            p.sadd(P + f"order:{self.id}:domains", d)
            p.xadd(P + "changes", {"op": "add", "order": self.id, "domain": d, "by": "test"})
        for d in delete:
            p.srem(P + f"order:{self.id}:domains", d)
            p.xadd(P + "changes", {"op": "del", "order": self.id, "domain": d, "by": "test"})
        for x in addip:
            p.sadd(P + f"order:{self.id}:ips", x)
            p.xadd(P + "changes", {"op": "addip", "order": self.id, "prefix": x, "by": "test"})
        for x in delip:
            p.srem(P + f"order:{self.id}:ips", x)
            p.xadd(P + "changes", {"op": "delip", "order": self.id, "prefix": x, "by": "test"})
        p.hset(P + f"manifest:{self.id}", mapping={"text": text, "sig": sig, "key": keyid})
        p.xadd(P + "changes", {"op": "signed", "order": self.id, "text": text, "sig": sig, "key": keyid})
        p.execute()
        return text, sig, keyid


def signed_entry(r, oid, text, sig, keyid):
    """An op=signed stream entry alone (a forgery or a replay)."""
    r.xadd(rs.PREFIX + "changes", {"op": "signed", "order": oid, "text": text, "sig": sig, "key": keyid})


PROTECTED_ID = "protected"


class SignedProtected:
    """The protected set's chain (doc/signing.md, "The signed protected set"):
    a manifest like an order's with `order protected`, no field line, the
    protected names and prefixes as its sets; stored as protected-manifest,
    each version an op=signed-protected entry."""

    def __init__(self):
        self.version = 0
        self.prev = "-"
        self.names = set()
        self.prefixes = set()
        self.history = []

    def next(self, key, add=(), delete=(), addip=(), delip=()):
        self.names |= set(add)
        self.names -= set(delete)
        self.prefixes |= set(addip)
        self.prefixes -= set(delip)
        delta = [("+", d) for d in add] + [("-", d) for d in delete] + \
                [("+ip", p) for p in addip] + [("-ip", p) for p in delip]
        self.version += 1
        text = manifest(PROTECTED_ID, self.version, self.prev, key.id, {}, self.names, self.prefixes, delta)
        self.prev = sha256_hex(text)
        signed = (text, key.sign(text), key.id)
        self.history.append(signed)
        return signed

    def push(self, r, key, add=(), delete=(), addip=(), delip=()):
        """Sign the next version and write it as redsink-ctl protect does: the
        sets, their protect/unprotect(ip) entries, protected-manifest and the
        op=signed-protected entry, in one MULTI/EXEC."""
        text, sig, keyid = self.next(key, add, delete, addip, delip)
        P = rs.PREFIX
        p = r.pipeline(transaction=True)
        for d in add:
            p.sadd(P + "protected", d)
            p.xadd(P + "changes", {"op": "protect", "domain": d, "by": "test"})
        for d in delete:
            p.srem(P + "protected", d)
            p.xadd(P + "changes", {"op": "unprotect", "domain": d, "by": "test"})
        for x in addip:
            p.sadd(P + "protected-ips", x)
            p.xadd(P + "changes", {"op": "protectip", "prefix": x, "by": "test"})
        for x in delip:
            p.srem(P + "protected-ips", x)
            p.xadd(P + "changes", {"op": "unprotectip", "prefix": x, "by": "test"})
        p.hset(P + "protected-manifest", mapping={"text": text, "sig": sig, "key": keyid})
        p.xadd(P + "changes", {"op": "signed-protected", "text": text, "sig": sig, "key": keyid})
        p.execute()
        return text, sig, keyid


def signed_protected_entry(r, text, sig, keyid):
    """An op=signed-protected stream entry alone (a forgery or a replay)."""
    r.xadd(rs.PREFIX + "changes", {"op": "signed-protected", "text": text, "sig": sig, "key": keyid})
