#!/usr/bin/env bash
# Regenerates packaging/requirements.lock, the one hash-checked lock of every Python dependency
# (the install_requires, the test, mocks, lock, station and pcsc extras, and the build system's setuptools and wheel),
# from the ranges in setup.cfg, with pip-compile (pip-tools, itself pinned in the lock).
#
#   bash packaging/lock.sh                          after editing setup.cfg: keep every pin that still fits
#   bash packaging/lock.sh --upgrade                move every pin to the newest release setup.cfg allows
#   bash packaging/lock.sh --upgrade-package NAME   move one
#
# Then run the whole suite on the new lock (bash packaging/bootstrap.sh test: the venv is reinstalled
# because the lock changed) and commit setup.cfg and the lock together.  The pcsc extra (pyscard,
# an sdist built from source: bootstrap installs swig and libpcsclite-dev) is locked too: the card
# tests run the top-up flow through pcscd with it; the Debian package does not ship it.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$here"
[ -x .venv/bin/pip-compile ] || bash packaging/bootstrap.sh setup
CUSTOM_COMPILE_COMMAND="bash packaging/lock.sh" .venv/bin/pip-compile --quiet \
  --generate-hashes --allow-unsafe --strip-extras --all-build-deps --extra test --extra mocks --extra lock \
  --extra station --extra pcsc --extra v4l2 \
  --no-emit-index-url --no-emit-find-links --output-file packaging/requirements.lock "$@" setup.cfg
echo "lock.sh: packaging/requirements.lock written; now: bash packaging/bootstrap.sh test"
