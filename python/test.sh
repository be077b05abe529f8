#!/usr/bin/env bash
# Builds the Python package into a virtual environment under target/ (only pip and the package
# registries: maturin, numpy, pytest), lints the bindings, and runs the Python tests.
#
# The wheel is built in cargo's `dev` profile (the workspace's crates unoptimised, dependencies at
# opt-level 2) to keep CI short; KINKGRAD_PY_PROFILE=release builds a release wheel. (The `test`
# profile cannot build a wheel: `cargo rustc --profile test` makes a test harness, not a library.)
set -euo pipefail
cd "$(dirname "$0")/.."
venv=target/python-venv
profile=${KINKGRAD_PY_PROFILE:-dev}
if [ ! -x "$venv/bin/python" ]; then
    "${PYTHON:-python3}" -m venv "$venv"
fi
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check "maturin>=1.7,<2" "numpy>=1.24" pytest
# the workspace's clippy sees this crate without its `python` feature (so that it needs no Python)
cargo clippy -p kinkgrad-py --features python -- -D warnings
rm -rf target/python-wheels
"$venv/bin/maturin" build --quiet --manifest-path python/Cargo.toml --profile "$profile" \
    --interpreter "$venv/bin/python" --out target/python-wheels
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check --force-reinstall --no-deps \
    target/python-wheels/kinkgrad-*.whl
"$venv/bin/python" -m pytest -q -p no:cacheprovider python/tests
