#!/usr/bin/env bash
# deps.sh — install the Debian packages redsink needs to build, test and demo,
# and fetch + build the exact Unbound that Debian ships (with dynlib support).
# Idempotent: quick when everything is already there.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)

pkgs=(build-essential autoconf automake libtool pkg-config dpkg-dev quilt
      libhiredis-dev libevent-dev libmaxminddb-dev libcmocka-dev
      libssl-dev libexpat1-dev bison flex
      redis-server redis-tools nsd bind9-dnsutils dnsperf wrk nginx-light
      python3-pytest python3-dnspython python3-redis python3-cryptography binutils
      libidn2-dev libpsl-dev mmdb-bin
      chromium fonts-noto-cjk imagemagick curl
      prometheus python3-yaml
      debhelper lintian fakeroot debootstrap
      clang libclang-rt-14-dev llvm)

missing=()
for p in "${pkgs[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
	echo "deps: installing ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
	# Debian starts these as system services on install; redsink's scripts start
	# their own private instances, so the system ones are not needed
	# (prometheus: test_monitoring.py runs its own on a free port; its
	# Recommends, prometheus-node-exporter, is not installed). Without systemd,
	# invoke-rc.d started it from its init script unless policy-rc.d denied it.
	for s in redis-server nsd prometheus nginx; do
		if command -v systemctl >/dev/null && systemctl is-active -q "$s" 2>/dev/null; then
			systemctl stop "$s" || true
			if [ "$s" = prometheus ]; then systemctl disable -q "$s" || true; fi
		elif [ "$s" = prometheus ] && [ -f /run/prometheus/prometheus.pid ]; then
			/etc/init.d/prometheus stop >/dev/null 2>&1 || true # its pid file only
		fi
	done
fi

"$top/scripts/build-unbound.sh"
