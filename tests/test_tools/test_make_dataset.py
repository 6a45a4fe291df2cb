"""python -m csn_plugin.tools.make_dataset"""
import os.path as osp
import subprocess
import sys

import pytest

from csn_plugin.tools import make_dataset


def test_command_writes_the_dataset(tmp_path):
    out = tmp_path / 'motion'
    proc = subprocess.run(
        [sys.executable, '-m', 'csn_plugin.tools.make_dataset', str(out),
         '--classes', '2', '--train-per-class', '3', '--val-per-class', '1',
         '--test-per-class', '2', '--frames', '6', '--size', '32',
         '--fps', '8', '--seed', '4'],
        capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert 'motion videos: 100%' in proc.stderr  # the tqdm bar
    assert '12/12' in proc.stderr
    assert f'Wrote 2 classes (move_right, move_left) to {out}' in proc.stdout
    assert (out / 'label_map.txt').read_text() == 'move_right\nmove_left\n'
    for split, count in [('train', 6), ('val', 2), ('test', 4)]:
        lines = (out / f'{split}_list_videos.txt').read_text().splitlines()
        assert len(lines) == count
        for line in lines:
            path, label = line.split()
            assert osp.isfile(out / f'videos_{split}' / path)


def test_bad_arguments_exit_with_a_message(tmp_path, capsys):
    with pytest.raises(SystemExit, match='num_classes must be in'):
        make_dataset.main([str(tmp_path), '--classes', '1'])
    with pytest.raises(SystemExit) as info:
        make_dataset.main([str(tmp_path), '--seed', '-1'])
    assert info.value.code == 2
    assert '--seed must be >= 0' in capsys.readouterr().err
    make_dataset.main([str(tmp_path), '--classes', '2', '--train-per-class',
                       '1', '--val-per-class', '0', '--test-per-class', '0',
                       '--frames', '2', '--size', '16', '--no-progress'])
    with pytest.raises(SystemExit, match='--overwrite'):
        make_dataset.main([str(tmp_path), '--no-progress'])
