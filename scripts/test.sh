#!/usr/bin/env bash
# test.sh — set up everything that is missing, build, and run the whole test
# suite: cmocka unit tests, then the integration tests (real redis-server, NSD
# and Unbound with the module on loopback). Ends with "N passed, N failed" and
# exits non-zero when anything failed.
set -uo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"

scripts/deps.sh || { echo "test: setting up dependencies failed"; echo "0 passed, 1 failed"; exit 1; }
scripts/build.sh || { echo "test: build failed"; echo "0 passed, 1 failed"; exit 1; }
scripts/build.sh build/asan --enable-sanitizers || { echo "test: sanitizer build failed"; echo "0 passed, 1 failed"; exit 1; }

passed=0
failed=0
status=0

# ---- unit tests (cmocka through automake's test driver) ----
make -s -C build/redsink -j"$(nproc)" check >/dev/null 2>&1 || status=1
for log in build/redsink/tests/unit/test_*.log; do
	[ -f "$log" ] || continue
	p=$(sed -n 's/^\[  PASSED  \] \([0-9]*\) test(s)\./\1/p' "$log" | tail -n1)
	f=$(sed -n 's/^\[  FAILED  \] \([0-9]*\) test(s), listed below:/\1/p' "$log" | tail -n1)
	passed=$((passed + ${p:-0}))
	failed=$((failed + ${f:-0}))
	if grep -q '^FAIL\|^ERROR' "${log%.log}.trs" 2>/dev/null; then
		status=1
		[ -n "$f" ] || failed=$((failed + 1)) # crashed before cmocka's summary
		echo "== $log"; cat "$log"
	fi
done
echo "unit: $passed passed, $failed failed"

# ---- integration tests: the module as built, then built with ASan+UBSan ----
run_pytest() { # label, then extra environment assignments
	local label=$1 junit rc ip if_
	shift
	junit=$(mktemp)
	env "$@" /usr/bin/python3 -m pytest -q -p no:cacheprovider --junitxml="$junit" tests/integration
	rc=$?
	[ $rc -eq 0 ] || status=1
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
	if [ $rc -ne 0 ] && [ "${if_:-0}" -eq 0 ]; then if_=1; fi # pytest failed outside any test
	echo "$label: ${ip:-0} passed, ${if_:-0} failed"
	passed=$((passed + ${ip:-0}))
	failed=$((failed + ${if_:-0}))
}
run_pytest integration
run_pytest "integration (ASan+UBSan)" REDSINK_MODULE="$top/build/asan/module/.libs/redsink.so" \
	REDSINK_SANITIZE="$(gcc -print-file-name=libasan.so)"

echo "$passed passed, $failed failed"
exit $status
