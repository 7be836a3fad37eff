"""Signed orders (issue 14, doc/signing.md): with require-signatures: yes a
resolver enforces only what an authority it trusts signed.

Real Redis, NSD and Unbound with the module. Orders are signed here
(tests/integration/signing.py, from the contract, not from redsink-ctl) and
tampered with behind the authority's back the way anyone who can write to
Redis could: each tampering is refused and alarmed (log, heartbeat) while
every other order stays enforced. A second order, `ctl-o2`, is the barrier:
a signed change to it that is enforced proves the resolver has read
everything written before it.
"""

import time

import pytest

import harness
import rs
import signing

A = signing.Key(1, "AGCOM")           # trusted
B = signing.Key(2, "AGCOM-2027")      # trusted: the rotation's new key
C = signing.Key(3, "OLD")             # trusted but revoked
D = signing.Key(4, "MALLORY")         # unknown

HB = rs.PREFIX + "resolver:test-resolver"
NAME = "a{}.wild.example"             # *.wild.example resolves to 198.51.100.70
REAL = "198.51.100.70"


def signed_conf(**over):
    c = {"require_signatures": "yes", "trusted_key": [A.conf(), B.conf(), C.conf()], "revoked_key": C.id}
    c.update(over)
    return c


def blocked(ub, name):
    return rs.first_a(ub, name) == rs.SINK4


class Barrier:
    """Signed changes to a second order: once one is enforced, everything
    written before it was read."""

    def __init__(self, r, ub=None):
        self.r = r
        self.ub = ub
        self.o = signing.SignedOrder("o2")
        self.n = 0
        self.o.push(r, A, add=["b0.wild.example"])

    def __call__(self, timeout=10):
        self.n += 1
        name = f"b{self.n}.wild.example"
        self.o.push(self.r, A, add=[name])
        rs.wait_for(lambda: blocked(self.ub, name), True, timeout=timeout)
        assert blocked(self.ub, "b0.wild.example")  # the other order stays enforced


def heartbeat(r, pred, timeout=15):
    deadline = time.monotonic() + timeout
    hb = {}
    while time.monotonic() < deadline:
        hb = r.hgetall(HB)
        if hb and pred(hb):
            return hb
        time.sleep(0.2)
    raise AssertionError(f"heartbeat never matched: {hb}")


def log_has(ub, *texts):
    log = ub.log() + ub.stderr()
    return all(t in log for t in texts)


def wait_log(ub, *texts, timeout=10):
    rs.wait_for(lambda: log_has(ub, *texts), True, timeout=timeout, step=0.1)


def test_signed_push_enforced_and_tampering_refused(redis, make_unbound, tmp_path):
    r = redis.client()
    o1 = signing.SignedOrder("o1")
    o1.push(r, A, add=[NAME.format(1), NAME.format(2)])
    barrier = Barrier(r)
    ub = rs.start_resolver(make_unbound, redis, tmp_path, signed_conf())
    barrier.ub = ub
    assert blocked(ub, NAME.format(1)) and blocked(ub, "www." + NAME.format(2))
    assert blocked(ub, "b0.wild.example")
    assert rs.first_a(ub, NAME.format(9)) == REAL

    # a name added with redis-cli behind the tool's back: not blocked
    p = r.pipeline(transaction=True)
    p.sadd(rs.PREFIX + "order:o1:domains", "evil.wild.example")
    p.xadd(rs.PREFIX + "changes", {"op": "add", "order": "o1", "domain": "evil.wild.example"})
    p.execute()
    # a name removed: still blocked
    p = r.pipeline(transaction=True)
    p.srem(rs.PREFIX + "order:o1:domains", NAME.format(1))
    p.xadd(rs.PREFIX + "changes", {"op": "del", "order": "o1", "domain": NAME.format(1)})
    p.execute()
    # order fields edited (action, scope, expiry): the signed values stay in force
    p = r.pipeline(transaction=True)
    p.hset(rs.PREFIX + "order:o1", mapping={"action": "nxdomain", "scope": "XX", "expires": "2001-01-01"})
    p.xadd(rs.PREFIX + "changes", {"op": "order", "order": "o1"})
    p.execute()
    barrier()
    assert rs.first_a(ub, "evil.wild.example") == REAL
    assert blocked(ub, NAME.format(1))                      # sinkhole, in scope, not expired
    assert blocked(ub, NAME.format(2))
    hb = heartbeat(r, lambda h: "signature_alarm" in h)
    assert hb["malformed_skipped"] == "0"                   # skipped, not malformed
    assert hb["signature_failures"] == "0"                  # the unsigned entries themselves raise nothing

    # a forged op=signed entry: the next version in A's name, not signed by A
    forged_o = signing.SignedOrder("o1")
    forged_o.version, forged_o.prev, forged_o.names = o1.version, o1.prev, set(o1.names)
    text, _, _ = forged_o.next(A, add=["forged.wild.example"])
    signing.signed_entry(r, "o1", text, D.sign(text), A.id)
    # the same change signed by an unknown key, and by a revoked one
    for key in (D, C):
        forged_o.version, forged_o.prev = o1.version, o1.prev
        text, sig, keyid = forged_o.next(key, add=["forged.wild.example"])
        signing.signed_entry(r, "o1", text, sig, keyid)
    barrier()
    assert rs.first_a(ub, "forged.wild.example") == REAL
    wait_log(ub, "order 'o1': bad-signature", "order 'o1': unknown-key", "order 'o1': revoked-key")

    # the authority's next version: enforced (its delta only: the tampered set is not trusted)
    o1.push(r, A, add=[NAME.format(3)])
    rs.wait_for(lambda: blocked(ub, NAME.format(3)), True, timeout=10)
    assert rs.first_a(ub, "evil.wild.example") == REAL and blocked(ub, NAME.format(1))

    # an old signed manifest replayed (version <= verified): refused
    text, sig, keyid = o1.history[0]
    signing.signed_entry(r, "o1", text, sig, keyid)
    barrier()
    wait_log(ub, "order 'o1': replayed")
    assert blocked(ub, NAME.format(3))

    hb = heartbeat(r, lambda h: int(h.get("signature_failures", "0")) >= 4)
    assert int(hb["signature_alarm"]) >= 1
    assert hb["malformed_skipped"] == "0"
    assert blocked(ub, "b0.wild.example")


def test_key_rotation(redis, make_unbound, tmp_path):
    r = redis.client()
    o1 = signing.SignedOrder("o1")
    o1.push(r, A, add=[NAME.format(1)])
    ub = rs.start_resolver(make_unbound, redis, tmp_path, signed_conf())
    assert blocked(ub, NAME.format(1))
    # the chain continues with the second key
    o1.push(r, B, add=[NAME.format(2)])
    rs.wait_for(lambda: blocked(ub, NAME.format(2)), True, timeout=10)
    o1.push(r, B, delete=[NAME.format(1)], action="nxdomain")
    rs.wait_for(lambda: rs.first_a(ub, NAME.format(1)), REAL, timeout=10)
    rs.wait_for(lambda: rs.first_a(ub, NAME.format(2)), "NXDOMAIN", timeout=10)
    hb = heartbeat(r, lambda h: "signature_alarm" in h)
    assert hb["signature_alarm"] == "0" and hb["signature_failures"] == "0"
    # withdrawn by a signed revocation
    o1.push(r, B, revoked=True)
    rs.wait_for(lambda: rs.first_a(ub, NAME.format(2)), REAL, timeout=10)


def test_full_load_verifies(redis, make_unbound, tmp_path):
    """At start: an order whose stored sets or manifest do not verify is not
    enforced (alarm); orders without a manifest neither; the others are."""
    r = redis.client()
    good = signing.SignedOrder("good")
    good.push(r, A, add=[NAME.format(1)])
    tampered = signing.SignedOrder("tampered")
    tampered.push(r, A, add=[NAME.format(2)])
    r.sadd(rs.PREFIX + "order:tampered:domains", "evil.wild.example")
    rs.put_order(r, "unsigned", [NAME.format(3)])
    ub = rs.start_resolver(make_unbound, redis, tmp_path, signed_conf())
    assert blocked(ub, NAME.format(1))
    assert rs.first_a(ub, NAME.format(2)) == REAL
    assert rs.first_a(ub, "evil.wild.example") == REAL
    assert rs.first_a(ub, NAME.format(3)) == REAL
    wait_log(ub, "order 'tampered': digest", "order 'unsigned': unsigned")
    hb = heartbeat(r, lambda h: h.get("signature_alarm") == "2")
    assert int(hb["signature_failures"]) >= 2
    # redsink-ctl status shows it, per resolver
    from test_ctl import ctl
    st = ctl(redis, "status")
    assert "SIGNATURE ALARM: resolver test-resolver: 2 orders held at an older verified version or not enforced" \
        in st.stdout, st.stdout + st.stderr


def test_restart_with_redis_rolled_back(redis, make_unbound, tmp_path):
    """The snapshot keeps each order's verified manifest: a restart against a
    Redis restored to an older signed version refuses it, keeps the
    snapshot's verified state, and alarms."""
    r = redis.client()
    snap = tmp_path / "redsink.snap"
    conf = signed_conf(snapshot_file=str(snap))
    o1 = signing.SignedOrder("o1")
    o1.push(r, A, add=[NAME.format(1)])
    old = {k: r.dump(k) for k in (rs.PREFIX + "manifest:o1", rs.PREFIX + "order:o1:domains", rs.PREFIX + "order:o1")}
    o1.push(r, A, add=[NAME.format(2)])
    ub = rs.start_resolver(make_unbound, redis, tmp_path, conf)
    assert blocked(ub, NAME.format(1)) and blocked(ub, NAME.format(2))
    ub.stop()                                              # writes the snapshot
    assert snap.exists()
    for k, v in old.items():                               # Redis rolled back to version 1
        r.restore(k, 0, v, replace=True)
    ub = rs.start_resolver(make_unbound, redis, tmp_path, conf)
    wait_log(ub, "order 'o1': replayed")
    assert blocked(ub, NAME.format(2))                     # the snapshot's verified version 2 wins
    hb = heartbeat(r, lambda h: h.get("signature_alarm") == "1")
    assert int(hb["signature_failures"]) >= 1
    # the authority's next version (3, chained on 2) is enforced again
    r.delete(rs.PREFIX + "order:o1:domains")
    r.sadd(rs.PREFIX + "order:o1:domains", NAME.format(1), NAME.format(2))
    o1.push(r, A, add=[NAME.format(4)])
    rs.wait_for(lambda: blocked(ub, NAME.format(4)), True, timeout=10)
    heartbeat(r, lambda h: h.get("signature_alarm") == "0")


def test_unsigned_mode_ignores_signed_entries(redis, make_unbound, tmp_path):
    r = redis.client()
    o1 = signing.SignedOrder("o1")
    o1.push(r, A, add=[NAME.format(1)])
    ub = rs.start_resolver(make_unbound, redis, tmp_path)
    assert blocked(ub, NAME.format(1))
    o1.push(r, A, add=[NAME.format(2)])
    rs.wait_for(lambda: blocked(ub, NAME.format(2)), True, timeout=10)
    # unsigned mode applies the plain entries, whatever is signed or not
    rs.add_domains(r, "o1", ["evil.wild.example"])
    rs.wait_for(lambda: blocked(ub, "evil.wild.example"), True, timeout=10)
    hb = heartbeat(r, lambda h: h.get("last_id") == r.xrevrange(rs.PREFIX + "changes", count=1)[0][0])
    assert hb["malformed_skipped"] == "0"
    assert hb["signature_alarm"] == "0"
    assert not log_has(ub, "skipping malformed change")


def test_end_to_end_with_redsink_ctl(redis, make_unbound, tmp_path):
    """redsink-ctl --sign-key signs what it writes; the resolver enforces it,
    and refuses what the tool writes --unsigned."""
    import json
    from test_ctl import ctl, ok, push
    key = tmp_path / "agcom.pem"
    gen = json.loads(ok(ctl(redis, "key", "generate", "--out", key, "--label", "AGCOM", "--json")).stdout)
    env = {"REDSINK_SIGN_KEY": str(key)}
    ok(ctl(redis, "order", "add", "o1", "--authority", "Tribunale di Milano", "--reference", "RG 1/2026",
           "--scope", "*", "--action", "sinkhole", env=env))
    ok(push(redis, "o1", [NAME.format(1)], env=env))
    conf = {"require_signatures": "yes", "trusted_key": f"AGCOM {gen['public_key']}"}
    ub = rs.start_resolver(make_unbound, redis, tmp_path, conf)
    assert blocked(ub, NAME.format(1))
    ok(push(redis, "o1", [NAME.format(2)], env=env))
    rs.wait_for(lambda: blocked(ub, NAME.format(2)), True, timeout=10)
    # written without the key: the manifest stays at its last version, the resolver ignores it
    ok(push(redis, "o1", ["evil.wild.example"], "--unsigned"))
    # the next signed change refuses to sign a state it did not sign (exit 3)
    # unless told to sign the current state explicitly
    p = push(redis, "o1", [NAME.format(3)], env=env)
    assert p.returncode == 3, p.stdout + p.stderr
    assert rs.first_a(ub, "evil.wild.example") == REAL
    ok(push(redis, "o1", [NAME.format(3)], "--resign-current-state", env=env))
    rs.wait_for(lambda: blocked(ub, NAME.format(3)), True, timeout=10)
    hb = heartbeat(redis.client(), lambda h: "signature_alarm" in h)
    assert hb["malformed_skipped"] == "0"


def test_snapshot_unsigned_order_not_enforced(redis, make_unbound, tmp_path):
    """A snapshot written in unsigned mode holds an order without a manifest:
    a resolver started in signed mode from it does not enforce that order,
    even while Redis is down (review item 3); the signed one it keeps."""
    r = redis.client()
    snap = tmp_path / "redsink.snap"
    rs.put_order(r, "plain", [NAME.format(1)])
    ub = rs.start_resolver(make_unbound, redis, tmp_path, {"snapshot_file": str(snap)})
    assert blocked(ub, NAME.format(1))
    ub.stop()                                              # writes the snapshot
    assert snap.exists()
    redis.stop()                                           # only the snapshot is read
    try:
        ub = rs.start_resolver(make_unbound, redis, tmp_path, signed_conf(snapshot_file=str(snap)))
        assert rs.first_a(ub, NAME.format(1)) == REAL
        assert log_has(ub, "order 'plain' has no verified manifest")
    finally:
        redis.start()


def test_revoked_key_not_enforced_after_restart(redis, make_unbound, tmp_path):
    """An order signed by a key that is then revoked in redsink.conf is not
    enforced after a restart, even with its keys deleted from Redis (nothing
    there to refuse: the snapshot's verified state itself is checked against
    the current keys; review items 2 and 6)."""
    r = redis.client()
    snap = tmp_path / "redsink.snap"
    o1 = signing.SignedOrder("o1")
    o1.push(r, B, add=[NAME.format(1)])
    good = signing.SignedOrder("good")
    good.push(r, A, add=[NAME.format(2)])
    ub = rs.start_resolver(make_unbound, redis, tmp_path, signed_conf(snapshot_file=str(snap)))
    assert blocked(ub, NAME.format(1)) and blocked(ub, NAME.format(2))
    ub.stop()                                              # writes the snapshot
    assert snap.exists()
    P = rs.PREFIX
    r.srem(P + "orders", "o1")
    r.delete(P + "order:o1", P + "order:o1:domains", P + "manifest:o1")
    conf = signed_conf(snapshot_file=str(snap), revoked_key=[C.id, B.id])
    ub = rs.start_resolver(make_unbound, redis, tmp_path, conf)
    barrier = Barrier(r, ub)
    barrier()                                              # the first full load ran
    assert rs.first_a(ub, NAME.format(1)) == REAL
    assert blocked(ub, NAME.format(2))
    wait_log(ub, "order 'o1'", "revoked-key")


def test_full_load_digests_every_member(redis, make_unbound, tmp_path):
    """The set digest covers every member Redis holds, also one the list
    stores once under its canonical form (review item 7): a signed set
    holding 'Dup.wild.example' and 'dup.wild.example' verifies."""
    r = redis.client()
    o1 = signing.SignedOrder("o1")
    o1.names = {"Dup.wild.example"}            # signed as Redis will hold it
    o1.push(r, A, add=["dup.wild.example"])
    r.sadd(rs.PREFIX + "order:o1:domains", "Dup.wild.example")
    ub = rs.start_resolver(make_unbound, redis, tmp_path, signed_conf())
    assert blocked(ub, "dup.wild.example")
    assert not log_has(ub, "order 'o1': digest")


# ---- the signed protected set (doc/signing.md, "The signed protected set") ----

P = signing.Key(5, "ISP")             # protect-key: signs the protected set only


def prot_conf(**over):
    return signed_conf(protect_key=P.conf(), **over)


def test_protected_set_tampering_refused_signed_changes_apply(redis, make_unbound, tmp_path):
    """Protection behind the tool's back (SADD protected + its stream entry, a
    forged or replayed op=signed-protected entry, one signed by an order
    authority's key) never unblocks a signed order; alarm. The protect-key's
    signed changes apply, in chain order."""
    r = redis.client()
    o1 = signing.SignedOrder("o1")
    o1.push(r, A, add=[NAME.format(i) for i in range(1, 5)])
    prot = signing.SignedProtected()
    prot.push(r, P, add=[NAME.format(4)])
    barrier = Barrier(r)
    ub = rs.start_resolver(make_unbound, redis, tmp_path, prot_conf())
    barrier.ub = ub
    assert blocked(ub, NAME.format(1))
    assert rs.first_a(ub, NAME.format(4)) == REAL            # protected by the signed set

    # redis-cli: the set and its stream entry, as the unsigned tool writes them
    p = r.pipeline(transaction=True)
    p.sadd(rs.PREFIX + "protected", NAME.format(1))
    p.xadd(rs.PREFIX + "changes", {"op": "protect", "domain": NAME.format(1)})
    p.execute()
    # a forged next version (protect-key's id, another key's signature), one by
    # an unknown key, one by an order authority's key (trusted, not for this)
    forged = signing.SignedProtected()
    forged.version, forged.prev, forged.names = prot.version, prot.prev, set(prot.names)
    text, _, _ = forged.next(P, add=[NAME.format(1)])
    signing.signed_protected_entry(r, text, D.sign(text), P.id)
    for key in (D, A):
        forged.version, forged.prev, forged.names = prot.version, prot.prev, set(prot.names)
        signing.signed_protected_entry(r, *forged.next(key, add=[NAME.format(1)]))
    barrier()
    assert blocked(ub, NAME.format(1))
    wait_log(ub, "the protected set: bad-signature", "the protected set: unknown-key")
    hb = heartbeat(r, lambda h: int(h.get("signature_failures", "0")) >= 3)
    assert hb["malformed_skipped"] == "0"

    # the protect-key's next version: applies (its delta only: the tampered member is not trusted)
    r.srem(rs.PREFIX + "protected", NAME.format(1))
    prot.push(r, P, add=[NAME.format(2)])
    rs.wait_for(lambda: rs.first_a(ub, NAME.format(2)), REAL, timeout=10)
    assert blocked(ub, NAME.format(1))
    # ... and an unprotection: blocked again
    prot.push(r, P, delete=[NAME.format(4)])
    rs.wait_for(lambda: blocked(ub, NAME.format(4)), True, timeout=10)
    # an old version replayed: refused, the verified protection stays
    signing.signed_protected_entry(r, *prot.history[0])
    barrier()
    wait_log(ub, "the protected set: replayed")
    assert blocked(ub, NAME.format(4)) and rs.first_a(ub, NAME.format(2)) == REAL
    assert blocked(ub, "b0.wild.example")


def test_protected_set_full_load_verifies(redis, make_unbound, tmp_path):
    """At start: a protected set whose stored sets do not match its signed
    manifest protects nothing (no verified state yet) and alarms; a verified
    one protects; an unsigned one (no manifest) protects nothing."""
    r = redis.client()
    o1 = signing.SignedOrder("o1")
    o1.push(r, A, add=[NAME.format(1), NAME.format(2)])
    prot = signing.SignedProtected()
    prot.push(r, P, add=[NAME.format(2)])
    ub = rs.start_resolver(make_unbound, redis, tmp_path, prot_conf())
    assert rs.first_a(ub, NAME.format(2)) == REAL            # verified: protected
    hb = heartbeat(r, lambda h: "signature_alarm" in h)
    assert hb["signature_alarm"] == "0"
    ub.stop()

    r.sadd(rs.PREFIX + "protected", NAME.format(1))           # behind the tool's back
    r.sadd(rs.PREFIX + "protected-ips", "198.51.100.0/24")
    ub = rs.start_resolver(make_unbound, redis, tmp_path, prot_conf())
    assert blocked(ub, NAME.format(1)) and blocked(ub, NAME.format(2))
    wait_log(ub, "the protected set: digest")
    heartbeat(r, lambda h: h.get("signature_alarm") == "1")
    ub.stop()

    r.delete(rs.PREFIX + "protected-manifest", rs.PREFIX + "protected-ips")   # unsigned
    ub = rs.start_resolver(make_unbound, redis, tmp_path, prot_conf())
    assert blocked(ub, NAME.format(1)) and blocked(ub, NAME.format(2))
    wait_log(ub, "the protected set: unsigned")
    ub.stop()

    # a trusted-key that is not a protect-key: its protected set is not trusted
    r.delete(rs.PREFIX + "protected")
    prot = signing.SignedProtected()
    prot.push(r, A, add=[NAME.format(2)])
    ub = rs.start_resolver(make_unbound, redis, tmp_path, prot_conf())
    assert blocked(ub, NAME.format(2))
    wait_log(ub, "the protected set: unknown-key")


def test_protected_state_survives_restart(redis, make_unbound, tmp_path):
    """The snapshot keeps the verified protected set (its manifest, format
    version 6), checked again at start: a restart against a Redis rolled back
    to an older protected version, or with a tampered protected set, refuses
    it, keeps the verified protection and alarms (issue 14 follow-up 3). The
    first load hands its verified state to the sync thread: the next signed
    change applies without reloading the set."""
    r = redis.client()
    P_ = rs.PREFIX
    snap = tmp_path / "redsink.snap"
    conf = prot_conf(snapshot_file=str(snap))
    o1 = signing.SignedOrder("o1")
    o1.push(r, A, add=[NAME.format(i) for i in range(1, 5)])
    prot = signing.SignedProtected()
    prot.push(r, P, add=[NAME.format(3)])
    v1 = {k: r.dump(P_ + k) for k in ("protected-manifest", "protected")}
    ub = rs.start_resolver(make_unbound, redis, tmp_path, conf)
    assert rs.first_a(ub, NAME.format(3)) == REAL and blocked(ub, NAME.format(4))
    prot.push(r, P, add=[NAME.format(4)])                       # version 2, live
    rs.wait_for(lambda: rs.first_a(ub, NAME.format(4)), REAL, timeout=10)
    assert not log_has(ub, "reloading it")                      # the first load's state was handed over
    ub.stop()                                                   # writes the snapshot (version 2 verified)
    assert snap.exists()

    for k, v in v1.items():                                     # Redis rolled back to version 1
        r.restore(P_ + k, 0, v, replace=True)
    ub = rs.start_resolver(make_unbound, redis, tmp_path, conf)
    barrier = Barrier(r, ub)
    barrier()                                                   # the first full load ran
    wait_log(ub, "the protected set: replayed")
    assert rs.first_a(ub, NAME.format(4)) == REAL               # version 2's protection stays
    assert rs.first_a(ub, NAME.format(3)) == REAL
    heartbeat(r, lambda h: h.get("signature_alarm") == "1")
    ub.stop()

    # version 2's manifest again, but its set tampered with behind the tool's back
    r.hset(P_ + "protected-manifest", mapping=dict(zip(("text", "sig", "key"), prot.history[1])))
    r.delete(P_ + "protected")
    r.sadd(P_ + "protected", NAME.format(1), NAME.format(3))
    ub = rs.start_resolver(make_unbound, redis, tmp_path, conf)
    barrier.ub = ub
    barrier()
    wait_log(ub, "the protected set: digest")
    assert blocked(ub, NAME.format(1))                          # never verified: not protected
    assert rs.first_a(ub, NAME.format(4)) == REAL               # the verified protection stays
    heartbeat(r, lambda h: h.get("signature_alarm") == "1")


def test_protected_set_unsigned_mode_unchanged(redis, make_unbound, tmp_path):
    """Unsigned mode: the protected set works as before, signed or not, and
    op=signed-protected entries are ignored (not malformed)."""
    r = redis.client()
    rs.put_order(r, "plain", [NAME.format(1), NAME.format(2)])
    prot = signing.SignedProtected()
    prot.push(r, P, add=[NAME.format(1)])
    ub = rs.start_resolver(make_unbound, redis, tmp_path)
    assert rs.first_a(ub, NAME.format(1)) == REAL
    prot.push(r, P, add=[NAME.format(2)])
    rs.wait_for(lambda: rs.first_a(ub, NAME.format(2)), REAL, timeout=10)
    hb = heartbeat(r, lambda h: h.get("last_id") == r.xrevrange(rs.PREFIX + "changes", count=1)[0][0])
    assert hb["malformed_skipped"] == "0"
    assert not log_has(ub, "skipping malformed change")


def test_protected_set_with_redsink_ctl(redis, make_unbound, tmp_path):
    """redsink-ctl protect / protect-ip sign the protected set with the key
    (trusted-key and protect-key of one authority); a change written
    --unsigned is not applied by a signed resolver, and the tool refuses to
    sign over it afterwards; redsink-ctl verify checks the protected set."""
    import json
    from test_ctl import ctl, ok, push
    key = tmp_path / "isp.pem"
    gen = json.loads(ok(ctl(redis, "key", "generate", "--out", key, "--label", "ISP", "--json")).stdout)
    env = {"REDSINK_SIGN_KEY": str(key)}
    ok(ctl(redis, "order", "add", "o1", "--authority", "Tribunale di Milano", "--reference", "RG 1/2026",
           "--scope", "*", "--action", "sinkhole", env=env))
    ok(push(redis, "o1", [NAME.format(i) for i in range(1, 4)], env=env))
    ok(ctl(redis, "protect", "add", NAME.format(1), "--why", "ours", env=env))
    ok(ctl(redis, "protect-ip", "203.0.113.0/24", "--why", "CDN", env=env))
    trusted = tmp_path / "trusted.conf"
    trusted.write_text(f"trusted-key: ISP {gen['public_key']}\nprotect-key: ISP {gen['public_key']}\n")
    v = ctl(redis, "verify", "--trusted", trusted, "--json")
    assert v.returncode == 0, v.stdout + v.stderr
    rep = json.loads(v.stdout)
    prot = [o for o in rep["orders"] if o["order"] == "(protected set)"]
    assert prot and prot[0]["ok"] and prot[0]["version"] == 2 and prot[0]["chain_entries"] == 2, rep
    conf = {"require_signatures": "yes", "trusted_key": f"ISP {gen['public_key']}",
            "protect_key": f"ISP {gen['public_key']}"}
    ub = rs.start_resolver(make_unbound, redis, tmp_path, conf)
    assert rs.first_a(ub, NAME.format(1)) == REAL and blocked(ub, NAME.format(2))
    ok(ctl(redis, "protect", "add", NAME.format(2), "--why", "ours", env=env))
    rs.wait_for(lambda: rs.first_a(ub, NAME.format(2)), REAL, timeout=10)

    # without the key: refused (3) unless --unsigned, which resolvers ignore
    p = ctl(redis, "protect", "add", NAME.format(3), "--why", "x")
    assert p.returncode == 3, p.stdout + p.stderr
    ok(ctl(redis, "protect", "add", NAME.format(3), "--why", "x", "--unsigned"))
    p = ctl(redis, "verify", "--trusted", trusted)
    assert p.returncode == 1 and "FAILED  (protected set): names:" in p.stdout, p.stdout + p.stderr
    # the next signed change refuses to sign a set it did not sign (3)
    p = ctl(redis, "protect", "remove", NAME.format(2), "--why", "x", env=env)
    assert p.returncode == 3 and "the protected set" in p.stderr, p.stdout + p.stderr
    hb = heartbeat(redis.client(), lambda h: h.get("last_id") == redis.client().xrevrange(
        rs.PREFIX + "changes", count=1)[0][0])
    assert hb["malformed_skipped"] == "0"
    assert blocked(ub, NAME.format(3))
    # a protect-ip without the key: refused the same way
    p = ctl(redis, "protect-ip", "198.18.0.0/24", "--why", "x")
    assert p.returncode == 3, p.stdout + p.stderr


# ---- who signed: the structured error and the warning page ----

def test_ede_text_names_the_signing_authority(redis, make_unbound, tmp_path):
    """ede-text (and txt-text) may name who signed the verified version:
    {signer} (the trusted-key's label) and {signer_key} (its key id); empty
    in unsigned mode. The text is still fitted to the client's buffer."""
    r = redis.client()
    o1 = signing.SignedOrder("o1")
    o1.push(r, A, add=[NAME.format(1)])
    conf = signed_conf(ede_format="text", txt_text="{reference} signed by {signer}",
                       ede_text="Blocked by order {reference} of {authority}, signed by {signer} ({signer_key})")
    ub = rs.start_resolver(make_unbound, redis, tmp_path, conf)
    resp = ub.query(NAME.format(1), "A")
    assert rs.ede(resp) == (16, f"Blocked by order RG 1234/2026 of Tribunale di Milano, signed by AGCOM ({A.id})")
    txt = ub.query(NAME.format(1), "TXT")
    assert "RG 1234/2026 signed by AGCOM" in rs.rrs(txt)[0][3]
    # the rotation's key: its own label, once the new version is verified
    o1.push(r, B, add=[NAME.format(2)])
    rs.wait_for(lambda: blocked(ub, NAME.format(2)), True, timeout=10)
    rs.wait_for(lambda: rs.ede(ub.query(NAME.format(2), "A"))[1].endswith(f"signed by AGCOM-2027 ({B.id})"), True,
                timeout=10)
    ub.stop()
    # unsigned mode: empty
    ub = rs.start_resolver(make_unbound, redis, tmp_path, {"ede_format": "text", "ede_text": "{reference}|{signer}|{signer_key}|"})
    assert rs.ede(ub.query(NAME.format(1), "A")) == (16, "RG 1234/2026|||")


def test_signer_named_after_restart_from_snapshot(redis, make_unbound, tmp_path):
    """An order loaded from the snapshot (Redis down at the start) keeps
    {signer} / {signer_key} in its TXT and EDE texts: the label of the key
    that verified the snapshot's manifest (issue 14 follow-up 1)."""
    r = redis.client()
    snap = tmp_path / "redsink.snap"
    o1 = signing.SignedOrder("o1")
    o1.push(r, A, add=[NAME.format(1)])
    conf = signed_conf(snapshot_file=str(snap), ede_format="text", txt_text="{reference} signed by {signer}",
                       ede_text="{reference}|{signer}|{signer_key}|")
    ub = rs.start_resolver(make_unbound, redis, tmp_path, conf)
    assert rs.ede(ub.query(NAME.format(1), "A")) == (16, f"RG 1234/2026|AGCOM|{A.id}|")
    ub.stop()                                              # writes the snapshot
    assert snap.exists()
    redis.stop()                                           # only the snapshot is read
    try:
        ub = rs.start_resolver(make_unbound, redis, tmp_path, conf)
        assert blocked(ub, NAME.format(1))
        assert rs.ede(ub.query(NAME.format(1), "A")) == (16, f"RG 1234/2026|AGCOM|{A.id}|")
        assert "RG 1234/2026 signed by AGCOM" in rs.rrs(ub.query(NAME.format(1), "TXT"))[0][3]
    finally:
        redis.start()


def test_warning_page_names_the_signing_authority(redis, make_warnd, tmp_path):
    """redsink-warnd --trusted FILE runs signed: the page of a verified order
    names who signed it; an unsigned order gets no page (neutral); without
    --trusted nothing about signatures is shown."""
    import subprocess
    from test_warnd import get, warnd_binary
    r = redis.client()
    o1 = signing.SignedOrder("o1")
    o1.push(r, A, add=["pirate.example"])
    rs.put_order(r, "plain", ["unsigned.example"])
    trusted = tmp_path / "trusted.conf"
    trusted.write_text(f"trusted-key: {A.conf()}\ntrusted-key: {B.conf()}\nrevoked-key: {C.id}\n")
    w = make_warnd(redis, args=["--trusted", str(trusted)])
    st, _, body = get(w.port, "pirate.example")
    assert st == 451, body
    assert "Signed by" in body and "AGCOM" in body and A.id in body
    st, _, body = get(w.port, "unsigned.example")
    assert st == 404, body                                   # not verified: no order page
    w2 = make_warnd(redis)
    st, _, body = get(w2.port, "pirate.example")
    assert st == 451 and "Signed by" not in body and A.id not in body
    st, _, body = get(w2.port, "unsigned.example")
    assert st == 451
    # a --trusted file that is not one: refused at start, naming the file
    bad = tmp_path / "bad.conf"
    bad.write_text("trusted-key: AGCOM ed25519:AAAA\n")
    p = subprocess.run([warnd_binary(), "--trusted", str(bad), "--redis", redis.url, "--listen", "127.0.0.1:1",
                        "--templates", str(harness.REPO_ROOT / "tools" / "warnd" / "templates")],
                       capture_output=True, text=True, timeout=30)
    assert p.returncode != 0 and "--trusted" in p.stderr and "bad.conf" in p.stderr, p.stderr


from test_warnd import make_warnd  # noqa: E402,F401  (the fixture)


def test_ctl_refuses_to_sign_an_unsigned_protected_set(redis, tmp_path):
    """A protected set that holds names but was never signed is signed only
    with --resign-current-state (recorded), as an order without a manifest."""
    import json
    from test_ctl import ctl, ok
    key = tmp_path / "isp.pem"
    ok(ctl(redis, "key", "generate", "--out", key, "--label", "ISP"))
    env = {"REDSINK_SIGN_KEY": str(key)}
    rs.protect(redis.client(), "old.example")               # from before signing (or behind its back)
    p = ctl(redis, "protect", "add", "new.example", env=env)
    assert p.returncode == 3 and "never signed" in p.stderr, p.stdout + p.stderr
    assert not redis.client().exists(rs.PREFIX + "protected-manifest")
    ok(ctl(redis, "protect", "add", "new.example", "--resign-current-state", env=env))
    text = redis.client().hget(rs.PREFIX + "protected-manifest", "text")
    text = text.decode() if isinstance(text, bytes) else text
    assert "order protected\nversion 1\n" in text and "names 2 " in text and "+ new.example\n" in text
    last = {(k.decode() if isinstance(k, bytes) else k): (v.decode() if isinstance(v, bytes) else v)
            for k, v in redis.client().xrevrange(rs.PREFIX + "changes", count=1)[0][1].items()}
    assert last["op"] == "signed-protected" and last["override"] == "resign-current-state"
    # the next change continues the chain without the override
    ok(ctl(redis, "protect", "add", "third.example", env=env))
    text = redis.client().hget(rs.PREFIX + "protected-manifest", "text")
    text = text.decode() if isinstance(text, bytes) else text
    assert "version 2\n" in text and "names 3 " in text
    js = json.loads(ok(ctl(redis, "verify", "--key", "ISP=" + json.loads(ok(ctl(
        redis, "key", "show", key, "--json")).stdout)["public_key"], "--json")).stdout)
    assert [o for o in js["orders"] if o["order"] == "(protected set)"][0]["ok"]


def test_replayed_future_protected_entries_reload_once(redis, make_unbound, tmp_path):
    """Review of issue 14, item 1: the protected set is inflated behind the
    tool's back before the start (alarm, nothing verified). Each copy of the
    valid version-3 entry appended to the stream is a gap; only the first
    reloads the set (the reload fails its digest and is remembered), the
    copies are skipped, so the sync thread is not stalled."""
    r = redis.client()
    o1 = signing.SignedOrder("o1")
    o1.push(r, A, add=[NAME.format(1)])
    prot = signing.SignedProtected()
    prot.push(r, P, add=[NAME.format(2)])
    prot.push(r, P, add=[NAME.format(3)])
    prot.push(r, P, add=[NAME.format(4)])
    barrier = Barrier(r)
    junk = [f"j{i}.junk.example" for i in range(20000)]
    for i in range(0, len(junk), 10000):
        r.sadd(rs.PREFIX + "protected", *junk[i:i + 10000])
    ub = rs.start_resolver(make_unbound, redis, tmp_path, prot_conf())
    barrier.ub = ub
    heartbeat(r, lambda h: h.get("signature_alarm") == "1", timeout=30)
    barrier()
    text, sig, key = prot.history[2]
    p = r.pipeline(transaction=False)
    for _ in range(40):
        p.xadd(rs.PREFIX + "changes", {"op": "signed-protected", "text": text, "sig": sig, "key": key})
    p.execute()
    t0 = time.monotonic()
    barrier(timeout=60)
    took = time.monotonic() - t0
    log = ub.log() + ub.stderr()
    n = log.count("is version 3, the verified one 0: reloading it")
    assert n == 1, f"{n} reloads for 40 copies of one entry ({took:.2f} s)"
    assert took < 2
    assert blocked(ub, NAME.format(1))
    # item 2: the sizes (SCARD) differ from the signed counts: the members are not read
    assert log_has(ub, "the protected set: digest: the stored sets do not match version 3 "
                   "(20003 names and 0 prefixes held, 3 and 0 signed; not read)")
    # the authority's next version (its sets repaired) reloads again and is taken
    r.delete(rs.PREFIX + "protected")
    r.sadd(rs.PREFIX + "protected", NAME.format(2), NAME.format(3), NAME.format(4))
    prot.push(r, P, delete=[NAME.format(4)])
    rs.wait_for(lambda: rs.first_a(ub, NAME.format(3)) == REAL, True, timeout=10)
    barrier()
    heartbeat(r, lambda h: h.get("signature_alarm") == "0")


def test_ctl_push_does_not_trust_an_unverified_protected_set(redis, tmp_path):
    """Review of issue 14, item 3: with a key in use, redsink-ctl push checks
    the protected names against protected-manifest; a name added to
    `protected` behind the tool's back does not refuse the authority's signed
    push (it is flagged as unverified), a verified protected name still does."""
    from test_ctl import ctl, ok, push
    key = tmp_path / "isp.pem"
    ok(ctl(redis, "key", "generate", "--out", key, "--label", "ISP"))
    env = {"REDSINK_SIGN_KEY": str(key)}
    ok(ctl(redis, "order", "add", "o1", "--authority", "Tribunale di Milano", "--reference", "RG 1/2026",
           "--scope", "*", "--action", "sinkhole", env=env))
    ok(ctl(redis, "protect", "add", NAME.format(1), "--why", "ours", env=env))
    p = push(redis, "o1", [NAME.format(1)], env=env)
    assert p.returncode == 3, p.stdout + p.stderr                # verified: refused
    redis.client().sadd(rs.PREFIX + "protected", "court-ordered.wild.example")   # Mallory
    p = push(redis, "o1", ["court-ordered.wild.example"], env=env)
    assert p.returncode == 0, p.stdout + p.stderr
    assert "not verified" in p.stderr and "do not match signed version 1" in p.stderr, p.stderr
    assert redis.client().sismember(rs.PREFIX + "order:o1:domains", "court-ordered.wild.example")
    # receipts do not label names "protected" from an unverified set either
    p = ctl(redis, "receipts", "o1")
    assert p.returncode in (0, 1) and "the protected set is not verified" in p.stderr, p.stdout + p.stderr
