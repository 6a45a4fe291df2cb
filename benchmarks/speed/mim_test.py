"""The whole ``mim test csn_plugin`` on a trained model, once per path:
MMAction2's backbone (eager and under torch.compile) and the plugin's
(without deploy, deployed eagerly, deployed and compiled, in bf16)."""
import os
import os.path as osp
import pickle
import subprocess
import sys
import time

import torch
from mmengine import Config

from csn_plugin.models.acceleration import native_bf16

from .accuracy import rel_diff

#: depths MMAction2's ResNet3dCSN builds (its __init__'s arch_settings)
BUILTIN_DEPTHS = (50, 101, 152)
BUILTIN_BACKBONE = dict(model=dict(backbone=dict(type='MMAction2ResNet3dCSN')))
#: the plugin's bf16 test path (deployed and compiled)
MIM_TEST_BF16 = 'plugin (deploy), bf16'


def runs_for(config, compile):
    """(row, config overrides, extra hooks, test tool options) of each run:
    without ``compile`` the compiled runs are left out and bf16 runs
    deployed without compiling. MMAction2's class has depths 50, 101 and
    152 only; for other depths the plugin's run without deploy is the
    reference. bf16 runs only where this CPU has native bf16."""
    bf16 = dict(test_cfg=dict(fp16=True))
    runs = [
        ('built-in', BUILTIN_BACKBONE, [], []),
        ('plugin, --no-deploy', {}, [], ['--no-deploy']),
        ('plugin (deploy, --no-compile)', {}, [], ['--no-compile']),
    ]
    if compile:
        runs.insert(1, ('built-in + torch.compile', BUILTIN_BACKBONE,
                        [dict(type='TorchCompileBackboneHook')], []))
        runs += [('plugin (deploy)', {}, [], []),
                 (MIM_TEST_BF16, bf16, [], [])]
    else:
        runs.append(('plugin (deploy, --no-compile), bf16', bf16, [],
                     ['--no-compile']))
    depth = Config.fromfile(config).model.backbone.get('depth')
    if depth not in BUILTIN_DEPTHS:
        print(f"MMAction2's ResNet3dCSN has no depth {depth}: no built-in "
              'rows', file=sys.stderr)
        runs = [r for r in runs if not r[0].startswith('built-in')]
    if not native_bf16():
        print('this CPU has no native bf16: no bf16 row (it would run '
              'fp32)', file=sys.stderr)
        runs = [r for r in runs if 'bf16' not in r[0]]
    return runs


def write_config(path, config, overrides, hooks):
    """A config inheriting ``config``, with the support module imported,
    the timer and ``hooks`` added and ``overrides`` set."""
    base = Config.fromfile(config)
    imports = list(base.get('custom_imports', {}).get('imports', []))
    hooks = list(base.get('custom_hooks', [])) + hooks + [
        dict(type='TestLoopTimerHook')]
    with open(path, 'w') as f:
        f.write('\n'.join([
            f'_base_ = [{osp.abspath(config)!r}]',
            'custom_imports = dict(imports={!r}, allow_failed_imports=False)'
            .format(imports + ['csn_plugin', 'mim_test_support']),
            f'custom_hooks = {hooks!r}',
        ] + [f'{k} = {v!r}' for k, v in overrides.items()]) + '\n')


def run_mim_test(config, checkpoint, work_dir, compile=True):
    """``mim test csn_plugin`` on a dataset, once per row of
    :func:`runs_for`, in the current directory (where the config's data
    paths resolve). Returns one row a run, compared with the first."""
    env = dict(os.environ)
    env['PYTHONPATH'] = os.pathsep.join(
        [osp.dirname(osp.dirname(osp.abspath(__file__)))] +
        [p for p in env.get('PYTHONPATH', '').split(os.pathsep) if p])
    mim = osp.join(osp.dirname(sys.executable), 'mim')
    rows, scores = [], {}
    for index, (name, overrides, hooks, options) in enumerate(
            runs_for(config, compile)):
        cfg_file = osp.join(work_dir, f'run{index}.py')
        dump = osp.join(work_dir, f'run{index}.pkl')
        write_config(cfg_file, config, overrides, hooks)
        cmd = [mim, 'test', 'csn_plugin', cfg_file, '-C', checkpoint,
               '--dump', dump, '--work-dir', osp.join(work_dir, f'run{index}')]
        start = time.perf_counter()
        done = subprocess.run(cmd + options, capture_output=True, text=True,
                              env=env)
        whole = time.perf_counter() - start
        loop = [line.split() for line in done.stdout.splitlines()
                if line.startswith('TEST_LOOP_SECONDS ')]
        if done.returncode or not loop:
            sys.stderr.write(done.stdout[-3000:] + done.stderr[-3000:])
            raise RuntimeError(f'mim test failed for {name}: {cmd}')
        seconds, videos, first_s, first_videos = (
            float(loop[-1][1]), int(loop[-1][2]), float(loop[-1][3]),
            int(loop[-1][4]))
        scores[name], labels = read_dump(dump)
        rows.append(dict(
            run=name, videos=videos, whole_s=whole / videos,
            loop_s=seconds / videos, first_batch_s=first_s,
            steady_s=(seconds - first_s) / max(videos - first_videos, 1)))
    ref = scores[rows[0]['run']]
    for row in rows:
        score = scores[row['run']]
        pred = score.argmax(1)
        row['top1_acc'] = (pred == labels).float().mean().item()
        row['agree'] = (pred == ref.argmax(1)).float().mean().item()
        row['score_diff'] = rel_diff({'output': ref}, {'output': score})
        row['speedup'] = rows[0]['steady_s'] / row['steady_s']
    return rows


def read_dump(dump):
    """The ``(videos, classes)`` float32 class scores and the labels of a
    ``--dump``."""
    with open(dump, 'rb') as f:
        samples = pickle.load(f)
    scores = torch.stack([torch.as_tensor(r['pred_score']).float()
                          for r in samples])
    return scores, torch.tensor([int(r['gt_label']) for r in samples])


def print_mim_test(rows, config):
    print(f'\n`mim test csn_plugin {config}` per video:\n')
    ref = rows[0]['run']
    print('| run | videos | whole command s/video | first batch s | '
          f'after it, s/video | speed-up vs {ref} | top-1 acc | '
          f'same top-1 as {ref} | class-score rel. diff vs {ref} |')
    print('|---|---|---|---|---|---|---|---|---|')
    for r in rows:
        print(f"| {r['run']} | {r['videos']} | {r['whole_s']:.3f} | "
              f"{r['first_batch_s']:.1f} | {r['steady_s']:.3f} | "
              f"{r['speedup']:.2f}x | {r['top1_acc']:.3f} | "
              f"{r['agree']:.3f} | {r['score_diff']:.1e} |")
    print('\n- Whole command: wall time of `mim test` (start-up, checkpoint '
          'loading, data, model) over the videos. First batch: from before '
          'the first test hook (BN folding included) to after the first '
          'batch; compiling happens there. After it: the rest of the test '
          'loop (metrics included) per video; the speed-up compares it.\n'
          '- Class-score rel. diff: max|a - b| / max|a| over every video\'s '
          'class scores\n  (as the config averages its clips), against '
          f'the {ref} run.')
