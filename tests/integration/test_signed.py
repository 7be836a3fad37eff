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
