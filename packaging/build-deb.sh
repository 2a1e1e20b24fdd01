#!/usr/bin/env bash
# Builds the handheld-terminal Debian package from this repository: a staged tree + dpkg-deb.
#
#   bash packaging/build-deb.sh [OUTDIR]        → OUTDIR/handheld-terminal_<version>-1_<arch>.deb (default dist/)
#
# Layout of the package (docs/operations.md explains each part):
#   /opt/handheld/venv/                 the app and its Python dependencies, in their own venv on
#                                       Debian's /usr/bin/python3 (from the lock the tests ran with)
#   /opt/handheld/bin/handheld-console  the tty1 launcher (fbterm + WenQuanYi) that the unit runs
#   /usr/bin/handheld, handheld-mocks   links to the venv's commands (selftest, provision, diag …)
#   /etc/handheld/config.toml           the default settings (conffile)
#   /lib/systemd/system/handheld.service, /lib/udev/rules.d/60-handheld.rules,
#   /usr/lib/tmpfiles.d/handheld.conf   unit, stable device names, state/cache directories
#   /usr/share/doc/handheld-terminal/   copyright, changelog, operations.md; man pages of both commands
#
# Needs: dpkg-deb, Debian's python3 (3.11, same minor as the target image), the dev venv (.venv,
# from packaging/bootstrap.sh) whose pip builds the wheels, and PyPI access for the dependencies
# the wheel cache does not hold yet.  Build on the target's architecture (or in a chroot of it):
# the venv holds compiled extensions (pycryptodome, evdev, Pillow).
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$here"
outdir=$(mkdir -p "${1:-dist}" && cd "${1:-dist}" && pwd)

pkg=handheld-terminal
prefix=/opt/handheld
venv=$prefix/venv
target_python=${TARGET_PYTHON:-/usr/bin/python3}
upstream=$(sed -n 's/^version *= *//p' setup.cfg | head -1)
version="$upstream-${DEBIAN_REVISION:-1}"
arch=$(dpkg --print-architecture)
pip=(.venv/bin/python -m pip)
[ -x .venv/bin/python ] || { echo "build-deb: no .venv; run: bash packaging/bootstrap.sh setup" >&2; exit 2; }
"$target_python" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))' || {
  echo "build-deb: $target_python is not Python 3.11 (the package depends on python3 3.11)" >&2; exit 2; }

work=$(mktemp -d "${TMPDIR:-/tmp}/handheld-deb.XXXXXX")
trap 'rm -rf "$work"' EXIT
stage=$work/root
mkdir -p "$stage"

# 1. the app as a wheel, built from a copy of the tree (the checkout stays clean: no build/, egg-info)
src=$work/src
mkdir -p "$src"
if git rev-parse --git-dir >/dev/null 2>&1; then
  git ls-files -z --cached --others --exclude-standard \
    | grep -zv -e '^tests/' -e '^\.ci/' -e '^packaging/' \
    | while IFS= read -r -d '' f; do if [ -f "$f" ]; then printf '%s\0' "$f"; fi; done \
    | xargs -0 cp --parents -t "$src"
else
  cp -a setup.cfg pyproject.toml README.md terminal_app drivers offline_queue ui hw_mocks "$src"/ 2>/dev/null || true
fi
wheels=$work/wheels
"${pip[@]}" wheel -q --no-deps --wheel-dir "$wheels" "$src"
#    every data file the code loads at run time (setup.cfg package_data: *.toml *.json *.mo *.po)
#    must be in the wheel, also in sub-folders that are not packages (ui/locale/<lang>/LC_MESSAGES)
.venv/bin/python - "$src" "$wheels"/*.whl <<'PY'
import pathlib, sys, zipfile
src, wheel = pathlib.Path(sys.argv[1]), sys.argv[2]
names = set(zipfile.ZipFile(wheel).namelist())
missing = sorted(str(f.relative_to(src)) for top in ("terminal_app", "drivers", "offline_queue", "ui", "hw_mocks")
                 for f in (src / top).rglob("*") if f.suffix in (".toml", ".json", ".mo", ".po")
                 and str(f.relative_to(src)) not in names)
if missing:
    sys.exit("build-deb: data files missing from the wheel (add them to [options.package_data] in setup.cfg, "
             "e.g. 'ui = locale/*/LC_MESSAGES/*.mo, locale/*/LC_MESSAGES/*.po'):\n  " + "\n  ".join(missing))
PY

# 2. the venv, at its staged place, on Debian's python3; its dependencies are the part of the one
#    lock (packaging/requirements.lock) the terminal runs, hash-checked, nothing resolved anew.
#    Extensions built from source (evdev) are built by the target python, with a wheel cache of
#    their own: a wheel the dev venv's interpreter built may carry its RUNPATH (e.g. pyenv's lib).
"$target_python" -m venv --without-pip "$stage$venv"
.venv/bin/python packaging/lock_subset.py packaging/requirements.lock handheld-terminal > "$work/runtime.lock"
tpip=("${pip[@]}" --python "$stage$venv/bin/python")
tpip_install=("${tpip[@]}" install -q --no-compile --no-warn-script-location --disable-pip-version-check
  --cache-dir "${XDG_CACHE_HOME:-$HOME/.cache}/handheld-deb/pip")
"${tpip_install[@]}" --require-hashes --no-deps -r "$work/runtime.lock"
"${tpip_install[@]}" --no-deps --no-index "$wheels"/*.whl
"${tpip[@]}" check
#    Pillow and PyYAML come from Debian (python3-pil, python3-yaml: versions that satisfy
#    python-escpos, and security fixes for libjpeg/freetype/libyaml from Debian instead of copies
#    bundled in the wheels).  The venv sees them through include-system-site-packages; its own
#    site-packages come first on sys.path, so everything else stays the pinned copy.
"${tpip[@]}" uninstall -q -y Pillow PyYAML
sed -i 's/^include-system-site-packages = false/include-system-site-packages = true/' "$stage$venv/pyvenv.cfg"

# 3. make it relocatable to /opt/handheld/venv: scripts, activate files and pyvenv.cfg name the stage
grep -rlI --null -F "$stage" "$stage$venv" | xargs -0 -r sed -i "s|$stage||g"
rm -f "$stage$venv"/bin/Activate.ps1 "$stage$venv"/bin/activate.csh "$stage$venv"/bin/activate.fish
find "$stage$venv" -name '__pycache__' -type d -prune -exec rm -rf {} +
find "$stage$venv" -name 'direct_url.json' -delete  # names the temporary build directory
find "$stage$venv" -name '.git*' -delete
find "$stage$venv" -type f -name '*.so*' -exec strip --strip-unneeded --remove-section=.comment --remove-section=.note {} +
if grep -rlI -F "$stage" "$stage$venv" >/dev/null; then
  echo "build-deb: the staged path is still named in:" >&2; grep -rlI -F "$stage" "$stage$venv" >&2; exit 1
fi

# 4. system integration files
install -D -m 0755 packaging/console/handheld-console "$stage$prefix/bin/handheld-console"
install -D -m 0644 packaging/config.toml "$stage/etc/handheld/config.toml"
install -D -m 0644 packaging/systemd/handheld.service "$stage/lib/systemd/system/handheld.service"
install -D -m 0644 packaging/udev/60-handheld.rules "$stage/lib/udev/rules.d/60-handheld.rules"
install -D -m 0644 packaging/tmpfiles/handheld.conf "$stage/usr/lib/tmpfiles.d/handheld.conf"
install -D -m 0644 packaging/debian/lintian-overrides "$stage/usr/share/lintian/overrides/$pkg"
mkdir -p "$stage/usr/bin"
ln -s "$venv/bin/handheld" "$stage/usr/bin/handheld"
ln -s "$venv/bin/handheld-mocks" "$stage/usr/bin/handheld-mocks"
for page in packaging/man/*.1; do
  install -D -m 0644 /dev/null "$stage/usr/share/man/man1/$(basename "$page").gz"
  gzip -9n < "$page" > "$stage/usr/share/man/man1/$(basename "$page").gz"
done
doc=$stage/usr/share/doc/$pkg
install -D -m 0644 packaging/debian/copyright "$doc/copyright"
install -m 0644 docs/operations.md "$doc/operations.md"
# changelog.Debian: one entry per build, dated by the last commit (reproducible)
stamp=$(git log -1 --format=%ct 2>/dev/null || date +%s)
export SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$stamp}
{
  echo "$pkg ($version) unstable; urgency=medium"
  echo
  echo "  * Built from the repository by packaging/build-deb.sh ($(git rev-parse --short HEAD 2>/dev/null || echo unknown))."
  echo
  echo " -- Handheld terminal team <handheld@terminal.invalid>  $(date -R -u -d "@$SOURCE_DATE_EPOCH")"
} | gzip -9n > "$doc/changelog.Debian.gz"
chmod 0644 "$doc/changelog.Debian.gz"

# 5. modes: dpkg records them as found (owner root:root via --root-owner-group)
find "$stage" -type d -exec chmod 0755 {} +
find "$stage" -type f ! -perm -u+x -exec chmod 0644 {} +
find "$stage" -type f -perm -u+x -exec chmod 0755 {} +
find "$stage" -type f -name '*.so*' -exec chmod 0644 {} +  # libraries are loaded, not run

# 6. control area
mkdir -p "$stage/DEBIAN"
size=$(du -k -s --exclude=DEBIAN "$stage" | cut -f1)
sed -e "s/@VERSION@/$version/" -e "s/@ARCH@/$arch/" -e "s/@SIZE@/$size/" packaging/debian/control.in \
  > "$stage/DEBIAN/control"
install -m 0644 packaging/debian/conffiles "$stage/DEBIAN/conffiles"
for s in postinst prerm postrm; do install -m 0755 "packaging/debian/$s" "$stage/DEBIAN/$s"; done
(cd "$stage" && find . -path ./DEBIAN -prune -o -type f -printf '%P\0' | LC_ALL=C sort -z \
  | xargs -0 md5sum) > "$stage/DEBIAN/md5sums"
chmod 0644 "$stage/DEBIAN/md5sums"

deb="$outdir/${pkg}_${version}_${arch}.deb"
dpkg-deb --root-owner-group -Zxz --build "$stage" "$deb" >/dev/null
echo "$deb"
