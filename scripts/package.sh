#!/usr/bin/env bash
# package.sh — build the Debian packages an ISP installs with apt:
#   1. unbound: Debian's own unbound source (apt-get source, the version apt
#      installs), rebuilt with --with-dynlibmodule under a local version
#      VERSION+redsinkN (a changelog entry of ours, one line added to
#      debian/rules); all its binary packages (unbound, libunbound8,
#      unbound-anchor, unbound-host, python3-unbound, libunbound-dev).
#   2. redsink: this tree's debian/, built against that very build's configured
#      source tree (debian/rules: REDSINK_UNBOUND_SRC), Depends: unbound (= that
#      version).
# Both with dpkg-buildpackage (DEB_BUILD_OPTIONS="nocheck parallel=2"), then
# lintian on each .changes: any error fails the script.
#
# Usage: scripts/package.sh [OUTDIR]     (default build/pkg)
#   OUTDIR/unbound/  Debian's source, the rebuilt tree and its .debs
#   OUTDIR/redsink/  a copy of this tree (git's tracked and unignored files),
#                    the redsink .deb and .changes
#   OUTDIR/debs/     the .debs to install (hard links), what tests/package/run.sh uses
# The unbound build (the long part) is kept and reused while Debian's version
# and UNBOUND_REV below are the same; redsink is rebuilt on every run.
# Nothing is written into the source tree.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
out=$(realpath -m "${1:-$top/build/pkg}")
# Bump when the recipe of the unbound rebuild changes (the version gets +redsinkN).
UNBOUND_REV=1
export DEB_BUILD_OPTIONS="nocheck parallel=2"
# Debian's tools and Debian's Python only (a python3 of pyenv or /usr/local
# earlier in PATH would end up in unbound's Python module).
export PATH=/usr/sbin:/usr/bin:/sbin:/bin
unset PYTHONPATH PYTHONHOME VIRTUAL_ENV
export DEBIAN_FRONTEND=noninteractive

say() { echo "package: $*"; }
die() { echo "package: $*" >&2; exit 1; }

# ---- the Debian tools (each package's Build-Depends: apt-get build-dep below) ----
missing=()
for p in dpkg-dev debhelper lintian fakeroot; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] || die "missing Debian packages: ${missing[*]} (scripts/deps.sh installs them)"
build_deps() { # TREE: install what its debian/control's Build-Depends lists and is missing
	(cd "$1" && dpkg-checkbuilddeps 2>/dev/null) ||
		apt-get build-dep -y -qq --no-install-recommends "$1" >/dev/null
}

# ---- 1. unbound, rebuilt with dynlib support ----
ubdir=$out/unbound
debver=$(apt-cache policy unbound | awk '/Candidate:/ {print $2}')
[ -n "$debver" ] && [ "$debver" != "(none)" ] || die "apt knows no unbound package"
ubver=$debver+redsink$UNBOUND_REV
if [ "$(cat "$ubdir/.stamp" 2>/dev/null)" = "$ubver" ]; then
	say "unbound $ubver: already built ($ubdir)"
else
	say "unbound $ubver: rebuilding Debian's unbound $debver with --with-dynlibmodule"
	rm -rf "$ubdir"
	mkdir -p "$ubdir"
	tree=$("$top/scripts/build-unbound.sh" --source "$ubdir")
	build_deps "$tree"
	# the daemon's configure (the first of debian/rules' two builds; the
	# second, libunbound only, loads no modules)
	sed -i 's/^\t\t--with-pythonmodule \\$/&\n\t\t--with-dynlibmodule \\/' "$tree/debian/rules"
	grep -q -- '--with-dynlibmodule' "$tree/debian/rules" ||
		die "$tree/debian/rules: could not add --with-dynlibmodule (the rules changed?)"
	# a changelog entry of ours, in the form dch --local makes
	{
		printf 'unbound (%s) %s; urgency=medium\n\n' "$ubver" "$(dpkg-parsechangelog -l "$tree/debian/changelog" -S Distribution)"
		printf '  * Local rebuild for redsink: the daemon is configured --with-dynlibmodule,\n'
		printf '    so that it can load dynlib modules (redsink.so). No other change.\n\n'
		printf ' -- redsink packaging <redsink@packages.invalid>  %s\n\n' "$(date -R)"
		cat "$tree/debian/changelog"
	} > "$tree/debian/changelog.new"
	mv "$tree/debian/changelog.new" "$tree/debian/changelog"
	# bookworm's lintian flags Debian's own unbound for this dependency (an error):
	# kept as Debian ships it, the rebuild changes nothing but dynlib support
	printf '%s\n' "# redsink rebuild: inherited unchanged from Debian's $debver (lsb-base is" \
		"# transitional in bookworm and harmless); the rebuild only adds --with-dynlibmodule" \
		"unbound: depends-on-obsolete-package Depends: lsb-base (>= 3.0-6)" >> "$tree/debian/unbound.lintian-overrides"
	start=$(date +%s)
	(cd "$tree" && dpkg-buildpackage -b -us -uc) >"$ubdir/build.log" 2>&1 ||
		{ tail -n 40 "$ubdir/build.log" >&2; die "unbound: dpkg-buildpackage failed (log: $ubdir/build.log)"; }
	say "unbound: built in $(($(date +%s) - start)) s"
	grep -q '^#define WITH_DYNLIBMODULE' "$tree/b/unbound/config.h" || die "unbound: built without dynlib support"
	# the configured source tree redsink builds against: Debian's patched
	# source with the headers the daemon's configure generated (config.h,
	# dnscrypt/dnscrypt_config.h, dnstap/...: that build is out of tree, in b/unbound)
	(cd "$tree/b/unbound" && find . -name '*.h' -print0 | xargs -0 cp --parents -t "$tree")
	echo "$ubver" > "$ubdir/.stamp"
fi
tree=$(find "$ubdir" -mindepth 1 -maxdepth 1 -type d -name 'unbound-*' | head -n1)
[ -f "$tree/config.h" ] || die "$ubdir: no configured unbound tree (remove $ubdir and run again)"
ubchanges=$(ls "$ubdir"/unbound_*_*.changes | head -n1)

# ---- 2. redsink ----
rsdir=$out/redsink
rsver=$(dpkg-parsechangelog -l "$top/debian/changelog" -S Version)
newsver=$(sed -n 's/^\([0-9][0-9.]*\) .*/\1/p' "$top/NEWS" | head -n1)
[ "$rsver" = "$newsver" ] || die "debian/changelog is at $rsver but NEWS at $newsver: they go together"
acver=$(sed -n 's/^AC_INIT(\[redsink\], \[\([^]]*\)\].*/\1/p' "$top/configure.ac")
[ "$acver" = "$rsver" ] ||
	die "configure.ac's AC_INIT says $acver but debian/changelog $rsver (the tools would report $acver): they go together"
rm -rf "$rsdir"
src=$rsdir/redsink-$rsver
mkdir -p "$src"
# The tree as it is (tracked and new, unignored files): never build inside it,
# other builds share it. (git ls-files only reads.)
(cd "$top" && git ls-files -z --cached --others --exclude-standard | xargs -0 -r sh -c \
	'for f; do [ -e "$f" ] && printf "%s\0" "$f"; done' sh | tar --null -T - -cf -) | tar -C "$src" -xf -
build_deps "$src"
say "redsink $rsver: building against $tree"
start=$(date +%s)
(cd "$src" && REDSINK_UNBOUND_SRC=$tree dpkg-buildpackage -b -us -uc) >"$rsdir/build.log" 2>&1 ||
	{ tail -n 40 "$rsdir/build.log" >&2; die "redsink: dpkg-buildpackage failed (log: $rsdir/build.log)"; }
say "redsink: built in $(($(date +%s) - start)) s"
rschanges=$(ls "$rsdir"/redsink_*_*.changes | head -n1)

# ---- lintian: no errors ----
lint_fail=0
for c in "$ubchanges" "$rschanges"; do
	log=${c%.changes}.lintian
	lintian --profile debian --tag-display-limit 0 -I "$c" >"$log" 2>&1 || true
	say "lintian $(basename "$c"): $(grep -c '^E:' "$log" || true) errors, $(grep -c '^W:' "$log" || true) warnings, $(grep -c '^I:' "$log" || true) notes ($log)"
	if grep -q '^E:' "$log"; then
		grep '^E:' "$log" >&2
		lint_fail=1
	fi
done
[ $lint_fail -eq 0 ] || die "lintian reported errors"

rm -rf "$out/debs"
mkdir -p "$out/debs"
find "$ubdir" "$rsdir" -maxdepth 1 -name '*.deb' ! -name '*-dbgsym_*' -exec ln -t "$out/debs/" {} +
say "packages in $out/debs:"
(cd "$out/debs" && ls -1 *.deb | sed 's/^/  /')
