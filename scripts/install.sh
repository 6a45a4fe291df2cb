#!/usr/bin/env bash
# Create (or reuse) a virtual environment and install csn_plugin into it.
#   VENV  where the environment lives (default: .venv in the repository)
#   EXTRAS  pip extras to install (default: tests,benchmarks,vis,deploy,mmdeploy;
#           mmdeploy pins protobuf<=3.20.2, which holds onnx at 1.17 and
#           onnxruntime at 1.26: leave it out for the newest engines)
# torch is pinned to 2.13.0 first: on machines that carry its CPU wheel that
# is the file pip takes; unpinned, pip would pull a CUDA build of several GB.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${VENV:-.venv}
EXTRAS=${EXTRAS:-tests,benchmarks,vis,deploy,mmdeploy}
if [ ! -x "$VENV/bin/python" ]; then
  python3 -m venv "$VENV"
fi
PY="$VENV/bin/python"
# pip's "... is ignored" notes about absent local indexes are dropped; a
# failing pip still stops the script (pipefail).
pip_install() {
  "$PY" -m pip install -q "$@" 2>&1 | { grep -v "is ignored" || true; }
}
pip_install --upgrade 'pip>=23'
pip_install 'torch==2.13.0'
# A regular (non-editable) install: it carries csn_plugin/.mim for `mim`.
pip_install ".[$EXTRAS]"
"$PY" -c "import csn_plugin, torch, mmaction; print('csn_plugin', csn_plugin.__version__, '| torch', torch.__version__, '| mmaction2', mmaction.__version__)"
