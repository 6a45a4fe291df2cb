#!/usr/bin/env bash
# Every case of the performance benchmark in one command: the backbone cases
# of csn_speed.py, and `mim test` on a model trained on the generated
# dataset, whose bf16 class scores and top-1 predictions the targets check.
#
#   bash benchmarks/full_run.sh              # after scripts/install.sh
#   bash benchmarks/full_run.sh --no-memory  # more csn_speed.py options
#
# It makes the motion dataset (64-pixel videos) and trains ir-CSN-50 on it
# with `mim train mmaction` (a few minutes on 2 CPU cores) unless $WORK
# already holds them, then runs csn_speed.py with --mim-test and writes its
# table to $WORK/csn_speed.txt and its rows to $WORK/csn_speed.json.
#
# Environment (all optional):
#   VENV   virtual environment, relative to the repository (default .venv)
#   WORK   dataset, checkpoint and results (default work_dirs/benchmark)
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$PWD
VENV=${VENV:-.venv}
WORK=${WORK:-work_dirs/benchmark}
absolute() { case $1 in /*) echo "$1" ;; *) echo "$REPO/$1" ;; esac; }
VENV=$(absolute "$VENV")
WORK=$(absolute "$WORK")
if [ ! -x "$VENV/bin/python" ]; then
  echo "no virtual environment at $VENV: run 'bash scripts/install.sh' first" >&2
  exit 1
fi
export PATH="$VENV/bin:$PATH"
CONFIG=$REPO/benchmarks/configs/ircsn_r50_motion_56px.py
CHECKPOINT=$WORK/r50_56px/epoch_12.pth
mkdir -p "$WORK"
cd "$WORK"  # where the config's data paths (data/motion/...) resolve

if [ ! -f data/motion/test_list_videos.txt ]; then
  echo "==> generating the motion dataset in $WORK/data/motion"
  python -m csn_plugin.tools.make_dataset data/motion --size 64 --frames 24 \
    --train-per-class 150 --val-per-class 5 --test-per-class 15
fi
if [ ! -f "$CHECKPOINT" ]; then
  echo "==> training ir-CSN-50 on it (mim train mmaction)"
  # 2 cores: one compute thread, the data worker takes the other
  CORES=$(nproc)
  OMP_NUM_THREADS=${OMP_NUM_THREADS:-$((CORES > 2 ? CORES - 1 : 1))} \
    mim train mmaction "$CONFIG" --gpus 0 --work-dir r50_56px \
    --cfg-options randomness.seed=0
fi
echo "==> benchmark"
python "$REPO/benchmarks/csn_speed.py" --json csn_speed.json \
  --mim-test "$CONFIG" "$CHECKPOINT" "$@" | tee csn_speed.txt
