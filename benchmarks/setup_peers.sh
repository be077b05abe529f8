#!/usr/bin/env bash
# Set up the Python peers (JAX; add "torch" for PyTorch) in DIR for `kinkgrad bench --peer-python DIR/bin/python`.
# Usage: benchmarks/setup_peers.sh DIR [torch]
set -euo pipefail
dir=${1:?usage: setup_peers.sh DIR [torch]}
[ -x "$dir/bin/python" ] || python3 -m venv "$dir"
"$dir/bin/pip" install -q --disable-pip-version-check numpy 'jax[cpu]'
if [ "${2:-}" = torch ]; then "$dir/bin/pip" install -q --disable-pip-version-check torch; fi
"$dir/bin/python" -c 'import jax; print("jax", jax.__version__)'
if [ "${2:-}" = torch ]; then "$dir/bin/python" -c 'import torch; print("torch", torch.__version__)'; fi
