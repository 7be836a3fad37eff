#!/usr/bin/env bash
# build.sh — configure (once) and build redsink against build/unbound.
# Usage: scripts/build.sh [BUILDDIR [configure args...]]
#   Out-of-tree builds: default BUILDDIR is build/redsink (the module is then
#   build/redsink/module/.libs/redsink.so, the tools build/redsink/tools/ctl/redsink-ctl,
#   tools/stats/redsink-stats, tools/warnd/redsink-warnd); scripts/test.sh also builds
#   build/asan with --enable-sanitizers. Quick when nothing changed.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
bdir=${1:-$top/build/redsink}
shift || true
cd "$top"
if [ -f config.status ]; then
	echo "build: the source tree was configured in place; run 'make distclean' first" >&2
	exit 1
fi
stale= # configure.ac, Makefile.am or a tool's build fragment changed since
for f in configure.ac Makefile.am tools/*/*.am; do
	if [ "$f" -nt configure ]; then stale=1; fi
done
if [ ! -x configure ] || [ -n "$stale" ]; then
	autoreconf -fi >/dev/null 2>&1 || autoreconf -fi
fi
mkdir -p "$bdir"
cd "$bdir"
if [ ! -f Makefile ] || [ "$top/configure" -nt Makefile ]; then
	"$top/configure" -q --with-unbound-src="$top/build/unbound" "$@"
fi
make -s -j"$(nproc)" >/dev/null
