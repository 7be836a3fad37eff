#!/usr/bin/env bash
# replay.sh — Unbound's own replay suite with redsink loaded.
#
# Runs Unbound's `testbound` over every testdata/*.rpl of the Unbound source
# the module is built against (build/unbound), once as shipped and once with
# redsink's dynlib module in the scenario's module chain and a list of 1,000
# names loaded from a private redis-server. Every scenario that passes without
# the module must pass with it; the script exits non-zero when one does not
# (unless it is on the reasoned exception list below, empty today).
#
# Where dynlib goes: first in the chain ("dynlib validator iterator",
# "dynlib respip validator iterator", "dynlib iterator"), except behind dns64,
# which Unbound requires to be first (doc/README.DNS64: "module-config must
# start with dns64"): "dns64 dynlib validator iterator". Scenarios whose chain
# starts with dns64 are also run with dynlib literally first, an unsupported
# order that is expected to fail (doc/architecture.md, "Module orders"); that
# run is reported, not counted.
#
# testbound is linked here (build/replay/testbound) from the objects of
# build/unbound plus testbound's own four sources compiled into
# build/replay/tb/, with -Wl,--export-dynamic so that the dlopen()ed module
# finds Unbound's symbols; build/unbound itself is not touched. Quick when
# already built.
#
# Then redsink's own scenarios, tests/replay/*.rpl (same format; their
# dynlib-file is written "@REDSINK_MODULE@"), are run with the module: they
# check what the Unbound suite cannot, e.g. that a blocked answer is never
# served from Unbound's cache in each supported module order.
#
# Usage: scripts/replay.sh [-j JOBS] [-k] [SCENARIO...]
#   -j JOBS   parallel testbound runs (default 2, the most this machine allows)
#   -k        keep every log (default: only the logs of failed runs)
#   SCENARIO  names (dns64_lookup) or .rpl paths; default: all of testdata/
# REPLAY_NO_BUILD=1 uses build/replay's module as it is (no scripts/build.sh).
# Results and logs: build/replay/run/. Last line: "replay: N passed, M failed"
# (N: Unbound scenarios passing both ways plus redsink scenarios passing; M:
# Unbound scenarios that pass as shipped and fail with the module, redsink
# scenarios failing, or 1 for a set-up failure).
set -uo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
ub=$top/build/unbound
out=$top/build/replay
run=$out/run
tb=$out/testbound
so=$out/module/.libs/redsink.so
NAMES=1000
NAME_SUFFIX=redsink-replay.example # no scenario queries anything under it (checked below)

# Scenario runs that may fail with the module although they pass without it,
# with the reason. "name:variant". Keep it empty: a difference is our bug until
# proven otherwise (issue 10).
declare -A EXCEPTIONS=()

# ---- one testbound run (the script calls itself through xargs) ----
if [ "${1:-}" = "--one" ]; then
	variant=$2 rpl=$3
	name=$(basename "$rpl" .rpl)
	name=${name%.first}
	log=$run/logs/$variant/$name.log
	t0=$(date +%s.%N)
	timeout 300 "$tb" -p "$rpl" -o -vvvvv >"$log" 2>&1
	rc=$?
	res=PASS
	[ $rc -eq 0 ] || res=FAIL
	if [ "$variant" != plain ] && [ $res = PASS ]; then
		# the module must really have run with the whole list
		if ! grep -Eq "redsink: .*[^0-9]$NAMES domains" "$log"; then
			res=NOLIST
		elif ! grep -q "redsink: .* ready" "$log"; then
			res=NOLIST
		fi
	fi
	t1=$(date +%s.%N)
	echo "$res $rc $(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }')" >"$run/res/$variant/$name"
	[ $res = PASS ] && [ -z "${REPLAY_KEEP:-}" ] && rm -f "$log"
	exit 0
fi

jobs=2
keep=
while getopts "j:k" o; do
	case $o in
	j) jobs=$OPTARG ;;
	k) keep=1 ;;
	*) echo "usage: $0 [-j JOBS] [-k] [SCENARIO...]" >&2; exit 2 ;;
	esac
done
shift $((OPTIND - 1))

fail_setup() {
	echo "replay: $*" >&2
	echo "replay: 0 passed, 1 failed"
	exit 1
}

start=$(date +%s)
# One run at a time per build directory (the module build and build/replay/run
# are shared): wait for another run to end.
mkdir -p "$out"
exec 9>"$out/.replay.lock"
flock -w 1800 9 || fail_setup "another scripts/replay.sh still holds $out/.replay.lock"
[ -f "$ub/config.h" ] && [ -d "$ub/testdata" ] || fail_setup "no built Unbound tree at $ub (run scripts/deps.sh)"

# ---- the module and redsink-ctl ----
if [ -z "${REPLAY_NO_BUILD:-}" ]; then # REPLAY_NO_BUILD=1: use the module as it is
	"$top/scripts/build.sh" "$out" || fail_setup "building the module in $out failed"
fi
[ -f "$so" ] || fail_setup "no module at $so"
ctl=$out/tools/ctl/redsink-ctl
[ -x "$ctl" ] || fail_setup "no redsink-ctl at $ctl"

# ---- testbound, linked with --export-dynamic ----
build_testbound() {
	local vars objs srcs s o need=
	vars=$(make -s --no-print-directory -C "$ub" -f Makefile -f - replay-vars <<'EOF'
replay-vars:
	@echo "CC='$(CC)'"
	@echo "CFLAGS='$(CFLAGS)'"
	@echo "LDFLAGS='$(LDFLAGS)'"
	@echo "LIBS='$(SSLLIB) $(LIBS)'"
	@echo "OBJS='$(TESTBOUND_OBJ_LINK)'"
EOF
) || return 1
	local CC CFLAGS LDFLAGS LIBS OBJS
	eval "$vars"
	mkdir -p "$out/tb"
	# testbound's own objects; the rest (worker, daemon, mesh, modules, ...)
	# are build/unbound's, exactly as its Makefile links them.
	srcs="testbound testpkts replay fake_event"
	for s in $srcs; do
		o=$out/tb/$s.o
		if [ ! -f "$o" ] || [ "$ub/testcode/$s.c" -nt "$o" ] || [ "$ub/config.h" -nt "$o" ]; then
			# shellcheck disable=SC2086 # flags are word lists
			$CC -I"$ub" -I"$ub/testcode" ${CFLAGS//-DSRCDIR=./-DSRCDIR=$ub} -c "$ub/testcode/$s.c" -o "$o" || return 1
			need=1
		fi
	done
	objs=
	for s in $OBJS; do
		case $s in
		testbound.lo | testpkts.lo | replay.lo | fake_event.lo) objs="$objs $out/tb/${s%.lo}.o" ;;
		*)
			[ -f "$ub/${s%.lo}.o" ] || { echo "replay: missing $ub/${s%.lo}.o" >&2; return 1; }
			objs="$objs $ub/${s%.lo}.o"
			[ "$ub/${s%.lo}.o" -nt "$tb" ] && need=1
			;;
		esac
	done
	if [ -n "$need" ] || [ ! -x "$tb" ]; then
		# shellcheck disable=SC2086
		$CC $CFLAGS $LDFLAGS -o "$tb.tmp" $objs $LIBS -Wl,--export-dynamic || return 1
		mv "$tb.tmp" "$tb"
	fi
}
build_testbound || fail_setup "building testbound failed"

# ---- scenarios ----
scen=()
if [ $# -gt 0 ]; then
	for a in "$@"; do
		case $a in
		*.rpl) scen+=("$(cd "$(dirname "$a")" && pwd)/$(basename "$a")") ;;
		*) scen+=("$ub/testdata/$a.rpl") ;;
		esac
	done
else
	scen=("$ub"/testdata/*.rpl)
fi
for f in "${scen[@]}"; do [ -f "$f" ] || fail_setup "no scenario $f"; done
if grep -qil "$NAME_SUFFIX" "$ub"/testdata/*.rpl; then
	fail_setup "a scenario mentions $NAME_SUFFIX: choose another suffix for the list"
fi

rm -rf "$run"
mkdir -p "$run/rpl" "$run/res/plain" "$run/res/dynlib" "$run/res/dynlib-first" \
	"$run/logs/plain" "$run/logs/dynlib" "$run/logs/dynlib-first" "$run/own" "$run/res/redsink" \
	"$run/logs/redsink"

# ---- a private Redis with 1,000 names ----
redis_pid=
cleanup() {
	if [ -n "$redis_pid" ]; then
		kill "$redis_pid" 2>/dev/null
		wait "$redis_pid" 2>/dev/null
		redis_pid=
	fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM
# A port the kernel just handed out is free now; it can still be taken
# before redis-server binds it (an outgoing connection of another test gets
# an ephemeral port), so a server that exits at once is tried again on a new port.
free_port() {
	/usr/bin/python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
mkdir -p "$run/redis"
port=
for attempt in 1 2 3 4 5; do
	p=$(free_port) || fail_setup "no free port for redis-server"
	redis-server --port "$p" --bind 127.0.0.1 --save "" --appendonly no --daemonize no \
		--dir "$run/redis" --logfile "$run/redis/redis.log" 9>&- &
	redis_pid=$!
	echo "$redis_pid" >"$run/redis/redis.pid"
	for _ in $(seq 200); do
		redis-cli -p "$p" ping 2>/dev/null | grep -q PONG && { port=$p; break; }
		kill -0 "$redis_pid" 2>/dev/null || break
		sleep 0.1
	done
	[ -n "$port" ] && break
	echo "replay: redis-server on port $p did not start (attempt $attempt):" >&2
	tail -n 5 "$run/redis/redis.log" >&2 2>/dev/null
	cleanup
done
[ -n "$port" ] || fail_setup "redis-server did not start in 5 attempts (log: $run/redis/redis.log)"
seq -f "n%04g.$NAME_SUFFIX" 1 "$NAMES" >"$run/names.txt"
export REDSINK_REDIS=127.0.0.1:$port
"$ctl" -q --by replay order add replay-1 --authority "Replay suite" --reference "R-1" --scope '*' \
	--action sinkhole >/dev/null || fail_setup "redsink-ctl order add failed"
"$ctl" -q --by replay push replay-1 "$run/names.txt" --why "replay suite" >/dev/null ||
	fail_setup "redsink-ctl push failed"
n=$(redis-cli -p "$port" scard "redsink:order:replay-1:domains")
[ "$n" = "$NAMES" ] || fail_setup "Redis holds $n names, not $NAMES"
cat >"$run/redsink.conf" <<EOF
# redsink.conf of scripts/replay.sh
read-redis: 127.0.0.1:$port
resolver-name: replay
sinkhole-ipv4: 192.0.2.80
sinkhole-ipv6: 2001:db8::80
ttl: 60
jurisdiction: IT
EOF
export REDSINK_CONF=$run/redsink.conf
[ -n "$keep" ] && export REPLAY_KEEP=1

# ---- the scenarios with the module: dynlib inserted into module-config ----
# Unbound's default chain when a scenario sets none:
if grep -q '^#define CLIENT_SUBNET' "$ub/config.h"; then
	default_chain="subnetcache validator iterator"
else
	default_chain="validator iterator"
fi
# mode "supported": dynlib first, behind dns64 when the chain starts with it;
# mode "first": dynlib first, whatever the chain.
with_dynlib() { # rpl mode
	awk -v so="$so" -v def="$default_chain" -v mode="$2" '
	function ins(chain,   rest) {
		sub(/^[ \t]+/, "", chain)
		sub(/[ \t]+$/, "", chain)
		if (mode == "supported" && chain ~ /^dns64([ \t]|$)/) {
			rest = substr(chain, 6)
			sub(/^[ \t]+/, "", rest)
			return rest == "" ? "dns64 dynlib" : "dns64 dynlib " rest
		}
		return chain == "" ? "dynlib" : "dynlib " chain
	}
	BEGIN { inconf = 1; seen = 0 }
	inconf && /^[ \t]*(server:[ \t]*)?module-config:/ {
		line = $0
		i = index(line, "module-config:")
		head = substr(line, 1, i - 1)
		val = substr(line, i + 14)
		if (match(val, /"[^"]*"/))
			chain = substr(val, RSTART + 1, RLENGTH - 2)
		else {
			chain = val
			sub(/#.*/, "", chain)
		}
		print head "module-config: \"" ins(chain) "\""
		seen = 1
		next
	}
	inconf && /^[ \t]*CONFIG_END/ {
		if (!seen) {
			print "server:"
			print "\tmodule-config: \"" ins(def) "\""
		}
		print "dynlib:"
		print "\tdynlib-file: \"" so "\""
		inconf = 0
	}
	{ print }
	' "$1"
}
dns64_first=()
for f in "${scen[@]}"; do
	name=$(basename "$f" .rpl)
	with_dynlib "$f" supported >"$run/rpl/$name.rpl"
	grep -q 'module-config: "[^"]*dynlib' "$run/rpl/$name.rpl" ||
		fail_setup "could not insert dynlib into $f"
	if grep -Eq '^[[:space:]]*module-config:[[:space:]]*"dns64[ "]' "$f"; then
		with_dynlib "$f" first >"$run/rpl/$name.first.rpl"
		dns64_first+=("$name")
	fi
done

own=()
if [ $# -eq 0 ]; then
	for f in "$top"/tests/replay/*.rpl; do
		[ -f "$f" ] || continue
		name=$(basename "$f" .rpl)
		sed "s|@REDSINK_MODULE@|$so|" "$f" >"$run/own/$name.rpl"
		own+=("$name")
	done
fi

# ---- run: at most $jobs testbound processes at a time ----
{
	for f in "${scen[@]}"; do
		name=$(basename "$f" .rpl)
		printf '%s\0%s\0' plain "$f"
		printf '%s\0%s\0' dynlib "$run/rpl/$name.rpl"
	done
	for name in "${dns64_first[@]}"; do
		printf '%s\0%s\0' dynlib-first "$run/rpl/$name.first.rpl"
	done
	for name in "${own[@]}"; do
		printf '%s\0%s\0' redsink "$run/own/$name.rpl"
	done
} | xargs -0 -n 2 -P "$jobs" "$0" --one
cleanup

# ---- summary ----
total=0 p_plain=0 p_mod=0 both=0 regress=0 excused=0
regressions=() improvements=() nolist=()
for f in "${scen[@]}"; do
	name=$(basename "$f" .rpl)
	total=$((total + 1))
	read -r rp _ _ <"$run/res/plain/$name" 2>/dev/null || rp=MISSING
	read -r rd _ _ <"$run/res/dynlib/$name" 2>/dev/null || rd=MISSING
	[ "$rp" = PASS ] && p_plain=$((p_plain + 1))
	[ "$rd" = PASS ] && p_mod=$((p_mod + 1))
	[ "$rd" = NOLIST ] && nolist+=("$name")
	if [ "$rp" = PASS ] && [ "$rd" = PASS ]; then
		both=$((both + 1))
	elif [ "$rp" = PASS ]; then
		if [ -n "${EXCEPTIONS[$name:dynlib]:-}" ]; then
			excused=$((excused + 1))
			regressions+=("$name (excused: ${EXCEPTIONS[$name:dynlib]})")
		else
			regress=$((regress + 1))
			regressions+=("$name: $rd with the module, log $run/logs/dynlib/$name.log")
		fi
	elif [ "$rd" = PASS ]; then
		improvements+=("$name")
	fi
done
echo "replay: $total scenarios (Unbound $(cat "$ub/.redsink-built" 2>/dev/null || echo '?'), testdata of $ub)"
echo "replay: passing without the module: $p_plain"
echo "replay: passing with the module ($NAMES names listed, dynlib first; behind dns64 when the chain starts with it): $p_mod"
if [ ${#regressions[@]} -gt 0 ]; then
	echo "replay: passing without, failing with the module:"
	printf '  %s\n' "${regressions[@]}"
fi
[ ${#nolist[@]} -eq 0 ] || echo "replay: module not loaded with the whole list in: ${nolist[*]}"
[ ${#improvements[@]} -eq 0 ] || echo "replay: failing without, passing with the module: ${improvements[*]}"
for f in "${scen[@]}"; do
	name=$(basename "$f" .rpl)
	read -r rp _ _ <"$run/res/plain/$name" 2>/dev/null || rp=MISSING
	[ "$rp" = PASS ] || echo "replay: fails as shipped (not counted): $name, log $run/logs/plain/$name.log"
done
for name in "${dns64_first[@]}"; do
	read -r rf _ _ <"$run/res/dynlib-first/$name" 2>/dev/null || rf=MISSING
	if [ "$rf" = PASS ]; then
		echo "replay: note: $name also passes with dynlib before dns64 (unsupported order)"
	else
		echo "replay: $name with dynlib before dns64: $rf, as expected: dns64 must be first (its PTR" \
			"synthesis and cache handling start only on module_event_new); see doc/architecture.md, Module orders"
	fi
done
own_pass=0 own_fail=0
for name in "${own[@]}"; do
	read -r ro _ _ <"$run/res/redsink/$name" 2>/dev/null || ro=MISSING
	if [ "$ro" = PASS ]; then
		own_pass=$((own_pass + 1))
	else
		own_fail=$((own_fail + 1))
		echo "replay: redsink scenario $name: $ro, log $run/logs/redsink/$name.log"
	fi
done
[ ${#own[@]} -eq 0 ] || echo "replay: redsink scenarios (tests/replay): $own_pass of ${#own[@]} pass"
echo "replay: $(($(date +%s) - start)) s, $jobs jobs, logs of failed runs in $run/logs"
echo "replay: $((both + own_pass)) passed, $((regress + own_fail)) failed"
[ "$regress" -eq 0 ] && [ "$own_fail" -eq 0 ] && [ "$total" -gt 0 ] && [ "$p_plain" -gt 0 ]
