#!/usr/bin/env bash
# tests/package/run.sh — install the packages scripts/package.sh built into a
# clean Debian bookworm root and run them from their installed paths only:
# apt installs unbound (the +redsink rebuild) and redsink from the .debs and
# redis-server from the archive; then, in a chroot, Redis, the packaged Unbound
# with the packaged module (/etc/unbound/unbound.conf + the package's
# unbound.conf.d snippet, enabled the way it says; started with the ExecStart
# line of unbound.service: no init in a chroot) and redsink-warnd (the
# ExecStart line of redsink-warnd.service with /etc/default/redsink-warnd).
# Checks a blocked answer (sinkhole + EDE 16), an unblocked one and the
# warning page (451 with the order's reference).
#
# Usage: tests/package/run.sh [PKGDIR]    (default build/pkg: the .debs are in PKGDIR/debs)
# The root: debootstrap --variant=minbase bookworm from the mirror of
# /etc/apt/sources.list.d/debian.sources, made once and kept as a tarball
# (build/pkg-root/bookworm-minbase.tar; remove it to start over); every run
# unpacks a fresh copy into build/pkg-root/root. Downloaded .debs are kept in
# build/pkg-root/archives (bind-mounted as the root's apt cache).
# Unblocked answers come from an auth-zone (zones/example.zone, for-upstream):
# they go through the whole module chain (dynlib validator iterator) without
# any upstream server. Nothing talks to addresses outside 127.0.0.1: the
# servers listen on free loopback ports (the network namespace is the host's),
# the root trust anchor (which would have Unbound probe the root servers) is
# removed from the test root, and outgoing queries leave from 127.0.0.1.
# Ends with "package: N passed, M failed" (scripts/test.sh counts it).
set -uo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
pkg=$(realpath -m "${1:-$top/build/pkg}")
cache=$top/build/pkg-root
root=$cache/root
base=$cache/bookworm-minbase.tar
export PATH=/usr/sbin:/usr/bin:/sbin:/bin
export DEBIAN_FRONTEND=noninteractive

passed=0
failed=0
check() { # description, then a command: passes when it succeeds
	local what=$1
	shift
	if "$@"; then
		echo "ok   - $what"
		passed=$((passed + 1))
	else
		echo "FAIL - $what"
		failed=$((failed + 1))
	fi
}
finish() {
	echo "package: $passed passed, $failed failed"
	[ "$failed" -eq 0 ]
	exit
}
fatal() { # a step the rest depends on failed: count it and stop
	echo "package: $*" >&2
	failed=$((failed + 1))
	finish
}

# ---- processes and mounts, undone on every exit ----
pids=()
mounts=()
cleanup() {
	local p m i
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
	# up to 10 s to stop (unbound writes its stats, redis its log), then SIGKILL
	for p in "${pids[@]}"; do
		for ((i = 0; i < 100; i++)); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
		if kill -0 "$p" 2>/dev/null; then
			echo "package: PID $p did not stop in 10 s after SIGTERM: SIGKILL" >&2
			kill -9 "$p" 2>/dev/null
		fi
		wait "$p" 2>/dev/null
	done
	for ((m = ${#mounts[@]} - 1; m >= 0; m--)); do umount "${mounts[m]}" 2>/dev/null || umount -l "${mounts[m]}"; done
}
trap cleanup EXIT
trap 'exit 130' INT TERM
mounted_below() { findmnt -rn -o TARGET | grep -q "^$1"; }

for t in debootstrap chroot dig curl python3 dpkg-architecture timeout findmnt; do
	command -v "$t" >/dev/null || fatal "$t is missing (scripts/deps.sh installs what this test needs)"
done
debs=$pkg/debs
ls "$debs"/unbound_*.deb "$debs"/redsink_*.deb >/dev/null 2>&1 || fatal "no .debs in $debs: run scripts/package.sh first"

# ---- a clean bookworm root ----
mkdir -p "$cache/archives/partial"
if mounted_below "$root"; then fatal "something is still mounted below $root: umount it first"; fi
rm -rf "$root"
if [ ! -f "$base" ]; then
	mirror=$(awk '/^URIs:/ { print $2; exit }' /etc/apt/sources.list.d/debian.sources 2>/dev/null)
	echo "package: debootstrap bookworm (minbase) from ${mirror:=http://deb.debian.org/debian}"
	timeout 1200 debootstrap --variant=minbase bookworm "$root" "$mirror" >"$cache/debootstrap.log" 2>&1 ||
		{ tail -n 20 "$cache/debootstrap.log"; fatal "debootstrap failed ($cache/debootstrap.log)"; }
	# the host's archive list (the Debian archive and its security suite)
	rm -f "$root"/etc/apt/sources.list
	cp /etc/apt/sources.list.d/debian.sources "$root/etc/apt/sources.list.d/"
	cp /etc/resolv.conf "$root/etc/resolv.conf"
	timeout 300 chroot "$root" apt-get update -qq || fatal "apt-get update in the new root failed (or took over 300 s)"
	rm -f "$root"/var/cache/apt/archives/*.deb
	tar -C "$root" -cf "$base.tmp" . && mv "$base.tmp" "$base"
else
	mkdir -p "$root"
	tar -C "$root" -xf "$base" || fatal "cannot unpack $base"
	cp /etc/resolv.conf "$root/etc/resolv.conf"
fi
# No service may start on install (there is no init; the test starts its own).
printf '#!/bin/sh\nexit 101\n' > "$root/usr/sbin/policy-rc.d"
chmod 755 "$root/usr/sbin/policy-rc.d"
mount -t proc proc "$root/proc" && mounts+=("$root/proc") || fatal "cannot mount /proc in the root"
mount --bind "$cache/archives" "$root/var/cache/apt/archives" && mounts+=("$root/var/cache/apt/archives") ||
	fatal "cannot mount the apt cache in the root"
# a command in the root, clean environment; "${CH[@]}" CMD & (not a function) so that $! is
# the server's own PID (chroot and env exec it)
CH=(chroot "$root" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8)
ch() { "${CH[@]}" "$@"; }

# ---- install: the two .debs (apt resolves the rest from the archive) ----
mkdir -p "$root/tmp/debs"
cp "$debs"/unbound_*.deb "$debs"/redsink_*.deb "$root/tmp/debs/"
local_debs=()
for f in "$root"/tmp/debs/*.deb; do local_debs+=("/tmp/debs/${f##*/}"); done
install_pkgs() {
	timeout 900 "${CH[@]}" apt-get install -y -q --no-install-recommends "${local_debs[@]}" redis-server \
		systemd procps >"$cache/install.log" 2>&1
}
install_pkgs || { timeout 300 "${CH[@]}" apt-get update -qq && install_pkgs; } ||
	{ tail -n 30 "$cache/install.log"; fatal "apt-get install failed or took too long ($cache/install.log)"; }
ubver=$(dpkg-deb -f "$(ls "$debs"/unbound_*.deb | head -n1)" Version)
check "unbound $ubver is installed (the +redsink rebuild)" \
	test "$(ch dpkg-query -W -f='${Version}' unbound)" = "$ubver"
depends_exactly() { ch dpkg-query -W -f='${Depends}' redsink | grep -qF "unbound (= $ubver)"; }
check "redsink depends on exactly that unbound" depends_exactly
dynlib_built() { ch unbound -V | grep -q -- --with-dynlibmodule; }
check "the packaged unbound was built --with-dynlibmodule" dynlib_built
multiarch=$(dpkg-architecture -qDEB_HOST_MULTIARCH)
for f in /usr/lib/"$multiarch"/redsink/redsink.so /usr/bin/redsink-ctl /usr/bin/redsink-stats /usr/bin/redsink-warnd \
	/usr/bin/redsink-mkgeo /usr/share/man/man1/redsink-ctl.1.gz /usr/share/man/man8/redsink-warnd.8.gz \
	/usr/share/redsink/templates/en.html /lib/systemd/system/redsink-warnd.service /etc/unbound/redsink.conf \
	/etc/unbound/unbound.conf.d/redsink.conf /usr/share/doc/redsink/changelog.gz \
	/usr/share/doc/redsink/examples/redsink.rules.yml /usr/share/doc/redsink/examples/redsink.rules.test.yml \
	/usr/share/doc/redsink/examples/prometheus.example.yml /usr/share/doc/redsink/examples/grafana-dashboard.json; do
	check "installed: $f" test -e "$root$f"
done
absent() { ! grep -q "$@"; } # absent PATTERN FILE...
check "the unbound.conf.d snippet is disabled as installed" absent '^[^#]' "$root/etc/unbound/unbound.conf.d/redsink.conf"
user_exists() { ch getent passwd redsink >/dev/null; }
check "the user redsink exists (redsink-warnd --user redsink)" user_exists
# the units as systemd reads them (syntax, the commands they run exist); systemd and
# procps (/bin/kill, which Debian's unbound.service uses too) are on any server
units=(/lib/systemd/system/redsink-warnd.service /lib/systemd/system/redsink-expire.service
	/lib/systemd/system/redsink-expire.timer /lib/systemd/system/unbound.service)
verify_units() {
	ch systemd-analyze verify --man=no "${units[@]}" >"$cache/systemd-verify.log" 2>&1 ||
		{ sed 's/^/   /' "$cache/systemd-verify.log"; return 1; }
}
check "systemd-analyze verify: the packaged units and unbound.service" verify_units

# ---- free loopback ports (the network namespace is the host's) ----
read -r redis_port dns_port http_port < <(python3 - <<'PY'
import socket
socks = [socket.socket() for _ in range(3)]
for s in socks:
    s.bind(("127.0.0.1", 0))
print(*(s.getsockname()[1] for s in socks))
PY
)
logs=$cache/logs
rm -rf "$logs"
mkdir -p "$logs"

# ---- Redis, and an order written with the packaged redsink-ctl ----
"${CH[@]}" redis-server --port "$redis_port" --bind 127.0.0.1 --save '' --appendonly no --daemonize no \
	>"$logs/redis.log" 2>&1 &
pids+=($!)
for _ in $(seq 50); do ch redis-cli -p "$redis_port" ping >/dev/null 2>&1 && break; sleep 0.1; done
ctl() { ch redsink-ctl --redis "127.0.0.1:$redis_port" --by package-test --quiet "$@" >/dev/null; }
check "redsink-ctl order add" ctl order add pkg-1 --authority "Package Test Court" --reference "PT-15/2026" \
	--scope '*' --action sinkhole --reason "Package test" --url https://orders.example.org/pt-15
push_list() { echo pirate.example | ctl push pkg-1 --why "package test"; }
check "redsink-ctl push" push_list

# ---- Unbound: the packaged configuration, the module enabled as the snippet says ----
sed -i -e "s/^read-redis:.*/read-redis: 127.0.0.1:$redis_port/" -e 's/^sinkhole-ipv4:.*/sinkhole-ipv4: 127.0.0.1/' \
	"$root/etc/unbound/redsink.conf"
echo "resolver-name: package-test" >> "$root/etc/unbound/redsink.conf"
sed -i '/^#server:/,$ s/^#//' "$root/etc/unbound/unbound.conf.d/redsink.conf"
rm -f "$root/etc/unbound/unbound.conf.d/root-auto-trust-anchor-file.conf"
cp "$top/zones/example.zone" "$root/etc/unbound/package-test-example.zone"
cat > "$root/etc/unbound/unbound.conf.d/package-test.conf" <<CONF
# tests/package/run.sh: loopback only, an auth-zone as the upstream of example.
server:
    interface: 127.0.0.1
    port: $dns_port
    outgoing-interface: 127.0.0.1
    do-ip6: no
    use-syslog: no
    verbosity: 1
    domain-insecure: "example."
auth-zone:
    name: "example."
    zonefile: "/etc/unbound/package-test-example.zone"
    for-downstream: no
    for-upstream: yes
    fallback-enabled: no
CONF
checkconf() { ch unbound-checkconf >/dev/null; }
check "unbound-checkconf accepts the configuration" checkconf
check "module-config is the snippet's (dynlib first)" \
	test "$(ch unbound-checkconf -o module-config)" = "dynlib validator iterator"
execstart=$(sed -n 's/^ExecStart=//p' "$root/lib/systemd/system/unbound.service")
daemon_opts=$(ch sh -c '[ -f /etc/default/unbound ] && . /etc/default/unbound; echo "${DAEMON_OPTS:-}"')
echo "package: starting unbound as unbound.service does: ${execstart/\$DAEMON_OPTS/$daemon_opts}"
"${CH[@]}" sh -c "DAEMON_OPTS='$daemon_opts'; exec $execstart" >"$logs/unbound.log" 2>&1 &
pids+=($!)
q() { dig +time=1 +tries=1 -p "$dns_port" @127.0.0.1 "$@"; }
up=no
for _ in $(seq 100); do
	q ok.example A >/dev/null 2>&1 && { up=yes; break; }
	kill -0 "${pids[-1]}" 2>/dev/null || break
	sleep 0.1
done
[ $up = yes ] || { tail -n 20 "$logs/unbound.log"; fatal "the packaged unbound did not answer ($logs/unbound.log)"; }
check "the module is loaded (unbound's log)" grep -q 'redsink' "$logs/unbound.log"

# the list reaches the module through the changes stream; wait for the block
blocked=
for _ in $(seq 50); do
	blocked=$(q www.pirate.example A)
	grep -q '^www\.pirate\.example\..*IN[[:space:]]*A[[:space:]]*127\.0\.0\.1' <<<"$blocked" && break
	sleep 0.1
done
printf '%s\n' "$blocked" | sed -n '/HEADER/p;/EDE/p;/ANSWER SECTION/,/^$/p' >"$logs/blocked.txt"
echo "== blocked:"
sed 's/^/   /' "$logs/blocked.txt"
check "blocked: www.pirate.example A is the sinkhole 127.0.0.1" \
	grep -q '^www\.pirate\.example\..*IN[[:space:]]*A[[:space:]]*127\.0\.0\.1' "$logs/blocked.txt"
ede_names_order() { grep 'EDE: 16' "$logs/blocked.txt" | grep -q 'PT-15/2026'; }
check "blocked: EDE 16 (Censored) naming the order" ede_names_order
q ok.example A >"$logs/unblocked.txt"
echo "== unblocked:"
sed -n '/HEADER/p;/ANSWER SECTION/,/^$/p' "$logs/unblocked.txt" | sed 's/^/   /'
check "unblocked: ok.example A is the zone's 198.51.100.10" \
	grep -q '^ok\.example\..*IN[[:space:]]*A[[:space:]]*198\.51\.100\.10' "$logs/unblocked.txt"
check "unblocked: no EDE" absent 'EDE' "$logs/unblocked.txt"

# ---- the warning page: redsink-warnd as its unit starts it ----
sed -i "s|^REDSINK_WARND_OPTS=.*|REDSINK_WARND_OPTS=\"--listen 127.0.0.1:$http_port --redis 127.0.0.1:$redis_port\"|" \
	"$root/etc/default/redsink-warnd"
wexec=$(sed -n 's/^ExecStart=//p' "$root/lib/systemd/system/redsink-warnd.service")
echo "package: starting redsink-warnd as redsink-warnd.service does: $wexec"
"${CH[@]}" sh -c ". /etc/default/redsink-warnd; exec $wexec" >"$logs/warnd.log" 2>&1 &
pids+=($!)
for _ in $(seq 50); do
	[ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$http_port/healthz")" = 200 ] && break
	sleep 0.1
done
code=$(curl -s -o "$logs/page.html" -w '%{http_code}' -H 'Host: www.pirate.example' "http://127.0.0.1:$http_port/")
echo "== warning page for www.pirate.example: HTTP $code"
sed -n '/<h1/p' "$logs/page.html" | sed 's/<[^>]*>//g; s/^ */   /' | head -2
check "warning page: 451 for the blocked name" test "$code" = 451
check "warning page: names the order's reference" grep -q 'PT-15/2026' "$logs/page.html"
check "warning page: the packaged templates (no template error)" grep -qi '<html' "$logs/page.html"
code=$(curl -s -o /dev/null -w '%{http_code}' -H 'Host: ok.example' "http://127.0.0.1:$http_port/")
check "warning page: 404 for a name that is not blocked" test "$code" = 404
runs_as_redsink() { [ "$(ps -o uid= -p "${pids[-1]}" | tr -d ' ')" = "$(ch id -u redsink)" ]; }
check "redsink-warnd dropped to the user redsink" runs_as_redsink

finish
