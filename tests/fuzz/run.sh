#!/usr/bin/env bash
# run.sh — build every libFuzzer harness of tests/fuzz/ and run each for a
# short time over its seed corpus.
#
# Usage: tests/fuzz/run.sh [SECONDS [HARNESS...]]
#   SECONDS   time per harness (default 20)
#   HARNESS   names without the fuzz_ prefix (default: every tests/fuzz/fuzz_*.c)
# Environment: CC (default clang), FUZZ_JOBS (parallel compiles, default 2),
# FUZZ_OUT (the build and run directory, default build/fuzz).
#
# The harnesses are built with clang -fsanitize=fuzzer,address,undefined
# (UBSan made fatal) straight from the sources, into build/fuzz/. Each run
# reads tests/fuzz/corpus/<harness>/ but writes new inputs only into
# build/fuzz/run/<harness>/ (libFuzzer adds to the first corpus directory
# only), and crash artifacts into build/fuzz/artifacts/<harness>/.
# Exit status: 0 when every harness built and ran clean, 1 otherwise. The
# last line is always "fuzz: N passed, M failed".
set -u
top=$(cd "$(dirname "$0")/../.." && pwd)
secs=${1:-20}
shift || true
out=${FUZZ_OUT:-$top/build/fuzz}
cc=${CC:-clang}
jobs=${FUZZ_JOBS:-2}
pass=0
fail=0
failed=()

summary() {
	if [ ${#failed[@]} -gt 0 ]; then
		echo "fuzz: failed: ${failed[*]}"
	fi
	echo "fuzz: $pass passed, $fail failed"
}

if [ $# -gt 0 ]; then
	harnesses=("$@")
else
	harnesses=()
	for f in "$top"/tests/fuzz/fuzz_*.c; do
		h=$(basename "$f" .c)
		harnesses+=("${h#fuzz_}")
	done
fi

if ! command -v "$cc" >/dev/null 2>&1; then
	echo "fuzz: $cc not found (apt-get install clang libclang-rt-14-dev)" >&2
	fail=${#harnesses[@]}
	failed=("${harnesses[@]}")
	summary
	exit 1
fi

pkgs="hiredis libevent libidn2 libpsl libcrypto"
if ! pkg_cflags=$(pkg-config --cflags $pkgs) || ! pkg_libs=$(pkg-config --libs $pkgs); then
	echo "fuzz: pkg-config cannot find $pkgs" >&2
	fail=${#harnesses[@]}
	failed=("${harnesses[@]}")
	summary
	exit 1
fi
san="-fsanitize=address,undefined -fno-sanitize-recover=all"

# The code under test, found by file name anywhere in the tree (outside
# build/, tests/ and .git/), so that the harnesses follow the sources when
# they move between directories.
tree_find() { # find arguments, applied to the source tree only
	find "$top" \( -path "$top/build" -o -path "$top/tests" -o -path "$top/.git" \
		-o -path "$top/autom4te.cache" \) -prune -o "$@" -print
}
incs=()
while IFS= read -r d; do
	incs+=("-I$d")
done < <(tree_find -name '*.h' | xargs -r -n1 dirname | sort -u)
srcs=""
for base in name.c disc.c list.c prefix.c order.c conf.c text.c load.c apply.c snapshot.c rs_err.c dataset.c ebr.c \
	sentinel.c replinfo.c sign.c ctl_name.c ctl_input.c warnd_text.c warnd_page.c warnd_http.c mkgeo_parse.c mmdb_write.c; do
	f=$(tree_find -name "$base" | head -n1)
	case $base in
	dataset.c | ebr.c | sentinel.c | replinfo.c) [ -n "$f" ] || continue ;; # newer files, when present
	esac
	if [ -z "$f" ]; then
		echo "fuzz: cannot find $base in the source tree" >&2
		fail=${#harnesses[@]}
		failed=("${harnesses[@]}")
		summary
		exit 1
	fi
	srcs="$srcs ${f#"$top"/}"
done
cflags="-g -O1 -std=gnu11 -fno-omit-frame-pointer -Wall -Wno-unused-parameter $san
	${incs[*]} -I$top/tests/fuzz $pkg_cflags"

mkdir -p "$out/obj" "$out/bin"
headers_newest=$( (tree_find -name '*.h'; ls "$top"/tests/fuzz/*.h) | xargs ls -t | head -1)
objs=()
pids=()
buildfail=0
for s in $srcs; do
	o=$out/obj/$(echo "$s" | tr / _ | sed 's/\.c$/.o/')
	objs+=("$o")
	if [ ! -f "$o" ] || [ "$top/$s" -nt "$o" ] || [ "$headers_newest" -nt "$o" ]; then
		# shellcheck disable=SC2086
		$cc $cflags -fsanitize=fuzzer-no-link -c "$top/$s" -o "$o" 2>"$o.log" &
		pids+=($!)
		if [ ${#pids[@]} -ge "$jobs" ]; then
			wait "${pids[0]}" || buildfail=1
			pids=("${pids[@]:1}")
		fi
	fi
done
for p in "${pids[@]}"; do
	wait "$p" || buildfail=1
done
if [ $buildfail -ne 0 ]; then
	for s in $srcs; do
		o=$out/obj/$(echo "$s" | tr / _ | sed 's/\.c$/.o/')
		[ -s "$o.log" ] && cat "$o.log" >&2
		grep -q 'error:' "$o.log" 2>/dev/null && rm -f "$o"
	done
	echo "fuzz: the sources under test do not compile" >&2
	fail=${#harnesses[@]}
	failed=("${harnesses[@]}")
	summary
	exit 1
fi
rm -f "$out/libfuzzcore.a"
ar rcs "$out/libfuzzcore.a" "${objs[@]}"

for h in "${harnesses[@]}"; do
	src=$top/tests/fuzz/fuzz_$h.c
	bin=$out/bin/fuzz_$h
	log=$out/fuzz_$h.log
	if [ ! -f "$src" ]; then
		echo "fuzz: $h: no $src" >&2
		fail=$((fail + 1)); failed+=("$h")
		continue
	fi
	# shellcheck disable=SC2086
	if ! $cc $cflags -fsanitize=fuzzer "$src" "$out/libfuzzcore.a" $pkg_libs -o "$bin" 2>"$log"; then
		cat "$log" >&2
		echo "fuzz: $h: build failed" >&2
		fail=$((fail + 1)); failed+=("$h")
		continue
	fi
	work=$out/run/$h
	art=$out/artifacts/$h
	rm -rf "$work"
	mkdir -p "$work" "$art" "$top/tests/fuzz/corpus/$h"
	# The committed regression inputs run first, once each.
	regress=()
	for c in "$top"/tests/fuzz/crashes/"$h"-*; do
		[ -f "$c" ] && regress+=("$c")
	done
	status=0
	if [ ${#regress[@]} -gt 0 ]; then
		"$bin" -runs=1 "${regress[@]}" </dev/null >"$log.regress" 2>&1 || status=$?
		if [ $status -ne 0 ]; then
			tail -40 "$log.regress" >&2
			echo "fuzz: $h: a committed regression input in tests/fuzz/crashes/ fails" >&2
		fi
	fi
	if [ $status -eq 0 ]; then
		"$bin" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 \
			-print_final_stats=1 -artifact_prefix="$art/" "$work" "$top/tests/fuzz/corpus/$h" \
			</dev/null >"$log" 2>&1 || status=$?
		if [ $status -ne 0 ] || grep -qE 'ERROR: (Address|Leak|UndefinedBehavior)Sanitizer|runtime error:|fuzz invariant failed' "$log"; then
			[ $status -eq 0 ] && status=1
			tail -60 "$log" >&2
			echo "fuzz: $h: FAILED (exit $status); artifacts in $art" >&2
		fi
	fi
	if [ $status -eq 0 ]; then
		stats=$(grep -E '^#[0-9]+.*DONE' "$log" | tail -1)
		echo "fuzz: $h: ok ${stats:-}"
		pass=$((pass + 1))
	else
		fail=$((fail + 1)); failed+=("$h")
	fi
done
summary
[ $fail -eq 0 ]
