"""``benchmarks/csn_speed.py --mim-test``: the whole ``mim test csn_plugin``
once per row, with top-1 agreement and class-score differences taken from
the runs' ``--dump`` files."""
import argparse
import json
import os.path as osp
import sys

from cpu_flags import expect_native_bf16
from flow_helpers import MOTION_CONFIG, REPO, run
from mmengine.config import Config, DictAction


def test_mim_test_rows(tmp_path, mim_trained, tiny_options):
    work_dir, _ = mim_trained
    # The trained model's config as a file: the quickstart config with the
    # tiny options the fixture trained it with.
    parser = argparse.ArgumentParser()
    parser.add_argument('--cfg-options', nargs='+', action=DictAction)
    options = parser.parse_args(['--cfg-options', *tiny_options]).cfg_options
    cfg = Config.fromfile(MOTION_CONFIG)
    cfg.merge_from_dict(options)
    config = tmp_path / 'tiny.py'
    cfg.dump(str(config))
    out = tmp_path / 'rows.json'
    output = run([
        sys.executable, osp.join(REPO, 'benchmarks', 'csn_speed.py'),
        '--only-mim-test', '--no-compile', '--json', out, '--mim-test',
        config,
        osp.join(work_dir, 'epoch_1.pth')
    ], cwd=tmp_path, timeout=900)
    # depth 26: MMAction2's class has no such depth, so no built-in row
    assert "MMAction2's ResNet3dCSN has no depth 26" in output
    rows = {r['run']: r for r in json.loads(out.read_text())['mim_test']}
    bf16 = 'plugin (deploy), bf16'
    assert list(rows) == ['plugin, --no-deploy',
                          'plugin (deploy)'] + (
                              [bf16] if expect_native_bf16() else [])
    for row in rows.values():
        assert row['videos'] == 12
        assert row['loop_s'] > 0 and row['whole_s'] > row['loop_s']
        assert 0 < row['first_batch_s'] < row['loop_s'] * row['videos']
        # the test process's own peak RSS in MiB (a tiny model)
        assert 100 < row['mib'] < 4096
    reference = rows['plugin, --no-deploy']
    deploy = rows['plugin (deploy)']
    assert reference['score_diff'] == 0 and reference['agree'] == 1
    # folding BN in place changes the sums' order, not the predictions
    assert 0 <= deploy['score_diff'] <= 1e-4
    assert deploy['agree'] == 1
    assert deploy['top1_acc'] == reference['top1_acc']
    # bf16 differs by rounding: measured, not zero, not wild
    if expect_native_bf16():
        assert 0 < rows[bf16]['score_diff'] < 0.5
    assert 'class-score rel. diff vs plugin, --no-deploy' in output
