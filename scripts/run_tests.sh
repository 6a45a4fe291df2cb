#!/usr/bin/env bash
# Install csn_plugin into a virtual environment and run the test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${VENV:-.venv}
bash scripts/install.sh
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-2}
exec "$VENV/bin/python" -P -m pytest tests -p no:cacheprovider "$@"
