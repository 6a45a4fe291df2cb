#!/usr/bin/env bash
# The README's main command: on a fresh machine, without downloading
# anything, install csn_plugin, make a small motion dataset, train an
# ir-CSN-26 on it with `mim train mmaction` (a few minutes on 2 CPU cores),
# test it with `mim test csn_plugin ... --average-clips prob`, print its
# top-1 and mean class accuracy and plot the run (training loss and
# validation accuracy per epoch, test confusion matrix) into a PNG.
#
#   bash scripts/quickstart.sh
#
# Environment (all optional):
#   VENV          virtual environment, relative to the repository
#                 (default .venv); SKIP_INSTALL=1 uses it as it is
#   WORK          where the dataset, logs, checkpoints and scores go
#                 (default work_dirs/quickstart)
#   CONFIG        config to train (default configs/ircsn_r26_8x112_motion.py)
#   DATASET_ARGS  make_dataset options (default: 4 classes, 150 training and
#                 20 validation and test videos a class)
#   TRAIN_ARGS    more `mim train` options, e.g.
#                 "--cfg-options train_cfg.max_epochs=2"
#   TEST_ARGS     more `mim test` options
#   OMP_NUM_THREADS  compute threads (default: one core less than there
#                 are, at least 1: the data-loading worker takes a core)
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$PWD
VENV=${VENV:-.venv}
WORK=${WORK:-work_dirs/quickstart}
CONFIG=${CONFIG:-configs/ircsn_r26_8x112_motion.py}
DATASET_ARGS=${DATASET_ARGS:---train-per-class 150 --val-per-class 20 --test-per-class 20}
TRAIN_ARGS=${TRAIN_ARGS:-}
TEST_ARGS=${TEST_ARGS:-}
# On 2 cores: 1 thread. More threads than free cores make the threads wait
# on each other at every step, several times slower.
CORES=$(nproc)
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-$((CORES > 2 ? CORES - 1 : 1))}
absolute() { case $1 in /*) echo "$1" ;; *) echo "$REPO/$1" ;; esac; }
VENV=$(absolute "$VENV")
WORK=$(absolute "$WORK")
CONFIG=$(absolute "$CONFIG")

step() { printf '\n==> [%s/5] %s\n' "$1" "$2"; }

step 1 "install csn_plugin into $VENV"
if [ "${SKIP_INSTALL:-0}" = 1 ]; then
  echo "SKIP_INSTALL=1: using $VENV as it is"
else
  VENV=$VENV bash scripts/install.sh
fi
export PATH="$VENV/bin:$PATH"
# Hide the stack's known harmless warnings (mim's pkg_resources import,
# mmcv-lite's missing ops), listed in csn_plugin/compat/quiet_warnings.py.
PYTHONWARNINGS="$(python "$REPO/csn_plugin/compat/quiet_warnings.py")"
export PYTHONWARNINGS

# The config reads data/motion relative to the working directory.
mkdir -p "$WORK"
cd "$WORK"

step 2 "generate the motion dataset in $WORK/data/motion"
# shellcheck disable=SC2086  # word splitting of the option strings is meant
python -m csn_plugin.tools.make_dataset data/motion --overwrite $DATASET_ARGS

step 3 "train $(basename "$CONFIG") with mim train mmaction"
# shellcheck disable=SC2086
mim train mmaction "$CONFIG" --gpus 0 --work-dir train $TRAIN_ARGS
CHECKPOINT=$(cat train/last_checkpoint)

step 4 "test $(basename "$CHECKPOINT") with mim test csn_plugin"
# shellcheck disable=SC2086
mim test csn_plugin "$CONFIG" -C "$CHECKPOINT" --average-clips prob \
  --work-dir test --out test/scores.json $TEST_ARGS

step 5 "results"
python - <<'PY'
import glob
import json
import os.path as osp

# mim test's metrics, as mmengine's LoggerHook saved them: the newest run.
runs = sorted(glob.glob(osp.join('test', '*', '*.json')), key=osp.getmtime)
metrics = json.load(open(runs[-1]))
classes = len(open('data/motion/label_map.txt').read().split())
videos = len(open('data/motion/test_list_videos.txt').read().split('\n')) - 1
print(f'ir-CSN on {videos} held-out videos of {classes} motion classes '
      f'(chance {100 / classes:.1f} %):')
print(f'  top-1 accuracy:       {100 * metrics["acc/top1"]:5.1f} %')
print(f'  mean class accuracy:  {100 * metrics["acc/mean1"]:5.1f} %')
print(f'class scores: {osp.abspath("test/scores.json")}')
PY
python -m csn_plugin.tools.plot_results train --scores test/scores.json \
  --ann-file data/motion/test_list_videos.txt \
  --label-map data/motion/label_map.txt --out test/results.png
