"""Snapshot writes off the change path (issue 15).

The snapshot file is written by a thread of its own (module/sync.c,
snap_main): the sync thread posts a request and goes on applying changes, so
a change never waits for a write of the whole list (26 MB at 1M domains).

The module built for tests (configure --enable-sanitizers defines
RS_TEST_HOOKS) makes the first snapshot write sleep $REDSINK_TEST_SNAPSHOT_STALL
milliseconds inside its read-side section, as a slow disk would. The tests that
need it are skipped unless the module logs "test hooks enabled" at init. Before
the writer thread, the sync thread wrote the file itself: a change pushed
during such a write waited for it (5 s here), so test_change_during_a_long_write
failed.
"""

import os
import subprocess
import time
from pathlib import Path

import pytest

import harness
import rs

STALL_MS = 5000


def wait_log(ub, text, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if rs.unbound_log_has(ub, text):
            return True
        time.sleep(0.05)
    return False


def start_stalled(redis, make_unbound, tmp_path, stall_ms=STALL_MS):
    """A resolver whose first snapshot write (the one after the initial load) stalls."""
    c = redis.client()
    rs.put_order(c, "o1", ["pirate.example"])
    snap = tmp_path / "redsink.snap"
    conf = rs.write_conf(tmp_path / "redsink.conf", redis, snapshot_file=str(snap))
    ub = make_unbound(module_so=rs.module_so(), env={"REDSINK_CONF": str(conf),
                                                      "REDSINK_TEST_SNAPSHOT_STALL": str(stall_ms)})
    if not rs.unbound_log_has(ub, "test hooks enabled"):
        pytest.skip("module built without test hooks (configure --enable-sanitizers)")
    assert wait_log(ub, "test hook: stalling the snapshot write", 5), "the first snapshot write did not start"
    return c, ub, snap


def restart_without_redis(ub, redis):
    """Stop cleanly (the final write), then start from the file alone."""
    ub.stop()
    redis.stop()
    ub.start()
    assert "loaded the snapshot" in ub.log().split("start of service")[-2]    # this start's init


def test_change_during_a_long_write(redis, make_unbound, tmp_path):
    c, ub, snap = start_stalled(redis, make_unbound, tmp_path)
    t_stall = time.monotonic()
    rs.add_domains(c, "o1", ["during.example"])
    took = rs.wait_for(lambda: rs.first_a(ub, "during.example"), rs.SINK4, timeout=1.0)
    print(f"added during the stalled write: enforced after {took * 1000:.0f} ms")
    rs.del_domains(c, "o1", ["pirate.example"])
    # (a withdrawal: the answer needs a recursion to NSD, hence more time than the add)
    rs.wait_for(lambda: rs.first_a(ub, "www.pirate.example"), "198.51.100.21", timeout=2.0)
    assert time.monotonic() - t_stall < STALL_MS / 1000 - 1, "the changes were applied only after the stall"
    assert not rs.unbound_log_has(ub, "the snapshot write goes on")
    # the stalled write finishes; the next one (5 s after it) has both changes
    assert wait_log(ub, "test hook: the snapshot write goes on", STALL_MS / 1000 + 5)
    # (the log line comes before the encoding, the write, the fsync and the rename)
    rs.wait_for(lambda: snap.exists(), True, timeout=5, step=0.05)
    restart_without_redis(ub, redis)
    assert rs.first_a(ub, "during.example") == rs.SINK4
    assert rs.first_a(ub, "www.pirate.example") == "198.51.100.21"


def test_stop_during_a_write_keeps_the_newest_list(redis, make_unbound, tmp_path):
    """Stopping while a write is in progress waits for it, then writes the newest list."""
    stall = 3.0
    c, ub, snap = start_stalled(redis, make_unbound, tmp_path, stall_ms=int(stall * 1000))
    t_stall = time.monotonic()              # the stall began before this
    rs.add_domains(c, "o1", ["last.example"])
    rs.wait_for(lambda: rs.first_a(ub, "last.example"), rs.SINK4, timeout=1.0)
    # the premise: the stop comes while the first write is still stalled
    assert not rs.unbound_log_has(ub, "the snapshot write goes on"), "the stall ended before the stop"
    left = stall - (time.monotonic() - t_stall)
    assert left > 1.0, f"only {left:.1f} s of the stall left: the stop would not overlap it"
    t0 = time.monotonic()
    ub.stop()                               # joins the writer: waits for the rest of the stall
    took = time.monotonic() - t0
    print(f"stop during the stalled write: {took:.1f} s ({left:.1f} s of the stall were left)")
    assert took >= left - 0.5, f"the stop took {took:.1f} s: it did not wait for the stalled write"
    assert rs.unbound_log_has(ub, "the snapshot write goes on")
    redis.stop()
    ub.start()
    assert "loaded the snapshot" in ub.log().split("start of service")[-2]    # this start's init
    assert rs.first_a(ub, "last.example") == rs.SINK4
    assert rs.first_a(ub, "www.pirate.example") == rs.SINK4


def test_reload_during_a_write(redis, make_unbound, tmp_path):
    """A reload (SIGHUP) while the writer is stalled: deinit waits for the write, the
    next generation starts from the handed-over list, nothing is left running."""
    c, ub, snap = start_stalled(redis, make_unbound, tmp_path, stall_ms=3000)
    rs.add_domains(c, "o1", ["reload.example"])
    rs.wait_for(lambda: rs.first_a(ub, "reload.example"), rs.SINK4, timeout=1.0)
    ub.reload(timeout=30)
    assert rs.first_a(ub, "reload.example") == rs.SINK4
    rs.add_domains(c, "o1", ["after.example"])
    rs.wait_for(lambda: rs.first_a(ub, "after.example"), rs.SINK4, timeout=2.0)
    restart_without_redis(ub, redis)
    assert rs.first_a(ub, "reload.example") == rs.SINK4
    assert rs.first_a(ub, "after.example") == rs.SINK4


def test_clean_stop_writes_the_last_change(redis, make_unbound, tmp_path):
    """Any build: a change made just before a clean stop (before the periodic
    write, at most every 5 s) is in the file the next start loads."""
    c = redis.client()
    rs.put_order(c, "o1", ["pirate.example"])
    snap = tmp_path / "redsink.snap"
    ub = rs.start_resolver(make_unbound, redis, tmp_path, {"snapshot_file": str(snap)})
    rs.wait_for(lambda: snap.exists(), True, timeout=7, step=0.1)      # the write after the load
    rs.add_domains(c, "o1", ["late.example"])
    rs.wait_for(lambda: rs.first_a(ub, "late.example"), rs.SINK4)
    restart_without_redis(ub, redis)
    assert rs.first_a(ub, "late.example") == rs.SINK4
    assert rs.first_a(ub, "www.pirate.example") == rs.SINK4


def threads(pid):
    """{thread name: nice value} of a process's threads (/proc/PID/task/*/stat)."""
    out = {}
    for stat in Path(f"/proc/{pid}/task").glob("*/stat"):
        text = stat.read_text()
        name = text[text.index("(") + 1:text.rindex(")")]
        out.setdefault(name, int(text[text.rindex(")") + 2:].split()[16]))
    return out


def test_the_writer_yields_to_the_resolver(redis, make_unbound, tmp_path):
    """The snapshot writer runs at nice 19 (a write on a core shared with the workers must not
    delay a query or a change; tests/bench/RESULTS.md); the sync thread and Unbound's own
    threads keep their priority. The module's threads are named for top -H and ps -L."""
    c = redis.client()
    rs.put_order(c, "o1", ["pirate.example"])
    snap = tmp_path / "redsink.snap"
    conf = rs.write_conf(tmp_path / "redsink.conf", redis, snapshot_file=str(snap))
    ub = make_unbound(module_so=rs.module_so(), env={"REDSINK_CONF": str(conf)})
    rs.wait_for(lambda: snap.exists(), True, timeout=10)
    t = threads(ub.pid)
    assert t.get("redsink-snap") == 19, t
    assert t.get("redsink-sync") == t.get("unbound") == os.getpriority(os.PRIO_PROCESS, 0), t


# A launcher that installs a seccomp filter killing the process on setpriority(2),
# as upstream Unbound's unbound.service does for all of @resources
# (SystemCallFilter=~... @resources, no SystemCallErrorNumber=), then execs its arguments.
SECCOMP_LAUNCHER = r"""
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <stdio.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>
int main(int argc, char **argv)
{
	/* no seccomp_data.arch check: __NR_setpriority is the native one, and
	 * nothing here uses another architecture's entry points */
	struct sock_filter f[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_setpriority, 0, 1),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	};
	struct sock_fprog prog = { sizeof(f) / sizeof(f[0]), f };
	if (argc < 2 || prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) || prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog)) {
		perror("seccomp");
		return 111;
	}
	execvp(argv[1], argv + 1);
	perror("exec");
	return 112;
}
"""


def test_the_writer_under_a_system_call_filter(redis, make_unbound, tmp_path):
    """Under a seccomp filter that kills the process on setpriority (upstream's
    unbound.service denies @resources), the writer leaves its priority alone: the resolver
    keeps resolving and blocking and the snapshot is written. Before, the writer's
    setpriority killed the whole resolver (SIGSYS) as the module started."""
    src = tmp_path / "seccomp-launch.c"
    src.write_text(SECCOMP_LAUNCHER)
    launcher = tmp_path / "seccomp-launch"
    subprocess.run(["gcc", "-O1", "-o", str(launcher), str(src)], check=True)
    assert subprocess.run([str(launcher), "nice", "-n", "5", "true"]).returncode == -31  # the filter kills
    c = redis.client()
    rs.put_order(c, "o1", ["pirate.example"])
    snap = tmp_path / "redsink.snap"
    conf = rs.write_conf(tmp_path / "redsink.conf", redis, snapshot_file=str(snap))
    filtered = type("FilteredUnbound", (harness.Unbound,),
                    {"_argv": lambda self: [str(launcher)] + harness.Unbound._argv(self)})
    ub = make_unbound(cls=filtered, module_so=rs.module_so(), env={"REDSINK_CONF": str(conf)})
    rs.wait_for(lambda: snap.exists(), True, timeout=10)
    assert rs.unbound_log_has(ub, "a system call filter is in force")
    t = threads(ub.pid)
    assert t.get("redsink-snap") == t.get("unbound"), t
    rs.put_order(c, "o2", ["later.example"])
    rs.wait_for(lambda: [r[3] for r in rs.rrs(ub.query("www.later.example", "A"))], [rs.SINK4], timeout=2)
    assert ub.proc.poll() is None
