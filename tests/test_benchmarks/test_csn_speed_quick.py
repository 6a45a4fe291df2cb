"""``benchmarks/csn_speed.py --quick``: the side-by-side benchmark runs and
its figures say what they should. Times are printed, never asserted."""
import json
import math
import os
import os.path as osp
import subprocess
import sys

import pytest

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
SCRIPT = osp.join(REPO, 'benchmarks', 'csn_speed.py')


@pytest.fixture(scope='module')
def quick_run(tmp_path_factory):
    out = tmp_path_factory.mktemp('csn_speed') / 'rows.json'
    proc = subprocess.run(
        [sys.executable, SCRIPT, '--quick', '--no-memory', '--repeats', '1',
         '--json', str(out)],
        env=dict(os.environ, OMP_NUM_THREADS='2'),
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        timeout=600)
    assert proc.returncode == 0, proc.stdout[-5000:]
    return proc.stdout, json.loads(out.read_text())


def test_every_quick_case_has_its_rows(quick_run):
    _, result = quick_run
    rows = {(r['case'], r['variant']) for r in result['rows']}
    assert rows == {
        ('ir-CSN-50 inference', 'eval'),
        ('ir-CSN-50 inference', 'deploy'),
        ('ir-CSN-50 inference', 'deploy, bf16'),
        ('ip-CSN-50 inference', 'deploy'),
        ('ir-CSN-50 train step, BN frozen', 'fp32'),
        ('ir-CSN-50 train step, BN frozen', 'bf16'),
        ('ir-CSN-50 train step, BN training', 'fp32'),
    }
    for row in result['rows']:
        assert row['builtin_s'] > 0 and row['plugin_s'] > 0
        assert row['speedup'] == pytest.approx(
            row['builtin_s'] / row['plugin_s'])
        assert row['gmacs'] > 0
    assert set(result['rooflines']) == {'fp32', 'bf16'}


def test_fp32_inference_matches_the_builtin(quick_run):
    """The fast fp32 paths (val path and deployed) land within 1e-4 of
    MMAction2's class on the same weights."""
    _, result = quick_run
    fp32_infer = [r for r in result['rows']
                  if r['dtype'] == 'fp32' and 'inference' in r['case']]
    assert len(fp32_infer) == 3
    for row in fp32_infer:
        assert row['rel_diff'] <= 1e-4, row


def test_bf16_accuracy_table(quick_run):
    """Both weight sets are measured; on MMAction2's init_weights the
    deployed bf16 path is within the issue's 3e-2; the clip's bf16 rounding
    alone moves the output (the table's lower bound is not zero)."""
    output, result = quick_run
    accuracy = result['accuracy']['ir-CSN-50 inference']
    assert set(accuracy) == {'calibrated', 'init_weights'}
    for figures in accuracy.values():
        for value in figures.values():
            assert math.isfinite(value) and value > 0
    assert accuracy['init_weights']['plugin'] <= 3e-2
    assert 'bf16 accuracy, ir-CSN-50 inference 1x3x8x112x112' in output
    assert '(The targets are for the full run on CPU.)' in output
