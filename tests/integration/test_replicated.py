"""A committed batch waits for a replica (issue 12: "a write that fails during
a failover is retried or reported, never silently lost").

Replication is asynchronous: what the primary committed but no replica holds
is lost when Sentinel promotes a replica. redsink-ctl therefore waits (WAIT 1)
after every committed batch when the primary has replicas, and exits 4 saying
so when none acknowledged in time. Real servers: a primary and a replica
(REPLICAOF); the replica is frozen with SIGSTOP (its PID) so that its link
stays up but it acknowledges nothing."""

import signal
import subprocess
import time

import pytest

import harness
import rs
from test_ctl import add_order, ctl, ok, push


@pytest.fixture
def replica(redis, tmp_path):
    r = harness.Redis(tmp_path / "replica")
    try:
        c = r.client()
        c.replicaof("127.0.0.1", redis.port)
        rs.wait_for(lambda: c.info("replication").get("master_link_status"), "up", timeout=20)
        # ... and the primary lists it (ROLE), which is what redsink-ctl looks at
        rs.wait_for(lambda: len(redis.client().execute_command("ROLE")[2]), 1, timeout=20)
        yield r
    finally:
        if r.running():
            r.proc.send_signal(signal.SIGCONT)
        r.stop()


def test_push_waits_for_a_replica(redis, replica):
    add_order(redis, "o1")
    p = ok(push(redis, "o1", ["a1.example"]))
    assert "replica" not in p.stderr
    rs.wait_for(lambda: replica.client().sismember(rs.PREFIX + "order:o1:domains", "a1.example"), 1, timeout=10)
    replica.proc.send_signal(signal.SIGSTOP)  # linked, but acknowledges nothing
    try:
        t0 = time.monotonic()
        p = push(redis, "o1", ["a2.example"], "--timeout", "700")
        assert p.returncode == 4, p.stderr
        assert time.monotonic() - t0 >= 0.6
        assert "the batch is written on the primary, but no replica acknowledged it within 700 ms" in p.stderr
        assert "a failover may lose it" in p.stderr
        # written on the primary all the same (the stream says so)
        assert redis.client().sismember(rs.PREFIX + "order:o1:domains", "a2.example")
    finally:
        replica.proc.send_signal(signal.SIGCONT)
    rs.wait_for(lambda: replica.client().sismember(rs.PREFIX + "order:o1:domains", "a2.example"), 1, timeout=10)
    ok(push(redis, "o1", ["a3.example"]))


def test_no_replica_no_wait(redis):
    add_order(redis, "o1")
    t0 = time.monotonic()
    ok(push(redis, "o1", ["a1.example"], "--timeout", "3000"))
    assert time.monotonic() - t0 < 2.5


def test_push_waits_for_a_replica_still_syncing(redis, tmp_path):
    """A replica that is connected but still in its first sync is not in ROLE's list (it
    lists online replicas only), yet it does not hold the batch either: the push waits
    for it and says so (exit 4), as for a replica that does not acknowledge. Before, it
    looked at ROLE alone and exited 0 with no replica holding the batch."""
    add_order(redis, "o1")
    p = redis.client()
    p.config_set("repl-diskless-sync", "yes")
    p.config_set("repl-diskless-sync-delay", "30")  # the replica waits for its sync this long
    r = harness.Redis(tmp_path / "syncing")
    try:
        r.client().replicaof("127.0.0.1", redis.port)
        rs.wait_for(lambda: p.info("replication").get("connected_slaves"), 1, timeout=10)
        assert p.execute_command("ROLE")[2] == []      # connected, not online
        q = push(redis, "o1", ["a1.example"], "--timeout", "500")
        assert q.returncode == 4, q.stderr
        assert "no replica acknowledged it within 500 ms" in q.stderr
        assert p.sismember(rs.PREFIX + "order:o1:domains", "a1.example")
    finally:
        r.stop()


def test_a_backup_is_not_a_replica(redis, tmp_path):
    """redis-cli --rdb (a backup) registers as a replica link that never announces a port nor
    acknowledges: with no real replica, a push does not wait for it (exit 0)."""
    add_order(redis, "o1")
    p = redis.client()
    p.config_set("repl-diskless-sync", "yes")
    p.config_set("repl-diskless-sync-delay", "30")
    backup = subprocess.Popen(["redis-cli", "-p", str(redis.port), "--rdb", str(tmp_path / "dump.rdb")],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        rs.wait_for(lambda: p.info("replication").get("connected_slaves"), 1, timeout=10)
        t0 = time.monotonic()
        ok(push(redis, "o1", ["a1.example"], "--timeout", "3000"))
        assert time.monotonic() - t0 < 2.5
    finally:
        backup.kill()
        backup.wait()
