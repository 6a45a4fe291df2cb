"""``mim test mmaction``, MMAction2's own test tool and Runner, on a test
list with a label past the model's 4 classes: it stops before testing,
naming the list line, although no config sets the dataset's num_classes
(tests/test_datasets/test_model_classes.py does the same in-process for
training and validation lists)."""
import os
import subprocess

from flow_helpers import MIM, MOTION_CONFIG, TINY_OPTIONS


def test_mim_test_mmaction_refuses_a_label_past_the_head(tmp_path, tiny_data):
    with open(f'{tiny_data}/test_list_videos.txt') as f:
        lines = f.read().splitlines()
    lines[2] = lines[2].rsplit(' ', 1)[0] + ' 7'
    bad_list = tmp_path / 'test_list.txt'
    bad_list.write_text('\n'.join(lines) + '\n')
    proc = subprocess.run(
        [
            MIM, 'test', 'mmaction', MOTION_CONFIG, '-C',
            str(tmp_path / 'never_loaded.pth'), '--cfg-options',
            *TINY_OPTIONS, f'test_dataloader.dataset.ann_file={bad_list}',
            f'test_dataloader.dataset.data_prefix.video={tiny_data}/'
            'videos_test'
        ],
        env=dict(os.environ, OMP_NUM_THREADS='2'),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=300)
    assert proc.returncode != 0, proc.stdout[-3000:]
    assert (f"ValueError: {bad_list}:3: {lines[2]!r} -> label 7 is outside "
            '[0, 4) (model.cls_head.num_classes=4)') in proc.stdout, \
        proc.stdout[-3000:]
