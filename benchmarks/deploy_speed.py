"""Deployment routes side by side: MMAction2's built-in model, the plugin's
PyTorch deploy paths, onnxruntime, OpenVINO and int8.

Every route of a case runs the whole recognizer (backbone and I3D head) on
one clip, in one process, with the same weights (the built-in's, loaded
into the plugin's model), and the routes' calls alternate, so load from
other processes hits them alike. Rows (``benchmarks/speed/deploy_routes.py``):

- MMAction2's ``ResNet3dCSN`` (``mmaction.models.backbones.resnet3d_csn``),
  eager: the reference;
- the plugin's ``ResNet3dCSN`` after ``switch_to_deploy()`` as ``mim test
  csn_plugin`` runs it (fp32, and bf16 under autocast where the CPU has
  native bf16), and compiled as ``mim test csn_plugin --compile`` runs it;
- the plugin's model exported to ONNX by ``csn_plugin.deploy``, on
  onnxruntime and on OpenVINO, fp32;
- int8: OpenVINO with NNCF and onnxruntime's QDQ quantization (both as
  ``python -m csn_plugin.tools.quantize`` runs them), and PyTorch's FX
  post-training quantization (``torch.ao.quantization``, x86 engine:
  fbgemm and oneDNN), each calibrated on random clips (speed only; the
  accuracy of int8 is measured by the ``--mim-test`` rows).

Columns: median seconds, speed-up over the built-in, largest difference
from the built-in's class scores relative to their largest, and the peak
memory of the route (RSS growth over two calls in a fresh subprocess).

``--mim-test CONFIG CHECKPOINT`` (repeatable) adds the whole ``mim test
csn_plugin`` of a trained model for each route, run from the directory
where the config's data paths resolve: the model is exported and quantized
with the plugin's tools first, and the table gives the test loop's seconds a
video, top-1 accuracy and the peak RSS of each run.

    python benchmarks/deploy_speed.py --profile  # ir-CSN-152 and ir-CSN-50
    python benchmarks/deploy_speed.py --quick    # ir-CSN-50 at 8x64x64
    cd work_dirs/quickstart && python ../../benchmarks/deploy_speed.py \\
        --no-cases --calib-clips 300 --mim-test CONFIG train/epoch_12.pth

Speed figures only; nothing here is a pass/fail test.
"""
import argparse
import logging
import os.path as osp
import subprocess
import sys
import tempfile

import torch
from mmengine.logging import MMLogger
from mmengine.registry import init_default_scope

import csn_plugin  # noqa: F401  (fixes the stack, registers the plugin)
from csn_plugin.deploy.export import max_relative_diff
from csn_plugin.models.acceleration import cpu_summary, native_bf16
from speed import memory, mim_test, report
from speed.cases import allow_compiling
from speed.deploy_routes import (ENGINE_FILES, ROUTES, build_models,
                                 cases_for, make_route, route_keys,
                                 write_files)
from speed.profile import print_profile
from speed.timing import time_interleaved

#: seconds between two timed calls (see speed.timing.time_interleaved)
SETTLE_S = 0.3


def versions():
    import nncf
    import onnxruntime
    import openvino
    return (f'torch {torch.__version__}, onnxruntime {onnxruntime.__version__}'
            f', openvino {openvino.__version__}, nncf {nncf.__version__}')


def probe_memory(case, key, files):
    """Peak RSS growth over two calls of one route, built in this fresh
    process (weights and sessions before the measurement; compiled routes
    compile in a warm-up call first)."""
    builtin, plugin = build_models(case, osp.join(files, 'state.pth'))
    fn = make_route(key, case, builtin, plugin, files)
    del builtin, plugin
    x = torch.randn(case.clip_shape)
    fn(x)
    return memory.peak_growth(lambda: fn(x))


def run_case(index, case, args):
    keys = route_keys()
    builtin, plugin = build_models(case)
    x = torch.randn(case.clip_shape,
                    generator=torch.Generator().manual_seed(1))
    with tempfile.TemporaryDirectory() as files:
        torch.save(builtin.state_dict(), osp.join(files, 'state.pth'))
        write_files(case, plugin, files)
        fns = [make_route(k, case, builtin, plugin, files) for k in keys]
        outputs = [fn(x) for fn in fns]  # warm-up, and the compared scores
        seconds = time_interleaved([lambda fn=fn: fn(x) for fn in fns],
                                   args.repeats, torch.device('cpu'),
                                   SETTLE_S)
        mib = {}
        if args.memory:
            for key in keys:
                mib[key] = memory.peak_in_subprocess([
                    sys.executable, osp.abspath(__file__), '--threads',
                    str(args.threads), '--probe', f'{index}:{key}:{files}'
                ] + (['--quick'] if args.quick else []))
        if args.profile:
            print_profile(case, builtin, plugin, files)
    rows = []
    for key, out, s in zip(keys, outputs, seconds):
        rows.append(dict(
            case=case.name, shape='x'.join(map(str, case.shape)),
            route=ROUTES[key], seconds=s, speedup=seconds[0] / s,
            rel_diff=max_relative_diff(out.numpy(), outputs[0].numpy()),
            same_top1=bool(out.argmax(-1) == outputs[0].argmax(-1)),
            mib=mib.get(key)))
    return rows


def print_case_table(rows, repeats):
    print('| case | input | route | median s | speed-up vs built-in | '
          'rel. diff vs built-in | peak RSS growth MiB |')
    print('|---|---|---|---:|---:|---:|---:|')
    for r in rows:
        mib = '-' if r['mib'] is None else f"{r['mib']:.0f}"
        print(f"| {r['case']} | {r['shape']} | {r['route']} | "
              f"{r['seconds']:.3f} | {r['speedup']:.2f}x | "
              f"{r['rel_diff']:.1e} | {mib} |")
    print(f'\n- Median of {repeats} calls after one warm-up (which compiles '
          f'the compiled routes), calls alternating between the routes, '
          f'{SETTLE_S} s apart; one clip, whole recognizer (backbone and I3D '
          'head, 400 classes).\n'
          '- Rel. diff: max|route - built-in| / max|built-in| of the class '
          'scores. Random weights with calibrated BN statistics: int8 rows '
          'show how far quantization moves the scores of such a network, '
          'not accuracy (see the mim test table).\n'
          '- Peak RSS growth: VmHWM over two calls minus VmRSS before them, '
          'each route built in a fresh subprocess.')


def run_quiet(cmd):
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode:
        sys.stderr.write(done.stdout[-3000:] + done.stderr[-3000:])
        raise RuntimeError(f'failed: {" ".join(map(str, cmd))}')
    return done.stdout


def deploy_runs(config, files):
    """The ``mim test`` runs of the routes, on the files in ``files``."""
    runs = []
    if mim_test.has_builtin_depth(config):
        runs.append(mim_test.MimRun(ROUTES['builtin'],
                                    overrides=mim_test.BUILTIN_BACKBONE))
    runs.append(mim_test.MimRun(ROUTES['deploy']))
    runs.append(mim_test.MimRun(ROUTES['deploy_compiled'],
                                options=['--compile']))
    if native_bf16():
        runs.append(mim_test.MimRun(
            ROUTES['deploy_bf16'],
            overrides=dict(test_cfg=dict(type='TestLoop', fp16=True))))
    for key in ('ort', 'ov', 'ov_int8', 'ort_int8'):
        name, backend = ENGINE_FILES[key]
        runs.append(mim_test.MimRun(ROUTES[key], osp.join(files, name),
                                    ['--backend', backend]))
    for run in runs:
        run.options = run.options + ['--average-clips', 'prob']
    return runs


def run_mim_test(config, checkpoint, args):
    """Export and quantize the trained model with the plugin's tools, then
    ``mim test`` it on each route, ``--mim-rounds`` times."""
    config, checkpoint = osp.abspath(config), osp.abspath(checkpoint)
    with tempfile.TemporaryDirectory() as files:
        tool = [sys.executable, '-m']
        exported = run_quiet(tool + ['csn_plugin.tools.export', config,
                                     checkpoint,
                                     osp.join(files, 'model.onnx')])
        for out, backend in (('int8.xml', 'openvino'),
                             ('int8.onnx', 'onnxruntime')):
            run_quiet(tool + [
                'csn_plugin.tools.quantize', config, checkpoint,
                osp.join(files, out), '--calib-clips', str(args.calib_clips),
                '--backend', backend
            ])
        results = mim_test.run_all(config, checkpoint,
                                   deploy_runs(config, files), files,
                                   args.mim_rounds)
    return exported, mim_test.compare(results, speed_key='steady_s')


def print_mim_table(config, exported, rows, args):
    ref = rows[0]['run']
    print(f'\n`mim test csn_plugin {config} --average-clips prob`, '
          f'{rows[0]["videos"]} videos:\n')
    print(f'| route | first batch s | test loop after it, s/video | '
          f'speed-up vs {ref} | top-1 | same top-1 as {ref} | '
          'class-score rel. diff | peak RSS MiB |')
    print('|---|---:|---:|---:|---:|---:|---:|---:|')
    for r in rows:
        print(f"| {r['run']} | {r['first_batch_s']:.1f} | "
              f"{r['steady_s']:.4f} | {r['speedup']:.2f}x | "
              f"{100 * r['top1_acc']:.2f} % | {100 * r['agree']:.1f} % | "
              f"{r['score_diff']:.1e} | {r['mib']:.0f} |")
    checks = [line for line in exported.splitlines() if 'vs PyTorch' in line]
    print(f'\n- First batch: from before the first test hook (BN folding '
          f'included) to after the first batch; compiling happens there. '
          f'Test loop after it: per video, metrics included, median of '
          f'{args.mim_rounds} round(s), runs alternating. Peak RSS: of the '
          f'test process (VmHWM; DataLoader workers not included).\n- int8: `csn_plugin.tools.quantize '
          f'--calib-clips {args.calib_clips}`, on the training set.\n'
          '- Export check: ' + '; '.join(checks))


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--quick', action='store_true',
                        help='one small case (ir-CSN-50 at 8x64x64)')
    parser.add_argument('--repeats', type=int, default=5,
                        help='timed calls per route (default 5)')
    parser.add_argument('--threads', type=int, default=None,
                        help="threads of every engine (default: torch's, "
                        'which follows OMP_NUM_THREADS)')
    parser.add_argument('--no-memory', dest='memory', action='store_false',
                        help='skip the peak-memory subprocesses')
    parser.add_argument('--profile', action='store_true',
                        help='also print where each route spends its time '
                        '(convs by kind), per case')
    parser.add_argument('--no-cases', dest='cases', action='store_false',
                        help='only the --mim-test tables')
    parser.add_argument(
        '--mim-test', nargs=2, action='append', default=[],
        metavar=('CONFIG', 'CHECKPOINT'),
        help='also run `mim test csn_plugin CONFIG` on each route (from '
        "where the config's data paths resolve); repeatable")
    parser.add_argument('--calib-clips', type=int, default=32,
                        help='training clips that calibrate the --mim-test '
                        'int8 models (default 32)')
    parser.add_argument('--mim-rounds', type=int, default=2,
                        help='rounds of --mim-test runs (default 2)')
    parser.add_argument('--probe', help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    args.threads = torch.get_num_threads()
    return args


def main():
    args = parse_args()
    allow_compiling()
    init_default_scope('mmaction')
    # init_weights() logs every parameter at INFO
    MMLogger.get_current_instance().setLevel(logging.WARNING)
    cases = cases_for(args.quick)
    if args.probe:
        index, key, files = args.probe.split(':', 2)
        print(f'PEAK_MIB {probe_memory(cases[int(index)], key, files)}')
        return

    print('# Deployment routes: csn_plugin vs MMAction2 on CPU'
          + (' (quick)' if args.quick else ''))
    print(f'CPU: {cpu_summary()}')
    print(report.isa_limits())
    print(f'{versions()}; {args.threads} threads each')
    print(f'load average (1/5/15 min) at start: {report.load_average()}\n')
    if args.cases:
        rows = []
        for index, case in enumerate(cases):
            rows += run_case(index, case, args)
            print(f'  done: {case.name}', file=sys.stderr, flush=True)
        print_case_table(rows, args.repeats)
    for config, checkpoint in args.mim_test:
        exported, rows = run_mim_test(config, checkpoint, args)
        print_mim_table(config, exported, rows, args)
    print(f'\nload average (1/5/15 min) at end: {report.load_average()}')


if __name__ == '__main__':
    main()
