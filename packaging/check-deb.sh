#!/usr/bin/env bash
# CI check of the Debian package: build it, lintian (no errors), systemd-analyze verify on its unit,
# apt can resolve its dependencies, and an install into a throwaway root whose files land where the
# unit and the config expect (packaging/check_tree.py, run by the package's own venv).
#   bash packaging/check-deb.sh [DEB]     (no DEB: build one with packaging/build-deb.sh)
# Installs the tools it needs when they are missing (apt-get; sudo when not root), like bootstrap.sh.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$here"

#   lintian           the package check            systemd        systemd-analyze verify
#   python3-dev gcc   evdev's extension, built by Debian's python3 for the package's venv
#   binutils          strip                         python3-pil python3-yaml  the package's Debian deps
#   python3 python3-venv  Debian's interpreter the package's venv is built on
tools=(lintian systemd python3 python3-venv python3-dev gcc binutils python3-pil python3-yaml)
# shellcheck source=packaging/apt-ensure.sh
. packaging/apt-ensure.sh
apt_ensure check-deb "${tools[@]}"

work=$(mktemp -d "${TMPDIR:-/tmp}/handheld-check.XXXXXX")
trap 'rm -rf "$work"' EXIT
if [ $# -gt 0 ]; then deb=$(cd "$(dirname "$1")" && pwd)/$(basename "$1"); else
  deb=$(bash packaging/build-deb.sh "$work/dist" | tail -1); fi
echo "check-deb: $deb"

echo "--- lintian"
# errors in full; warnings counted by tag (most come from third-party wheels in the venv)
lintian --tag-display-limit 0 "$deb" > "$work/lintian.txt" 2>&1 || true
grep -v "running with root privileges" "$work/lintian.txt" | grep -E "^E:" || true
grep -E "^[WI]:" "$work/lintian.txt" | awk '{print $1, $3}' | sort | uniq -c | sort -rn || true
lintian --fail-on error "$deb" >/dev/null 2>&1 || { echo "check-deb: lintian reports errors" >&2; exit 1; }
echo "ok   lintian: no errors"

echo "--- install into a throwaway root"
root=$work/root
dpkg-deb -x "$deb" "$root"
dpkg-deb -e "$deb" "$root/DEBIAN"
apt-get install -s -qq "$deb" >/dev/null 2>"$work/apt.err" || {
  echo "check-deb: apt cannot satisfy the package's dependencies:" >&2; cat "$work/apt.err" >&2; exit 1; }
echo "ok   apt can resolve the dependencies"

echo "--- systemd-analyze verify"
# the unit as installed, with /opt/handheld pointing into the throwaway root (verify checks ExecStart)
mkdir -p "$work/units"
sed "s|/opt/handheld|$root/opt/handheld|g" "$root/lib/systemd/system/handheld.service" > "$work/units/handheld.service"
if ! out=$(systemd-analyze verify --man=no "$work/units/handheld.service" 2>&1) || [ -n "$out" ]; then
  echo "$out" >&2; echo "check-deb: systemd-analyze verify failed" >&2; exit 1
fi
echo "ok   systemd-analyze verify handheld.service"

echo "--- files where the unit and the config expect them"
"$root/opt/handheld/venv/bin/python" packaging/check_tree.py "$root"
