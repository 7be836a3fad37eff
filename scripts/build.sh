#!/usr/bin/env bash
# build.sh — configure (once) and build redsink against build/unbound.
# Usage: scripts/build.sh [BUILDDIR [configure args...]]
#   default BUILDDIR is the source tree itself; scripts/test.sh uses build-asan/
#   for the sanitizer build. Quick when nothing changed.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
bdir=${1:-$top}
shift || true
cd "$top"
if [ ! -x configure ] || [ configure.ac -nt configure ] || [ Makefile.am -nt configure ]; then
	autoreconf -fi >/dev/null 2>&1 || autoreconf -fi
fi
mkdir -p "$bdir"
cd "$bdir"
if [ ! -f Makefile ] || [ "$top/configure" -nt Makefile ]; then
	"$top/configure" -q --with-unbound-src="$top/build/unbound" "$@"
fi
make -s -j"$(nproc)" >/dev/null
