"""A worker frozen in the middle of a lookup across a rehash (issue 10).

The module built for tests (configure --enable-sanitizers defines
RS_TEST_HOOKS) stalls the first lookup of the name in $REDSINK_TEST_STALL
("name:ms") between loading the table pointer and probing it, as a worker
stopped by SIGSTOP, a frozen cgroup or a swapped-out page would be. Meanwhile
the list is rehashed (shrunk, then grown through 20,000 new names) and the
test waits well beyond the old 5 s grace period. Reclamation must wait for
the frozen reader: when it resumes it probes the table it loaded, which must
still be there (under ASan, a use-after-free is a report and fails the test
through the make_unbound fixture), and the query must be answered.

Skipped unless the module logs "test hooks enabled" at init (builds without
the hook).
"""

import threading
import time

import pytest

import rs

STALL_NAME = "ok.example"     # a real name: the answer is known
STALL_MS = 10000              # well beyond the old grace period of 5 s
NAMES = 20000


def wait_log(ub, text, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if rs.unbound_log_has(ub, text):
            return True
        time.sleep(0.05)
    return False


def test_frozen_lookup_survives_rehash(redis, make_unbound, tmp_path):
    c = redis.client()
    rs.put_order(c, "o1", ["pirate.example"])
    conf = rs.write_conf(tmp_path / "redsink.conf", redis)
    # discard-timeout 0: Unbound (Debian's CVE-2024-33655 patch) would drop a
    # reply to a query older than 1.9 s; the frozen one is 10 s old.
    ub = make_unbound(module_so=rs.module_so(), ready_query=("www.ok.example", "A"),
                      extra_conf="    discard-timeout: 0\n",
                      env={"REDSINK_CONF": str(conf),
                           "REDSINK_TEST_STALL": f"{STALL_NAME}:{STALL_MS}"})
    if not rs.unbound_log_has(ub, "test hooks enabled"):
        pytest.skip("module built without test hooks (configure --enable-sanitizers)")

    result = {}

    def frozen_query():
        t0 = time.monotonic()
        try:
            result["answer"] = rs.first_a(ub, STALL_NAME, timeout=STALL_MS / 1000 + 30)
        except Exception as e:  # reported below
            result["error"] = repr(e)
        result["took"] = time.monotonic() - t0

    th = threading.Thread(target=frozen_query)
    th.start()
    try:
        assert wait_log(ub, f"test hook: stalling the lookup of {STALL_NAME}", 10), \
            "the lookup did not stall"
        t_stall = time.monotonic()
        # Rehash 1: deleting a name leaves the big initial table mostly empty,
        # so it shrinks; the frozen worker holds a pointer to that table.
        rs.add_domains(c, "o1", ["shrink.example"])
        rs.wait_for(lambda: rs.first_a(ub, "shrink.example"), rs.SINK4, timeout=5)
        rs.del_domains(c, "o1", ["shrink.example"])
        rs.wait_for(lambda: rs.first_a(ub, "shrink.example"), "NXDOMAIN", timeout=5)
        # Rehash 2..n: growth through 20,000 names, while the worker sleeps.
        rs.add_domains(c, "o1", [f"n{i}.example" for i in range(NAMES)])
        rs.wait_for(lambda: rs.first_a(ub, f"n{NAMES - 1}.example"), rs.SINK4, timeout=30, step=0.2)
        applied = time.monotonic() - t_stall
        print(f"20,000 names applied {applied:.1f} s into the stall")
        assert applied < STALL_MS / 1000 - 5.5, \
            "the changes took too long: the old grace period would not have passed"
        th.join(timeout=STALL_MS / 1000 + 40)
    finally:
        th.join()
    assert "error" not in result, f"the frozen query failed: {result.get('error')}\n{ub.diagnostics()}"
    assert result["answer"] == "198.51.100.10"
    assert result["took"] >= STALL_MS / 1000 - 1
    assert wait_log(ub, f"test hook: the lookup of {STALL_NAME} goes on", 5)
    # still alive and enforcing after the frozen reader left
    assert rs.first_a(ub, "www.pirate.example") == rs.SINK4
    assert rs.first_a(ub, "n7.example") == rs.SINK4
