"""``benchmarks/gpu_depthwise.py --device cpu --small``: the cuDNN vs
Triton benchmark runs every row under Triton's interpreter and says that
its times are no GPU measurement. Times are printed, never asserted."""
import json
import os
import os.path as osp
import subprocess
import sys

import pytest

pytest.importorskip('triton', reason="the 'tests' extra installs triton")

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
SCRIPT = osp.join(REPO, 'benchmarks', 'gpu_depthwise.py')


def test_small_run_prints_every_row(tmp_path):
    out = tmp_path / 'rows.json'
    proc = subprocess.run(
        [sys.executable, '-P', SCRIPT, '--device', 'cpu', '--small',
         '--cases', 'layer1', 'layer3-s2', '--json', str(out)],
        env=dict(os.environ, OMP_NUM_THREADS='2'), stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-5000:]
    result = json.loads(out.read_text())
    assert 'NOT a GPU measurement' in proc.stdout
    assert result['device'].startswith('CPU: ') and 'GPU' not in \
        result['device']
    # layer1 with and without the residual, layer3's stride-2 block
    variants = [('layer1', 'bias+ReLU'), ('layer1', 'bias+residual+ReLU'),
                ('layer3-s2', 'bias+ReLU')]
    expected = [(case, epilogue, layout, dtype, pass_, impl)
                for case, epilogue in variants
                for dtype in ('fp32', 'bf16')
                for layout in ('NCDHW', 'NDHWC')
                for pass_ in ('forward', 'forward+backward')
                for impl in ('cuDNN', 'Triton')]
    rows = [(r['case'], r['epilogue'], r['layout'], r['dtype'], r['pass_'],
             r['impl']) for r in result['rows']]
    assert rows == expected
    printed = [line.split() for line in proc.stdout.splitlines()]
    for case, epilogue, layout, dtype, pass_, impl in expected:
        assert [case, epilogue, layout, dtype, pass_, impl] in [
            line[:6] for line in printed], (case, epilogue, layout, dtype,
                                            pass_, impl)
    for row in result['rows']:
        assert row['ms'] > 0
        # the two routes agree: fp32 to float rounding, bf16 to the
        # cuDNN route's extra roundings (after the conv, the add)
        assert row['max_diff'] < (1e-5 if row['dtype'] == 'fp32' else 2e-2)
