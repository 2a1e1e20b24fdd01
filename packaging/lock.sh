#!/usr/bin/env bash
# Regenerates packaging/requirements.lock, the one hash-checked lock of every Python dependency
# (the install_requires, the test, mocks, lock and station extras, and the build system's setuptools and wheel),
# from the ranges in setup.cfg, with pip-compile (pip-tools, itself pinned in the lock).
#
#   bash packaging/lock.sh                          after editing setup.cfg: keep every pin that still fits
#   bash packaging/lock.sh --upgrade                move every pin to the newest release setup.cfg allows
#   bash packaging/lock.sh --upgrade-package NAME   move one
#
# Then run the whole suite on the new lock (bash packaging/bootstrap.sh test: the venv is reinstalled
# because the lock changed) and commit setup.cfg and the lock together.  The pcsc extra (pyscard,
# built from source on a device with PC/SC) is not locked: nothing here installs it.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$here"
[ -x .venv/bin/pip-compile ] || bash packaging/bootstrap.sh setup
CUSTOM_COMPILE_COMMAND="bash packaging/lock.sh" .venv/bin/pip-compile --quiet \
  --generate-hashes --allow-unsafe --strip-extras --all-build-deps --extra test --extra mocks --extra lock \
  --extra station \
  --no-emit-index-url --no-emit-find-links --output-file packaging/requirements.lock "$@" setup.cfg
echo "lock.sh: packaging/requirements.lock written; now: bash packaging/bootstrap.sh test"
