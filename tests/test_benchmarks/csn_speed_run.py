"""Run ``benchmarks/csn_speed.py`` in a subprocess, as a user would."""
import json
import os
import os.path as osp
import subprocess
import sys

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
SCRIPT = osp.join(REPO, 'benchmarks', 'csn_speed.py')


def run_csn_speed(json_path, *argv, timeout=900):
    """``csn_speed.py ARGV --json JSON_PATH`` on 2 threads; its output and
    the rows it wrote. Fails the test, with the output's tail, if it
    fails."""
    proc = subprocess.run(
        [sys.executable, SCRIPT, *argv, '--json', str(json_path)],
        env=dict(os.environ, OMP_NUM_THREADS='2'),
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        timeout=timeout)
    assert proc.returncode == 0, proc.stdout[-5000:]
    with open(json_path) as f:
        return proc.stdout, json.load(f)
