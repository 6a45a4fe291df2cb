#!/usr/bin/env bash
# The GPU measurements in one go, on a CUDA machine that may have torch but
# no package index: the GPU table of csn_speed.py (MMAction2 vs the plugin,
# inference, train steps, correctness and targets), the gradient noise floor
# and, when present, the Triton depthwise kernel benchmark. About 5 minutes
# on one H200 (two torch.compile runs of ir-CSN-152 take most of it).
#
#   bash benchmarks/gpu_run.sh
#
#   OUT         where the outputs go (default: work_dirs/gpu_run)
#   GPU_WHEELS  a folder of wheels of the OpenMMLab stack for this Python,
#               installed only if `import mmaction` fails (default:
#               shared/gpu/wheels): mmengine==0.10.7 mmcv-lite==2.1.0
#               mmaction2==1.2.0 decord==0.6.0 addict termcolor yapf
#               platformdirs importlib_metadata==8.7.0
#   GPU_BATCH   clips a forward of the table (default 30)
#   GPU_TIMEOUT seconds each step may take (default 420)
#   GPU_DRY_RUN=1  the same steps on the CPU, tiny shapes, no compiling (a
#               check of this script on a machine without a GPU)
set -uo pipefail
cd "$(dirname "$0")/.."
REPO=$(pwd)
OUT=${OUT:-work_dirs/gpu_run}
GPU_WHEELS=${GPU_WHEELS:-shared/gpu/wheels}
GPU_TIMEOUT=${GPU_TIMEOUT:-420}
PY=${PYTHON:-python}
mkdir -p "$OUT"
LOG="$OUT/gpu_run.log"
: > "$LOG"
say() { echo "$@" | tee -a "$LOG"; }

export PYTHONPATH="$REPO${PYTHONPATH:+:$PYTHONPATH}"
if ! "$PY" -c 'import mmaction, mmengine' 2>/dev/null; then
  SITE="$REPO/work_dirs/gpu_site"
  say "installing the stack from $GPU_WHEELS into $SITE"
  ls "$GPU_WHEELS"/*.whl >/dev/null 2>&1 || {
    say "no wheels in $GPU_WHEELS: set GPU_WHEELS"; exit 2; }
  "$PY" -m pip install -q --no-index --no-deps --target "$SITE" \
    "$GPU_WHEELS"/*.whl 2>&1 | tee -a "$LOG"
  export PYTHONPATH="$SITE:$PYTHONPATH"
fi
# MMAction2 1.2.0 imports its multimodal models whenever transformers is
# installed, and transformers 5 breaks that import; csn_plugin never needs
# them. Patch the copy installed here only (never a system-wide one).
MULTI=$("$PY" -c 'import mmaction, os; print(os.path.join(os.path.dirname(mmaction.__file__), "models", "multimodal", "__init__.py"))' 2>/dev/null)
if [ -n "${SITE:-}" ] && [ -f "$MULTI" ] && "$PY" -c 'import transformers' 2>/dev/null; then
  sed -i 's/^if WITH_MULTIMODAL:/if False:/' "$MULTI"
fi

"$PY" -c 'import torch; print("torch", torch.__version__, "CUDA", torch.version.cuda, torch.cuda.is_available() and torch.cuda.get_device_name(0))' 2>&1 | tee -a "$LOG"
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv 2>/dev/null | tee -a "$LOG" || true

run_step() {  # name, command...
  local name=$1; shift
  say "== $name: $*"
  local start=$SECONDS
  timeout "$GPU_TIMEOUT" "$@" > "$OUT/$name.txt" 2> "$OUT/$name.err"
  local rc=$?
  say "   rc=$rc in $((SECONDS - start)) s"
  tail -n 60 "$OUT/$name.txt" | tee -a "$LOG" > /dev/null
}

if [ "${GPU_DRY_RUN:-0}" = 1 ]; then
  TABLE=(--device cpu --gpu-table --small --no-compile --repeats 1)
  NOISE=(--device cpu --small)
else
  TABLE=(--device cuda --batch "${GPU_BATCH:-30}")
  NOISE=(--device cuda)
fi
run_step gpu_table "$PY" benchmarks/csn_speed.py "${TABLE[@]}" \
  --json "$OUT/gpu_table.json"
run_step grad_noise "$PY" benchmarks/grad_noise.py "${NOISE[@]}"
if [ "${GPU_DRY_RUN:-0}" = 1 ]; then
  say "dry run: the Triton benchmark needs a GPU, skipped"
elif [ -f benchmarks/gpu_depthwise.py ]; then
  run_step gpu_depthwise "$PY" benchmarks/gpu_depthwise.py
else
  say "benchmarks/gpu_depthwise.py not present: skipped"
fi
cat "$OUT/gpu_table.txt"
say "outputs in $OUT"
