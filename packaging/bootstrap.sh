#!/usr/bin/env bash
# Sets up a development/QA checkout on a fresh Debian or Ubuntu machine, then runs one thing.
#   bash packaging/bootstrap.sh terminal [ARGS…]   the simulated terminal (handheld --simulate)
#   bash packaging/bootstrap.sh test [PYTEST ARGS…] every test
#   bash packaging/bootstrap.sh setup              only set up
# Idempotent: system packages are installed only when missing, the venv is reused.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$here"
what=${1:-setup}
[ $# -gt 0 ] && shift

# System packages the code or the tests load at run time.
#   libzbar0        pyzbar's shared library (barcode images)
#   python3-venv    the venv module on Debian's own python3
#   fonts-wqy-zenhei the CJK font the mock printer draws receipts with, and the printer driver
#                   draws lines holding characters outside GBK with (raster)
#   fonts-hanazono  CJK extension B glyphs (𠀀, 𠮷) for those raster lines
#   tmux            the end-to-end UI test drives the terminal in tmux
#   strace          tests/bench/queue.py counts fsyncs per operation with it
#   sqlite3         docs/operations.md's journal recovery, which a test runs as written
#   pcscd vsmartcard-vpcd   the card tests run the top-up flow through PC/SC: pcscd with vpcd's
#                   virtual reader, the mock card on its socket (tests/integration/test_card_pcsc.py)
#   libpcsclite-dev swig gcc   the lock's pyscard is an sdist, built at install (+ python3-dev for
#                   Debian's own python3 when its headers are missing)
#   fonts-hanazono  glyphs beyond WenQuanYi's for names outside GBK, drawn as raster by the mock printer
sys_pkgs=(libzbar0 fonts-wqy-zenhei fonts-hanazono tmux strace sqlite3 pcscd vsmartcard-vpcd libpcsclite-dev swig gcc)
#   chromium        the console's browser tests (Playwright drives Debian's chromium: Playwright's own
#                   browser download needs the internet); only for setup and test, not the terminal
case "$what" in setup|test) sys_pkgs+=(chromium);; esac
python=${PYTHON:-python3}
if ! "$python" -c 'import venv, ensurepip' >/dev/null 2>&1; then sys_pkgs+=(python3-venv); fi
if ! "$python" -c 'import os, sysconfig, sys; sys.exit(not os.path.exists(os.path.join(sysconfig.get_paths()["include"], "Python.h")))' \
    >/dev/null 2>&1; then sys_pkgs+=(python3-dev); fi
# shellcheck source=packaging/apt-ensure.sh
. packaging/apt-ensure.sh
apt_ensure bootstrap "${sys_pkgs[@]}"

"$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))' || {
  echo "bootstrap: Python 3.11 or newer is needed (found $("$python" --version)); set PYTHON=…" >&2; exit 2; }
if [ ! -x .venv/bin/python ]; then
  "$python" -m venv .venv
fi
# Every Python dependency comes from the one hash-checked lock (packaging/lock.sh refreshes it);
# the package itself is then installed editable, built by the lock's setuptools, without resolving.
lock=packaging/requirements.lock
stamp=.venv/.installed-$(cat setup.cfg pyproject.toml "$lock" | sha256sum | cut -c1-16)
if [ ! -f "$stamp" ]; then
  echo "bootstrap: installing the Python dependencies from $lock" >&2
  .venv/bin/python -m pip install -q --disable-pip-version-check --require-hashes -r "$lock"
  .venv/bin/python -m pip install -q --disable-pip-version-check --no-deps --no-build-isolation -e .
  .venv/bin/python -m pip check >/dev/null || { .venv/bin/python -m pip check >&2; exit 1; }
  rm -f .venv/.installed-*; touch "$stamp"
fi

case "$what" in
  setup) echo "bootstrap: ready (.venv)";;
  terminal) exec .venv/bin/handheld --simulate "$@";;
  test) exec .venv/bin/python -m pytest "$@";;
  *) echo "bootstrap: unknown action '$what' (use: terminal, test, setup)" >&2; exit 2;;
esac
