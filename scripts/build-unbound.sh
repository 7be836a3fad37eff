#!/usr/bin/env bash
# build-unbound.sh — get the source of the Unbound version Debian ships
# (apt-get source: upstream tarball + Debian's patches) and build it with
# --with-dynlibmodule --with-libevent into build/, once.
# Prints nothing and exits at once when that build is already there.
# Result: build/unbound/ is the configured, built source tree (config.h, unbound,
# unbound-control, unbound-checkconf); redsink's configure points at it.
#
# build-unbound.sh --source DIR: only fetch that source into the empty or new
# directory DIR (the .dsc, the tarballs and the unpacked tree unbound-VERSION/,
# patches applied) and print the tree's path: scripts/package.sh rebuilds the
# Debian packages from it.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
out="$top/build/unbound"
stamp="$out/.redsink-built"

ver=$(apt-cache policy unbound 2>/dev/null | awk '/Candidate:/ {print $2}')
if [ -z "$ver" ] || [ "$ver" = "(none)" ]; then
	apt-get update -qq
	ver=$(apt-cache policy unbound | awk '/Candidate:/ {print $2}')
fi

# fetch_source DIR: apt-get source of unbound=$ver into DIR; prints the tree.
fetch_source() {
	local work=$1 dir
	local src_list=/etc/apt/sources.list.d/redsink-deb-src.sources
	if ! grep -rqs '^Types:.*deb-src' /etc/apt/sources.list.d/ && ! grep -qs '^deb-src' /etc/apt/sources.list; then
		# The same archives and suites as the binary packages, for source packages.
		sed -e 's/^Types: deb$/Types: deb-src/' /etc/apt/sources.list.d/debian.sources > "$src_list"
		apt-get update -qq
	fi
	mkdir -p "$work"
	(cd "$work" && apt-get source -qq "unbound=$ver" >/dev/null 2>&1) || {
		# retry once with output, so the reason is visible
		(cd "$work" && apt-get source "unbound=$ver" >&2)
	}
	dir=$(find "$work" -mindepth 1 -maxdepth 1 -type d -name 'unbound-*' | head -n1)
	[ -n "$dir" ] || { echo "build-unbound: apt-get source produced no tree" >&2; return 1; }
	echo "$dir"
}

if [ "${1:-}" = "--source" ]; then
	[ -n "${2:-}" ] || { echo "usage: build-unbound.sh --source DIR" >&2; exit 2; }
	fetch_source "$2"
	exit 0
fi

if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$ver" ]; then
	exit 0
fi

echo "build-unbound: building Unbound $ver (Debian source, patches applied) with dynlib"
work="$top/build/unbound-src"
rm -rf "$work" "$out"
dir=$(fetch_source "$work")
mv "$dir" "$out"
rm -rf "$work"

cd "$out"
./configure -q --with-libevent --with-dynlibmodule --disable-rpath \
	--disable-flto --with-pidfile= --with-chroot-dir= \
	--with-rootkey-file=/usr/share/dns/root.key >/dev/null
make -s -j"$(nproc)" >/dev/null 2>"$out/build.log" || { tail -n 40 "$out/build.log" >&2; exit 1; }
echo "$ver" > "$stamp"
echo "build-unbound: done: $out/unbound"
