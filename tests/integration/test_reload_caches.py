"""Reloads that change the cache sizes, under queries and pushes (issue 10).

A reload (SIGHUP) that changes msg-cache-size, rrset-cache-size or their
slabs makes Unbound delete and re-create those caches before the module's
deinit runs. The module's cache purges run inside a worker's event loop (the
"purge door", doc/architecture.md), so none can traverse a cache being
replaced. Under a query loop and a stream of pushes (each add purges the
caches), every query must be answered correctly (a query that a reload
dropped in flight, as Unbound does, is asked again once, like a stub would), Unbound must stay up, and
under ASan (make_unbound fails the test on any report) nothing is touched
after it was freed.
"""

import threading
import time

import dns.exception

import rs

REAL = {"ok.example": "198.51.100.10", "www.ok.example": "198.51.100.11",
        "notpirate.example": "198.51.100.30"}

CACHES = [
    "    msg-cache-size: 4m\n    rrset-cache-size: 8m\n    msg-cache-slabs: 2\n    rrset-cache-slabs: 2\n",
    "    msg-cache-size: 8m\n    rrset-cache-size: 4m\n    msg-cache-slabs: 4\n    rrset-cache-slabs: 4\n",
    "    msg-cache-size: 2m\n    rrset-cache-size: 16m\n    msg-cache-slabs: 1\n    rrset-cache-slabs: 8\n",
]
RELOADS = 6


def test_reloads_changing_cache_sizes(redis, make_unbound, tmp_path):
    c = redis.client()
    rs.put_order(c, "o1", ["pirate.example"])
    conf = rs.write_conf(tmp_path / "redsink.conf", redis,
                         snapshot_file=str(tmp_path / "redsink.snap"))
    ub = make_unbound(module_so=rs.module_so(), env={"REDSINK_CONF": str(conf)},
                      extra_conf=CACHES[0] + "    discard-timeout: 0\n")
    stop = threading.Event()
    failures, counts = [], {"queries": 0, "pushes": 0, "retried": 0}

    def query_loop():
        i = 0
        while not stop.is_set():
            i += 1
            # real names (cached answers to purge) and junk names (NXDOMAIN,
            # many cache entries), plus the blocked one
            for name, want in (("www.pirate.example", rs.SINK4),
                               (list(REAL)[i % 3], REAL[list(REAL)[i % 3]]),
                               (f"q{i % 500}.example", "NXDOMAIN")):
                try:
                    got = rs.first_a(ub, name, timeout=10)
                except (dns.exception.DNSException, OSError):
                    # Unbound drops the queries in flight when a reload
                    # deletes its mesh; a client asks again, and so do we
                    counts["retried"] += 1
                    try:
                        got = rs.first_a(ub, name, timeout=10)
                    except (dns.exception.DNSException, OSError) as e:
                        failures.append(f"{name}: {e!r}")
                        continue
                counts["queries"] += 1
                if name.startswith("q") and got == rs.SINK4:
                    continue  # pushed meanwhile: blocked is right too
                if got != want:
                    failures.append(f"{name}: {got}, want {want}")

    def push_loop():
        i = 0
        while not stop.is_set():
            # block names that are cached right now, so that every batch purges
            names = [f"q{(i * 7 + k) % 500}.example" for k in range(5)]
            rs.add_domains(c, "o1", names)
            time.sleep(0.05)
            rs.del_domains(c, "o1", names)
            counts["pushes"] += 2
            i += 1
            time.sleep(0.05)

    threads = [threading.Thread(target=query_loop), threading.Thread(target=push_loop)]
    for t in threads:
        t.start()
    try:
        for n in range(RELOADS):
            time.sleep(1.0)
            ub.extra_conf = CACHES[(n + 1) % len(CACHES)] + "    discard-timeout: 0\n"
            ub._write_conf()
            ub.reload(timeout=60)
        time.sleep(1.0)
    finally:
        stop.set()
        for t in threads:
            t.join(timeout=60)
    print(f"{RELOADS} reloads, {counts['queries']} queries ({counts['retried']} asked again after a reload "
          f"dropped them), {counts['pushes']} pushes")
    assert counts["retried"] <= RELOADS * 2
    assert ub.running()
    assert not failures, f"{len(failures)} failed queries: {failures[:10]}"
    assert counts["queries"] > 100 and counts["pushes"] > 20
    starts = ub.log().count("start of service")
    assert starts == RELOADS + 1
    # the pushes still reach the list, and the purge still works after all that
    assert rs.first_a(ub, "www.ok.example") == REAL["www.ok.example"]
    rs.add_domains(c, "o1", ["ok.example"])
    rs.wait_for(lambda: rs.first_a(ub, "www.ok.example"), rs.SINK4, timeout=2)
