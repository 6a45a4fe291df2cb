"""The whole ``mim test csn_plugin`` on a trained model, once per run: the
plugin's paths (without deploy, deployed, compiled, bf16), MMAction2's
backbone (eager and under torch.compile), exported models
(``--backend``)."""
import os
import os.path as osp
import pickle
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field

import torch
from mmengine import Config

from csn_plugin.models.acceleration import native_bf16

from .accuracy import rel_diff

#: depths MMAction2's ResNet3dCSN builds (its __init__'s arch_settings)
BUILTIN_DEPTHS = (50, 101, 152)
BUILTIN_BACKBONE = dict(model=dict(backbone=dict(type='MMAction2ResNet3dCSN')))
#: the plugin's bf16 test path (deployed and compiled)
MIM_TEST_BF16 = 'plugin (deploy), bf16'
BENCHMARKS = osp.dirname(osp.dirname(osp.abspath(__file__)))


@dataclass
class MimRun:
    """One ``mim test csn_plugin`` of a config."""
    name: str
    checkpoint: str = None  # model file; None: the one given to run_all
    options: list = field(default_factory=list)  # test tool options
    overrides: dict = field(default_factory=dict)  # config entries
    hooks: list = field(default_factory=list)  # more custom_hooks


def has_builtin_depth(config):
    """Whether MMAction2's class builds the config's backbone depth."""
    return Config.fromfile(config).model.backbone.get(
        'depth') in BUILTIN_DEPTHS


def speed_runs(config, compile):
    """The runs of ``csn_speed.py --mim-test``. With ``compile``:
    ``plugin (deploy)`` is ``mim test``'s default (``--compile auto``: the
    faster of eager and compiled, measured on the first batch), plus
    MMAction2's model compiled and the deployed one always compiled;
    without it every run is eager (``--compile never``).
    MMAction2's class has depths 50, 101 and 152 only; for other depths the
    plugin's run without deploy is the reference. bf16 runs only where this
    CPU has native bf16."""
    bf16 = dict(test_cfg=dict(fp16=True))
    eager = [] if compile else ['--compile', 'never']
    runs = [
        MimRun('built-in', overrides=BUILTIN_BACKBONE),
        MimRun('plugin, --no-deploy', options=['--no-deploy']),
        MimRun('plugin (deploy)', options=eager),
    ]
    if compile:
        runs.insert(1, MimRun('built-in + torch.compile',
                              overrides=BUILTIN_BACKBONE,
                              hooks=[dict(type='TorchCompileBackboneHook')]))
        runs.append(MimRun('plugin (deploy, --compile always)',
                           options=['--compile', 'always']))
    runs.append(MimRun(MIM_TEST_BF16, options=eager, overrides=bf16))
    if not has_builtin_depth(config):
        print(f"MMAction2's ResNet3dCSN has no depth "
              f'{Config.fromfile(config).model.backbone.depth}: no built-in '
              'rows', file=sys.stderr)
        runs = [r for r in runs if not r.name.startswith('built-in')]
    if not native_bf16():
        print('this CPU has no native bf16: no bf16 row (it would run '
              'fp32)', file=sys.stderr)
        runs = [r for r in runs if 'bf16' not in r.name]
    return runs


def write_config(path, config, run):
    """A config inheriting ``config``, with the support module imported,
    the timer and the run's hooks added and its overrides set."""
    base = Config.fromfile(config)
    imports = list(base.get('custom_imports', {}).get('imports', []))
    hooks = list(base.get('custom_hooks', [])) + run.hooks + [
        dict(type='TestLoopTimerHook')]
    with open(path, 'w') as f:
        f.write('\n'.join([
            f'_base_ = [{osp.abspath(config)!r}]',
            'custom_imports = dict(imports={!r}, allow_failed_imports=False)'
            .format(imports + ['csn_plugin', 'mim_test_support']),
            f'custom_hooks = {hooks!r}',
        ] + [f'{k} = {v!r}' for k, v in run.overrides.items()]) + '\n')


def run_and_time(cmd, env):
    """Run ``cmd``: its output and wall seconds. (Its peak memory comes
    from the test process itself: ``wait4``'s ``ru_maxrss`` would report
    this benchmark's own RSS, which a forked child keeps as its high-water
    mark through ``exec``.)"""
    with tempfile.TemporaryFile('w+') as out:
        start = time.perf_counter()
        done = subprocess.run(cmd, stdout=out, stderr=subprocess.STDOUT,
                              env=env)
        seconds = time.perf_counter() - start
        out.seek(0)
        text = out.read()
    if done.returncode:
        sys.stderr.write(text[-4000:])
        raise RuntimeError(f'failed: {" ".join(map(str, cmd))}')
    return text, seconds


def run_all(config, checkpoint, runs, work_dir, rounds=1):
    """Each of ``runs`` ``rounds`` times, rounds alternating, in the current
    directory (where the config's data paths resolve).

    Returns:
        dict: run name -> one dict a round: ``videos``, ``whole_s`` (the
        command), ``loop_s`` (the test loop), ``first_batch_s`` (where
        compiling happens), ``steady_s`` (the rest of the loop, a video),
        ``mib`` (peak RSS), ``scores`` and ``labels``.
    """
    env = dict(os.environ)
    env['PYTHONPATH'] = os.pathsep.join(
        [BENCHMARKS] +
        [p for p in env.get('PYTHONPATH', '').split(os.pathsep) if p])
    mim = osp.join(osp.dirname(sys.executable), 'mim')
    results = {run.name: [] for run in runs}
    for round_ in range(rounds):
        for index, run in enumerate(runs):
            cfg_file = osp.join(work_dir, f'run{index}.py')
            dump = osp.join(work_dir, f'run{index}_{round_}.pkl')
            write_config(cfg_file, config, run)
            text, whole = run_and_time([
                mim, 'test', 'csn_plugin', cfg_file, '-C', run.checkpoint
                or checkpoint, '--dump', dump, '--work-dir',
                osp.join(work_dir, f'run{index}')
            ] + run.options, env)
            loop = [line.split() for line in text.splitlines()
                    if line.startswith('TEST_LOOP_SECONDS ')][-1]
            seconds, videos, first_s, first_videos, mib = (
                float(loop[1]), int(loop[2]), float(loop[3]), int(loop[4]),
                float(loop[5]))
            scores, labels = read_dump(dump)
            results[run.name].append(dict(
                videos=videos, whole_s=whole / videos,
                loop_s=seconds / videos, first_batch_s=first_s,
                steady_s=(seconds - first_s) / max(videos - first_videos, 1),
                mib=mib, scores=scores, labels=labels))
            print(f'  mim test: {run.name}, round {round_ + 1}',
                  file=sys.stderr, flush=True)
    return results


def read_dump(dump):
    """The ``(videos, classes)`` float32 class scores and the labels of a
    ``--dump``."""
    with open(dump, 'rb') as f:
        samples = pickle.load(f)
    scores = torch.stack([torch.as_tensor(r['pred_score']).float()
                          for r in samples])
    return scores, torch.tensor([int(r['gt_label']) for r in samples])


def compare(results, speed_key='steady_s'):
    """One row a run (the first round's scores; the median time of the
    rounds), compared with the first run: speed-up on ``speed_key``, top-1,
    agreement and class-score difference."""
    rows = []
    for name, rounds in results.items():
        first = rounds[0]
        row = {k: v for k, v in first.items()
               if k not in ('scores', 'labels')}
        for key in ('whole_s', 'loop_s', 'first_batch_s', 'steady_s'):
            row[key] = sorted(r[key] for r in rounds)[len(rounds) // 2]
        row.update(run=name, mib=max(r['mib'] for r in rounds))
        rows.append((row, first['scores'], first['labels']))
    ref_row, ref, _ = rows[0]
    out = []
    for row, scores, labels in rows:
        pred = scores.argmax(1)
        row['top1_acc'] = (pred == labels).float().mean().item()
        row['agree'] = (pred == ref.argmax(1)).float().mean().item()
        row['score_diff'] = rel_diff({'output': ref}, {'output': scores})
        row['speedup'] = ref_row[speed_key] / row[speed_key]
        out.append(row)
    return out


def run_mim_test(config, checkpoint, work_dir, compile=True):
    """``csn_speed.py --mim-test``: :func:`speed_runs`, compared."""
    runs = speed_runs(config, compile)
    return compare(run_all(config, checkpoint, runs, work_dir))


def print_mim_test(rows, config):
    print(f'\n`mim test csn_plugin {config}` per video:\n')
    ref = rows[0]['run']
    print('| run | videos | whole command s/video | first batch s | '
          f'after it, s/video | speed-up vs {ref} | top-1 acc | '
          f'same top-1 as {ref} | class-score rel. diff vs {ref} | '
          'peak RSS MiB |')
    print('|---|---|---|---|---|---|---|---|---|---|')
    for r in rows:
        print(f"| {r['run']} | {r['videos']} | {r['whole_s']:.3f} | "
              f"{r['first_batch_s']:.1f} | {r['steady_s']:.3f} | "
              f"{r['speedup']:.2f}x | {r['top1_acc']:.3f} | "
              f"{r['agree']:.3f} | {r['score_diff']:.1e} | {r['mib']:.0f} |")
    print('\n- Whole command: wall time of `mim test` (start-up, checkpoint '
          'loading, data, model) over the videos. First batch: from before '
          'the first test hook (BN folding included) to after the first '
          'batch; compiling happens there. After it: the rest of the test '
          'loop (metrics included) per video; the speed-up compares it. '
          'Peak RSS: of the test process (VmHWM; DataLoader workers not '
          'included).\n'
          '- Class-score rel. diff: max|a - b| / max|a| over every video\'s '
          'class scores\n  (as the config averages its clips), against '
          f'the {ref} run.')
