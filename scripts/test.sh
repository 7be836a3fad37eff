#!/usr/bin/env bash
# test.sh — set up everything that is missing, build, and run the whole test
# suite: cmocka unit tests, the list's unit tests again under ThreadSanitizer
# and AddressSanitizer, the integration tests (real redis-server, NSD and
# Unbound with the module on loopback) as built and with ASan+UBSan, then the
# optional runners other parts of the tree provide (scripts/replay.sh,
# tests/fuzz/run.sh), and the Debian packages: built (scripts/package.sh),
# installed into a clean bookworm root and run there (tests/package/run.sh).
# Ends with "N passed, N failed" and exits non-zero when anything failed.
#
# Nothing is counted that did not run in this invocation: the unit logs are
# deleted before `make check`, a unit program that did not build (or left no
# fresh log) counts as failed, and a step that fails outside any test counts
# as one failure.
#
# For working on the suite itself (the defaults are what CI runs):
#   RS_TEST_BUILD=build/x RS_TEST_ASAN_BUILD=build/x-asan   other build directories
#   RS_TEST_STEPS="unit san"   only these steps (unit san integration hooks package)
set -uo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
bdir=$(realpath -m "${RS_TEST_BUILD:-build/redsink}")
adir=$(realpath -m "${RS_TEST_ASAN_BUILD:-build/asan}")
steps=" ${RS_TEST_STEPS:-unit san integration hooks package} "

scripts/deps.sh || { echo "test: setting up dependencies failed"; echo "0 passed, 1 failed"; exit 1; }
scripts/build.sh "$bdir" || { echo "test: build failed"; echo "0 passed, 1 failed"; exit 1; }
scripts/build.sh "$adir" --enable-sanitizers || { echo "test: sanitizer build failed"; echo "0 passed, 1 failed"; exit 1; }

passed=0
failed=0
status=0
jobs=$(nproc)

count() { # label passed failed
	echo "$1: $2 passed, $3 failed"
	passed=$((passed + $2))
	failed=$((failed + $3))
	[ "$3" -eq 0 ] || status=1
}

# One cmocka program's log: "P F" (a program that crashed before cmocka's
# summary, or whose log says nothing, counts as one failure).
cmocka_counts() { # log trs
	local log=$1 trs=$2 p f
	p=$(sed -n 's/^\[  PASSED  \] \([0-9]*\) test(s)\./\1/p' "$log" | tail -n1)
	f=$(sed -n 's/^\[  FAILED  \] \([0-9]*\) test(s), listed below:/\1/p' "$log" | tail -n1)
	p=${p:-0}
	f=${f:-0}
	if [ -n "$trs" ] && grep -q '^:test-result: \(FAIL\|ERROR\)' "$trs" 2>/dev/null && [ "$f" -eq 0 ]; then
		f=1
	fi
	if [ "$p" -eq 0 ] && [ "$f" -eq 0 ]; then
		f=1
	fi
	echo "$p $f"
}

# ---- unit tests (cmocka through automake's test driver) ----
unit_tests() {
	local b=$bdir p=0 f=0 prog log lp lf progs rerun=()
	# Stale results must never count: every log is made by this run.
	rm -f "$b"/tests/unit/*/*.log "$b"/tests/unit/*/*.trs "$b"/test-suite.log
	progs=$(make -s -C "$b" -f Makefile -f - print-unit-tests <<'MK' 2>/dev/null
print-unit-tests:
	@echo $(TESTS)
MK
)
	# built PROG: it was linked by this run. A failed compile would leave the
	# previous binary behind, so every test binary is removed first and only
	# what links now exists. (Not `make -q`: automake's config-header stamp
	# makes it report every program out of date after a fresh configure.)
	built() { [ -x "$b/$1" ]; }
	if [ -z "$progs" ]; then
		echo "test: cannot list the unit test programs of $b"
		count unit 0 1
		return
	fi
	for prog in $progs; do
		rm -f "$b/$prog"
	done
	if ! make -s -C "$b" -k -j"$jobs" check >"$b/unit-check.out" 2>&1; then
		echo "== make check failed:"
		grep -v '^make\[[0-9]*\]: \(Entering\|Leaving\)' "$b/unit-check.out" | tail -n 40
		# A program that did not build stops automake before any test runs:
		# run the ones that did build, so that only the broken ones are lost.
		for prog in $progs; do
			built "$prog" && [ ! -f "$b/$prog.log" ] && rerun+=("$prog")
		done
		[ ${#rerun[@]} -eq 0 ] ||
			make -s -C "$b" -k check-TESTS TESTS="${rerun[*]}" check_PROGRAMS="${rerun[*]}" \
				>>"$b/unit-check.out" 2>&1
	fi
	for prog in $progs; do
		log=$b/$prog.log
		if ! built "$prog" || [ ! -f "$log" ]; then
			echo "== $prog: not built or not run (counted as failed)"
			f=$((f + 1))
			continue
		fi
		read -r lp lf < <(cmocka_counts "$log" "$b/$prog.trs")
		p=$((p + lp))
		f=$((f + lf))
		if [ "$lf" -ne 0 ]; then
			echo "== $log"
			cat "$log"
		fi
	done
	count unit $p $f
}
[[ $steps != *" unit "* ]] || unit_tests

# ---- the list's unit tests under ThreadSanitizer and AddressSanitizer ----
# A small separate compile: tests/unit/lib/test_list.c against the shared core's
# sources (lib/librscore; only what it needs is linked from the archive), with -fsanitize.
san_list() { # sanitizer (thread|address)
	local san=$1 d=$bdir-san/$1 src obj objs=() lp lf
	mkdir -p "$d"
	rm -f "$d"/*.o "$d"/*.a "$d"/test_list "$d"/test_list.log
	local cflags=(-std=gnu11 -g -O1 -fno-omit-frame-pointer -fsanitize="$san" -pthread
		-I"$top/lib" $(pkg-config --cflags hiredis libevent libmaxminddb libcrypto cmocka))
	for src in lib/*.c; do
		case $src in lib/cli.c | lib/ctl_name.c | lib/sign_key.c) continue ;; esac # lib/libtoolcore.la: only the tools use them
		obj=$d/$(basename "${src%.c}").o
		gcc "${cflags[@]}" -c "$src" -o "$obj" 2>>"$d/build.log" || { echo "== $san: $src did not compile"; tail -n 20 "$d/build.log"; count "unit test_list ($san)" 0 1; return; }
		objs+=("$obj")
	done
	ar rcs "$d/librscore-$san.a" "${objs[@]}"
	if ! gcc "${cflags[@]}" tests/unit/lib/test_list.c "$d/librscore-$san.a" -o "$d/test_list" \
		$(pkg-config --libs hiredis libevent libevent_pthreads libmaxminddb libcrypto cmocka) -lm 2>>"$d/build.log"; then
		echo "== $san: test_list did not build"
		tail -n 20 "$d/build.log"
		count "unit test_list ($san)" 0 1
		return
	fi
	# TSan needs a non-randomised address space on kernels with high mmap
	# entropy; setarch -R turns the randomisation off for this process only.
	TSAN_OPTIONS="halt_on_error=1:second_deadlock_stack=1" \
		ASAN_OPTIONS="detect_leaks=1:halt_on_error=1" \
		setarch "$(uname -m)" -R "$d/test_list" >"$d/test_list.log" 2>&1
	local rc=$?
	read -r lp lf < <(cmocka_counts "$d/test_list.log" "")
	if [ $rc -ne 0 ] && [ "$lf" -eq 0 ]; then lf=1; fi
	if grep -q 'Sanitizer' "$d/test_list.log"; then
		[ "$lf" -gt 0 ] || lf=1
	fi
	if [ "$lf" -ne 0 ]; then
		echo "== $d/test_list.log (exit $rc)"
		tail -n 80 "$d/test_list.log"
	fi
	count "unit test_list ($san)" "$lp" "$lf"
}
if [[ $steps == *" san "* ]]; then
	san_list thread
	san_list address
fi

# ---- integration tests: the module as built, then built with ASan+UBSan ----
run_pytest() { # label, then extra environment assignments
	local label=$1 junit rc ip if_
	shift
	junit=$(mktemp)
	env "$@" /usr/bin/python3 -m pytest -q -p no:cacheprovider --junitxml="$junit" tests/integration
	rc=$?
	read -r ip if_ < <(/usr/bin/python3 - "$junit" <<'PY'
import sys, xml.etree.ElementTree as ET
try:
    root = ET.parse(sys.argv[1]).getroot()
except Exception:
    print(0, 1); sys.exit()
suites = [root] if root.tag == "testsuite" else list(root)
t = sum(int(s.get("tests", 0)) for s in suites)
f = sum(int(s.get("failures", 0)) + int(s.get("errors", 0)) for s in suites)
sk = sum(int(s.get("skipped", 0)) for s in suites)
print(t - f - sk, f)
PY
)
	rm -f "$junit"
	ip=${ip:-0}
	if_=${if_:-0}
	if [ $rc -ne 0 ] && [ "$if_" -eq 0 ]; then if_=1; fi # pytest failed outside any test
	[ $rc -eq 0 ] || status=1
	count "$label" "$ip" "$if_"
}
if [[ $steps == *" integration "* ]]; then
	run_pytest integration REDSINK_MODULE="$bdir/module/.libs/redsink.so"
	run_pytest "integration (ASan+UBSan)" REDSINK_MODULE="$adir/module/.libs/redsink.so" \
		REDSINK_SANITIZE="$(gcc -print-file-name=libasan.so)"
fi

# ---- optional runners: each, when present, ends with "NAME: N passed, M failed" ----
hook() { # label script
	local label=$1 script=$2 out rc line hp hf
	[ -f "$script" ] || return 0
	out=$(mktemp)
	bash "$script" 2>&1 | tee "$out"
	rc=${PIPESTATUS[0]}
	line=$(grep -E '^[A-Za-z0-9_ ()+-]+: [0-9]+ passed, [0-9]+ failed$' "$out" | tail -n1)
	rm -f "$out"
	if [ -z "$line" ]; then
		echo "test: $script printed no \"N passed, M failed\" line (exit $rc)"
		count "$label" 0 1
		return
	fi
	hp=$(sed -E 's/.*: ([0-9]+) passed, ([0-9]+) failed$/\1/' <<<"$line")
	hf=$(sed -E 's/.*: ([0-9]+) passed, ([0-9]+) failed$/\2/' <<<"$line")
	if [ "$rc" -ne 0 ] && [ "$hf" -eq 0 ]; then
		echo "test: $script exited $rc"
		hf=1
	fi
	count "$label" "$hp" "$hf"
}
if [[ $steps == *" hooks "* ]]; then
	hook replay scripts/replay.sh
	hook fuzz tests/fuzz/run.sh
fi

# ---- Debian packages: build, install into a clean root, run from there ----
package_step() {
	local log=$bdir-package.log
	if ! bash scripts/package.sh >"$log" 2>&1; then
		echo "== scripts/package.sh failed (log: $log):"
		tail -n 30 "$log"
		count package 0 1
		return
	fi
	grep -E '^package: (unbound|redsink|lintian)' "$log"
	hook package tests/package/run.sh
}
[[ $steps != *" package "* ]] || package_step

echo "$passed passed, $failed failed"
exit $status
