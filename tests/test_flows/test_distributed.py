"""Beyond one machine, on CPUs: two processes, started by ``torchrun`` or by
``mim train mmaction --launcher pytorch --gpus 2``, train through
MMAction2's own train tool with the gloo backend from the config's
``env_cfg``. Both ranks train, on disjoint halves of the data, in step; the
checkpoint loads into the config's model.
"""
import json
import os.path as osp
import sys

import mmaction
import pytest
import torch
from flow_helpers import MIM, MOTION_CONFIG, free_port, run
from mmaction.structures import ActionDataSample
from mmengine.config import Config
from mmengine.registry import init_default_scope
from mmengine.runner import load_checkpoint

import csn_plugin  # noqa: F401  (the plugin's models, for loading below)

TRAIN_TOOL = osp.join(
    osp.dirname(mmaction.__file__), '.mim', 'tools', 'train.py')
# Registered by the config's custom_imports in each process.
RANK_PROBE = '''
import json
import os.path as osp

from mmaction.registry import HOOKS
from mmengine.dist import get_rank, get_world_size
from mmengine.hooks import Hook


def checksum(runner):
    model = getattr(runner.model, 'module', runner.model)
    return sum(p.double().sum().item() for p in model.parameters())


@HOOKS.register_module()
class RankProbeHook(Hook):
    """Writes what this process trained to rank<N>.json."""

    def __init__(self, out_dir):
        self.out_dir = out_dir
        self.record = dict(iters=0, samples=[])

    def before_train(self, runner):
        self.record.update(
            rank=get_rank(), world_size=get_world_size(),
            start=checksum(runner))

    def before_train_epoch(self, runner):
        self.record['samples'] += list(runner.train_dataloader.sampler)

    def after_train_iter(self, runner, batch_idx, data_batch=None,
                         outputs=None):
        self.record['iters'] += 1

    def after_train(self, runner):
        self.record['end'] = checksum(runner)
        path = osp.join(self.out_dir, f'rank{get_rank()}.json')
        with open(path, 'w') as f:
            json.dump(self.record, f)
'''


def launch(how, config, work_dir):
    """The command line that starts two training processes."""
    if how == 'torchrun':
        return [
            osp.join(osp.dirname(sys.executable), 'torchrun'),
            '--nproc_per_node', '2', '--master_port', free_port(), TRAIN_TOOL,
            config, '--launcher', 'pytorch', '--work-dir', work_dir
        ]
    return [
        MIM, 'train', 'mmaction', config, '--launcher', 'pytorch', '--gpus',
        '2', '--port', free_port(), '--work-dir', work_dir
    ]


@pytest.mark.parametrize('how', ['torchrun', 'mim'])
def test_two_gloo_processes_train(tmp_path, tiny_options, how):
    (tmp_path / 'rank_probe.py').write_text(RANK_PROBE)
    config = tmp_path / 'distributed.py'
    config.write_text(
        f'_base_ = [{MOTION_CONFIG!r}]\n'
        "custom_imports = dict(imports=['csn_plugin', 'rank_probe'], "
        'allow_failed_imports=False)\n'
        'custom_hooks = [dict(type="RankProbeHook", '
        f'out_dir={str(tmp_path)!r})]\n')
    work_dir = tmp_path / 'work'
    output = run(
        launch(how, config, work_dir) + ['--cfg-options', *tiny_options],
        OMP_NUM_THREADS='1',
        PYTHONPATH=str(tmp_path))
    assert "dist_cfg=dict(backend='gloo')" in output

    records = [
        json.loads((tmp_path / f'rank{rank}.json').read_text())
        for rank in (0, 1)
    ]
    assert [r['rank'] for r in records] == [0, 1]
    assert all(r['world_size'] == 2 for r in records)
    # 12 training videos: 6 a rank, in batches of 4 -> 2 iterations each
    assert [r['iters'] for r in records] == [2, 2]
    first, second = (set(r['samples']) for r in records)
    assert not first & second and first | second == set(range(12))
    # DDP kept the ranks in step: both changed their weights, identically.
    assert records[0]['end'] != records[0]['start']
    assert records[0]['start'] == records[1]['start']
    assert records[0]['end'] == records[1]['end']

    cfg = Config.fromfile(str(config), import_custom_modules=False)
    cfg.model.backbone.base_channels = 8  # as in tiny_options
    cfg.model.cls_head.in_channels = 256
    init_default_scope('mmaction')
    from mmaction.registry import MODELS
    model = MODELS.build(cfg.model)
    checkpoint = load_checkpoint(
        model, str(work_dir / 'epoch_1.pth'), map_location='cpu',
        strict=True)
    assert checkpoint['meta']['epoch'] == 1
    model.eval()
    clip = torch.randint(0, 256, (1, 3, 8, 56, 56), dtype=torch.uint8)
    with torch.no_grad():
        (prediction, ) = model.test_step(
            dict(inputs=[clip], data_samples=[ActionDataSample()]))
    assert prediction.pred_score.shape == (4, )
