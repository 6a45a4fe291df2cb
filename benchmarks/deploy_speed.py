"""Deployment routes side by side: MMAction2's built-in model, the plugin's
deploy path, onnxruntime, OpenVINO and int8.

Every route of a case runs the whole recognizer (backbone and I3D head) on
one clip, in one process, with the same weights (the built-in's, loaded
into the plugin's model), and the routes' calls alternate, so load from
other processes hits them alike. Rows:

- MMAction2's ``ResNet3dCSN`` (``mmaction.models.backbones.resnet3d_csn``),
  eager: the reference;
- the plugin's ``ResNet3dCSN`` after ``switch_to_deploy()``, fp32, and bf16
  (under autocast) where the CPU has native bf16;
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
import contextlib
import logging
import copy
import os
import os.path as osp
import pickle
import platform
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn as nn
from mmcv.cnn import ConvModule
from torch.nn.modules.batchnorm import _BatchNorm

import csn_plugin  # noqa: F401  (fixes the stack, registers the plugin)
from csn_plugin.deploy.backends import open_session
from csn_plugin.deploy.export import (RecognizerGraph, export_onnx,
                                      max_relative_diff,
                                      replace_global_pools)
from csn_plugin.deploy.quantize import quantize
from mmaction.models.backbones.resnet3d_csn import \
    ResNet3dCSN as BuiltinCSN  # noqa: E402  (replaced in MODELS, not here)
from mmaction.registry import MODELS
from mmengine.logging import MMLogger
from mmengine.registry import init_default_scope

HERE = osp.dirname(osp.abspath(__file__))
#: MMAction2's CSN backbone arguments (configs/_base_/models/ircsn_r152.py)
MMACTION_CSN = dict(bottleneck_mode='ir', with_pool2=False, norm_eval=False,
                    zero_init_residual=False)
BUILTIN_DEPTHS = (50, 101, 152)
CALIB_CLIPS = 8


@dataclass
class Case:
    name: str
    depth: int
    shape: tuple  # (N, C, T, H, W)


def cases_for(quick):
    if quick:
        return [Case('ir-CSN-50', 50, (1, 3, 8, 64, 64))]
    return [Case('ir-CSN-152', 152, (1, 3, 32, 224, 224)),
            Case('ir-CSN-50', 50, (1, 3, 16, 112, 112))]


# ---------------------------------------------------------------- the CPU --
def native_bf16():
    """Whether this CPU has bf16 arithmetic (AVX512-BF16, AMX or
    AVX-NE-CONVERT); elsewhere bf16 is emulated and not a deploy route."""
    caps = torch.cpu.get_capabilities()
    return any(caps.get(k) for k in ('avx512_bf16', 'amx_bf16',
                                     'avx_ne_convert'))


def cpu_line():
    caps = torch.cpu.get_capabilities()
    name = caps.get('cpu_name') or platform.processor()
    try:
        out = subprocess.run(['lscpu'], capture_output=True, text=True).stdout
        name = next(line.split(':', 1)[1].strip()
                    for line in out.splitlines()
                    if line.startswith('Model name'))
    except (OSError, StopIteration):
        pass
    isa = [k for k in ('avx2', 'avx512_f', 'avx512_vnni', 'avx_vnni',
                       'avx512_bf16', 'amx_bf16', 'amx_int8',
                       'avx_ne_convert') if caps.get(k)]
    return (f'{name}, {caps.get("num_physical_cores", "?")} cores; ISA: '
            f'{", ".join(isa)}; native bf16: '
            f'{"yes" if native_bf16() else "no"}; PyTorch CPU capability '
            f'{torch.backends.cpu.get_cpu_capability()}')


def load_average():
    return '/'.join(f'{v:.1f}' for v in os.getloadavg())


def versions():
    import onnxruntime
    import openvino
    import nncf
    return (f'torch {torch.__version__}, onnxruntime {onnxruntime.__version__}'
            f', openvino {openvino.__version__}, nncf {nncf.__version__}')


# ----------------------------------------------------------------- models --
def recognizer_cfg(backbone_type, depth):
    return dict(
        type='Recognizer3D',
        backbone=dict(type=backbone_type, depth=depth, pretrained=None,
                      **MMACTION_CSN),
        cls_head=dict(type='I3DHead', num_classes=400, in_channels=2048,
                      average_clips='prob'))


@torch.no_grad()
def calibrate(model, shape, seed=0):
    """Weights with a trained network's scales: random BN affine parameters,
    small ones closing each residual branch, running statistics of a random
    clip. (Kaiming weights with unit BN statistics explode through 152
    layers and measure nothing useful.)"""
    gen = torch.Generator().manual_seed(seed)
    for name, bn in model.named_modules():
        if isinstance(bn, _BatchNorm):
            gamma = .2 if name.endswith('conv3.bn') else 1.
            bn.reset_running_stats()
            bn.momentum = None  # cumulative average over the batch
            bn.weight.copy_(gamma * (torch.rand(bn.num_features,
                                                generator=gen) + .5))
            bn.bias.copy_(torch.randn(bn.num_features, generator=gen) * .1)
    model.train()
    model.backbone(torch.randn(shape, generator=gen))
    for bn in model.modules():
        if isinstance(bn, _BatchNorm):
            bn.momentum = 0.1
    model.eval()


def build_models(case, state_file=None):
    """The built-in recognizer and the plugin's, with the same weights:
    calibrated (:func:`calibrate`) or loaded from ``state_file``."""
    torch.manual_seed(0)
    builtin = MODELS.build(recognizer_cfg(BuiltinCSN, case.depth))
    if state_file:
        builtin.load_state_dict(torch.load(state_file), strict=True)
    else:
        builtin.init_weights()
        n, c, t, h, w = case.shape
        calibrate(builtin, (2, c, min(t, 8), min(h, 112), min(w, 112)))
    plugin = MODELS.build(recognizer_cfg('ResNet3dCSN', case.depth))
    plugin.load_state_dict(builtin.state_dict(), strict=True)
    return builtin.eval(), plugin.eval()


def plain_units(module):
    """Replace every ``ConvModule`` by ``nn.Sequential(Conv3d, BN, ReLU)``
    (plain PyTorch classes), in place: FX quantization maps module types
    exactly and cannot trace mmcv's ConvModule."""
    for name, child in list(module.named_children()):
        if isinstance(child, ConvModule):
            c = child.conv
            conv = nn.Conv3d(c.in_channels, c.out_channels, c.kernel_size,
                             c.stride, c.padding, c.dilation, c.groups,
                             c.bias is not None)
            conv.weight.data = c.weight.data.contiguous()
            if c.bias is not None:
                conv.bias.data = c.bias.data
            parts = [conv]
            parts += [child.norm] if child.with_norm else []
            parts += [child.activate] if child.with_activation else []
            setattr(module, name, nn.Sequential(*parts))
        else:
            plain_units(child)


class FxInt8(nn.Module):
    """The backbone quantized by PyTorch's FX post-training quantization
    (x86 engine), the head in fp32."""

    def __init__(self, recognizer, clips):
        super().__init__()
        from torch.ao.quantization import get_default_qconfig_mapping
        from torch.ao.quantization.quantize_fx import convert_fx, prepare_fx
        torch.backends.quantized.engine = 'x86'
        backbone = copy.deepcopy(recognizer.backbone).eval()
        plain_units(backbone)
        body = nn.Sequential(
            backbone.conv1, backbone.maxpool,
            *[getattr(backbone, n) for n in backbone.res_layers]).eval()
        with warnings.catch_warnings():
            warnings.simplefilter('ignore')  # torch.ao deprecation notices
            prepared = prepare_fx(body, get_default_qconfig_mapping('x86'),
                                  (clips[0].flatten(0, 1), ))
            with torch.no_grad():
                for clip in clips:
                    prepared(clip.flatten(0, 1))
            self.body = convert_fx(prepared)
        self.cls_head = copy.deepcopy(recognizer.cls_head)
        replace_global_pools(self.cls_head)

    def forward(self, clips):
        batch, views = clips.shape[:2]
        x = self.cls_head(self.body(clips.flatten(0, 1)))
        return x.reshape((batch, views) + x.shape[1:])


# ----------------------------------------------------------------- routes --
#: route key -> label
ROUTES = {
    'builtin': 'MMAction2 built-in, eager',
    'deploy': 'plugin switch_to_deploy(), fp32',
    'deploy_bf16': 'plugin switch_to_deploy(), bf16',
    'ort': 'onnxruntime, fp32',
    'ov': 'OpenVINO, fp32',
    'ov_int8': 'OpenVINO int8 (NNCF)',
    'ort_int8': 'onnxruntime int8 (QDQ)',
    'fx_int8': 'PyTorch int8 (FX, x86)',
}


def route_keys():
    return [k for k in ROUTES if k != 'deploy_bf16' or native_bf16()]


def calibration_clips(case):
    gen = torch.Generator().manual_seed(2)
    return [torch.randn((1, 1) + case.shape[1:], generator=gen)
            for _ in range(CALIB_CLIPS)]


def write_files(case, plugin, files):
    """The plugin model exported to ONNX and quantized for both engines,
    and the weights, in ``files``."""
    onnx_file = osp.join(files, 'model.onnx')
    export_onnx(RecognizerGraph(copy.deepcopy(plugin)),
                torch.randn((1, 1) + case.shape[1:]), onnx_file)
    clips = [c.numpy() for c in calibration_clips(case)]
    with contextlib.redirect_stdout(sys.stderr):  # NNCF's progress bars
        quantize(onnx_file, clips, osp.join(files, 'int8.xml'), 'openvino')
        quantize(onnx_file, clips, osp.join(files, 'int8.onnx'),
                 'onnxruntime')


def session_fn(model_file, backend):
    session = open_session(model_file, backend)
    return lambda x: torch.from_numpy(session(x.numpy())[0])


def make_route(key, case, builtin, plugin, files):
    """A function of the clip ``[1, 1, C, T, H, W]`` returning its class
    scores, for route ``key``."""
    if key == 'builtin':
        graph = RecognizerGraph(builtin).eval()
    elif key.startswith('deploy'):
        plugin = copy.deepcopy(plugin)
        plugin.backbone.switch_to_deploy()
        graph = RecognizerGraph(plugin).eval()
    elif key == 'fx_int8':
        graph = FxInt8(plugin, calibration_clips(case)).eval()
    else:
        backend = 'onnxruntime' if key.startswith('ort') else 'openvino'
        name = {'ort': 'model.onnx', 'ov': 'model.onnx',
                'ov_int8': 'int8.xml', 'ort_int8': 'int8.onnx'}[key]
        return session_fn(osp.join(files, name), backend)
    bf16 = key == 'deploy_bf16'

    def run(x):
        with torch.no_grad(), torch.autocast('cpu', torch.bfloat16,
                                             enabled=bf16):
            return graph(x).float()

    return run


#: seconds between two timed calls: each engine's worker threads keep
#: spinning for a while after a call, and on a small machine the next
#: engine's call would compete with them (on 2 cores, OpenVINO right after
#: onnxruntime took twice as long as alone)
SETTLE_S = 0.3


def time_interleaved(fns, x, repeats):
    """Median seconds of each function on ``x``; calls alternate, with
    :data:`SETTLE_S` between them."""
    times = [[] for _ in fns]
    for _ in range(repeats):
        for i, fn in enumerate(fns):
            time.sleep(SETTLE_S)
            start = time.perf_counter()
            fn(x)
            times[i].append(time.perf_counter() - start)
    return [statistics.median(t) for t in times]


def rss_mib():
    with open('/proc/self/status') as f:
        fields = dict(line.split(':', 1) for line in f)
    return (int(fields['VmRSS'].split()[0]) / 1024,
            int(fields['VmHWM'].split()[0]) / 1024)


def probe_memory(case, key, files):
    """Peak RSS growth over two calls of one route, built in this fresh
    process (weights and sessions before the measurement)."""
    builtin, plugin = build_models(case, osp.join(files, 'state.pth'))
    fn = make_route(key, case, builtin, plugin, files)
    del builtin, plugin
    x = torch.randn((1, 1) + case.shape[1:])
    base, _ = rss_mib()
    with open('/proc/self/clear_refs', 'w') as f:
        f.write('5')  # reset the peak (Linux >= 4.0)
    for _ in range(2):
        fn(x)
    return rss_mib()[1] - base


def memory_in_subprocess(args, case_index, key, files):
    cmd = [sys.executable, osp.abspath(__file__), '--threads',
           str(args.threads), '--probe', f'{case_index}:{key}:{files}']
    done = subprocess.run(cmd + (['--quick'] if args.quick else []),
                          capture_output=True, text=True)
    for line in done.stdout.splitlines():
        if line.startswith('PEAK_MIB '):
            return float(line.split()[1])
    sys.stderr.write(done.stdout[-2000:] + done.stderr[-3000:])
    raise RuntimeError(f'memory probe of {key} failed')


def run_case(index, case, args):
    keys = route_keys()
    builtin, plugin = build_models(case)
    x = torch.randn((1, 1) + case.shape[1:],
                    generator=torch.Generator().manual_seed(1))
    with tempfile.TemporaryDirectory() as files:
        torch.save(builtin.state_dict(), osp.join(files, 'state.pth'))
        write_files(case, plugin, files)
        fns = [make_route(k, case, builtin, plugin, files) for k in keys]
        outputs = [fn(x) for fn in fns]  # warm-up, and the compared scores
        seconds = time_interleaved(fns, x, args.repeats)
        memory = ({k: memory_in_subprocess(args, index, k, files)
                   for k in keys} if args.memory else {})
        if args.profile:
            print_profile(case, builtin, plugin, files)
    rows = []
    for key, out, s in zip(keys, outputs, seconds):
        rows.append(dict(
            case=case.name, shape='x'.join(map(str, case.shape)),
            route=ROUTES[key], seconds=s, speedup=seconds[0] / s,
            rel_diff=max_relative_diff(out.numpy(), outputs[0].numpy()),
            same_top1=bool(out.argmax(-1) == outputs[0].argmax(-1)),
            mib=memory.get(key)))
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
    print(f'\n- Median of {repeats} calls after one warm-up, calls '
          f'alternating between the routes, {SETTLE_S} s apart; one clip, '
          'whole recognizer (backbone and I3D head, 400 classes).\n'
          '- Rel. diff: max|route - built-in| / max|built-in| of the class '
          'scores. Random weights with calibrated BN statistics: int8 rows '
          'show how far quantization moves the scores of such a network, '
          'not accuracy (see the mim test table).\n'
          '- Peak RSS growth: VmHWM over two calls minus VmRSS before them, '
          'each route built in a fresh subprocess.')


# --------------------------------------------------------------- profile --
KINDS = ('depthwise conv', '1x1x1 conv', 'other conv', 'rest')


def kind_of(weight_shape):
    """Which kind of conv a weight ``(O, I / groups, kt, kh, kw)`` is."""
    kernel = weight_shape[2:]
    if weight_shape[1] == 1 and np.prod(kernel) > 1:
        return 'depthwise conv'
    return '1x1x1 conv' if np.prod(kernel) == 1 else 'other conv'


def onnx_conv_kinds(onnx_file):
    """ONNX conv node name -> kind, from the weights' shapes (the exporter
    may put a shared weight behind an ``Identity``)."""
    import onnx
    graph = onnx.load(onnx_file).graph
    shapes = {i.name: tuple(i.dims) for i in graph.initializer}
    alias = {n.output[0]: n.input[0] for n in graph.node
             if n.op_type == 'Identity'}
    return {n.name: kind_of(shapes[alias.get(n.input[1], n.input[1])])
            for n in graph.node if n.op_type == 'Conv'}


def kind_by_name(name, kinds):
    """The kind of the ONNX conv whose name starts an engine's node name
    (engines add suffixes: ``_token_12``, ``/WithoutBiases``)."""
    for conv, kind in kinds.items():
        if name.startswith(conv):
            return kind
    return 'rest'


def profile_onnxruntime(model_file, x, kinds, runs):
    import json
    import onnxruntime as ort
    options = ort.SessionOptions()
    options.intra_op_num_threads = torch.get_num_threads()
    options.enable_profiling = True
    session = ort.InferenceSession(model_file, options,
                                   providers=['CPUExecutionProvider'])
    for _ in range(runs + 1):
        session.run(None, {'clips': x.numpy()})
    with open(session.end_profiling()) as f:
        events = json.load(f)
    os.remove(f.name)
    times = dict.fromkeys(KINDS, 0.0)
    # the first run (warm-up) comes first in the file: skip its nodes
    nodes = [e for e in events if e.get('cat') == 'Node'
             and e['name'].endswith('_kernel_time')]
    for e in nodes[len(nodes) // (runs + 1):]:
        name = e['name'][:-len('_kernel_time')].split('_token_')[0]
        times[kind_by_name(name, kinds)] += e['dur'] / 1e3 / runs
    return times


def profile_openvino(model_file, x, kinds, runs):
    import openvino as ov
    core = ov.Core()
    model = core.read_model(model_file) if model_file.endswith(
        '.xml') else ov.convert_model(model_file)
    request = core.compile_model(model, 'CPU', {
        'INFERENCE_NUM_THREADS': torch.get_num_threads(),
        'INFERENCE_PRECISION_HINT': 'f32', 'PERF_COUNT': True
    }).create_infer_request()
    request.infer([x.numpy()])
    times = dict.fromkeys(KINDS, 0.0)
    for _ in range(runs):
        request.infer([x.numpy()])
        for node in request.get_profiling_info():
            times[kind_by_name(node.node_name, kinds)] += (
                node.real_time.total_seconds() * 1e3 / runs)
    return times


def profile_pytorch(fn, x, runs):
    """Self time of the innermost convolution ops by their weight's shape;
    the rest is the remaining wall time."""
    from torch.profiler import ProfilerActivity, profile
    fn(x)
    with profile(activities=[ProfilerActivity.CPU],
                 record_shapes=True) as prof:
        start = time.perf_counter()
        for _ in range(runs):
            fn(x)
        wall = (time.perf_counter() - start) * 1e3 / runs
    times = dict.fromkeys(KINDS, 0.0)
    for e in prof.events():
        inner = not any('conv' in c.name for c in e.cpu_children)
        if 'conv' in e.name and inner and len(e.input_shapes) > 1 and len(
                e.input_shapes[1]) == 5:
            times[kind_of(e.input_shapes[1])] += e.cpu_time_total / 1e3 / runs
    times['rest'] = wall - sum(times.values())
    return times


def print_profile(case, builtin, plugin, files, runs=3):
    """Where each route spends its time: the convolutions by kind, and the
    rest (pooling, reorders, quantize/dequantize, the head...)."""
    x = torch.randn((1, 1) + case.shape[1:])
    kinds = onnx_conv_kinds(osp.join(files, 'model.onnx'))
    rows = {ROUTES['deploy']: profile_pytorch(
        make_route('deploy', case, builtin, plugin, files), x, runs)}
    for key, name in (('ort', 'model.onnx'), ('ort_int8', 'int8.onnx')):
        rows[ROUTES[key]] = profile_onnxruntime(
            osp.join(files, name), x, kinds, runs)
    for key, name in (('ov', 'model.onnx'), ('ov_int8', 'int8.xml')):
        rows[ROUTES[key]] = profile_openvino(
            osp.join(files, name), x, kinds, runs)
    print(f'\nProfile, {case.name} {"x".join(map(str, case.shape))}, ms a '
          f'call (mean of {runs} profiled calls):\n')
    print('| route | ' + ' | '.join(KINDS) + ' | total |')
    print('|---|' + '---:|' * (len(KINDS) + 1))
    for route, times in rows.items():
        print(f'| {route} | ' + ' | '.join(f'{times[k]:.1f}' for k in KINDS)
              + f' | {sum(times.values()):.1f} |')
    print('\n- PyTorch: self time of the innermost conv ops (torch.profiler) '
          'by weight shape, rest = wall time minus them. onnxruntime: its '
          'profiler\'s node times; OpenVINO: its per-layer performance '
          'counters; convs matched to the ONNX graph by node name. '
          '"other conv": the stem (3x7x7) and any dense or grouped 3x3x3.')


# -------------------------------------------------------------- mim test --
def run_quiet(cmd, **kwargs):
    done = subprocess.run(cmd, capture_output=True, text=True, **kwargs)
    if done.returncode:
        sys.stderr.write(done.stdout[-3000:] + done.stderr[-3000:])
        raise RuntimeError(f'failed: {" ".join(map(str, cmd))}')
    return done.stdout


def mim_runs(config, checkpoint, files):
    """(label, model file, options, config overrides) of each route."""
    from mmengine import Config
    depth = Config.fromfile(config).model.backbone.get('depth')
    runs = []
    if depth in BUILTIN_DEPTHS:
        runs.append((ROUTES['builtin'], checkpoint, [],
                     dict(model=dict(backbone=dict(
                         type='MMAction2ResNet3dCSN')))))
    runs.append((ROUTES['deploy'], checkpoint, [], {}))
    if native_bf16():
        runs.append((ROUTES['deploy_bf16'], checkpoint, [],
                     dict(test_cfg=dict(type='TestLoop', fp16=True))))
    for key, name, backend in (('ort', 'model.onnx', 'onnxruntime'),
                               ('ov', 'model.onnx', 'openvino'),
                               ('ov_int8', 'int8.xml', 'openvino'),
                               ('ort_int8', 'int8.onnx', 'onnxruntime')):
        runs.append((ROUTES[key], osp.join(files, name),
                     ['--backend', backend], {}))
    return runs


def wait_rss(cmd, env):
    """Run ``cmd``; its output and the peak RSS (MiB) of its largest
    process (``wait4``'s ``ru_maxrss`` covers the waited-for children)."""
    with tempfile.TemporaryFile('w+') as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT,
                                env=env)
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        text = out.read()
    if proc.returncode:
        sys.stderr.write(text[-4000:])
        raise RuntimeError(f'failed: {" ".join(map(str, cmd))}')
    return text, usage.ru_maxrss / 1024


def run_mim_test(config, checkpoint, args):
    config, checkpoint = osp.abspath(config), osp.abspath(checkpoint)
    env = dict(os.environ)
    env['PYTHONPATH'] = os.pathsep.join(
        [HERE] + [p for p in env.get('PYTHONPATH', '').split(os.pathsep)
                  if p])
    mim = osp.join(osp.dirname(sys.executable), 'mim')
    with tempfile.TemporaryDirectory() as files:
        tool = [sys.executable, '-m']
        exported = run_quiet(tool + ['csn_plugin.tools.export', config,
                                     checkpoint,
                                     osp.join(files, 'model.onnx')])
        for out in ('int8.xml', 'int8.onnx'):
            run_quiet(tool + [
                'csn_plugin.tools.quantize', config, checkpoint,
                osp.join(files, out), '--calib-clips',
                str(args.calib_clips), '--backend',
                'openvino' if out.endswith('.xml') else 'onnxruntime'])
        runs = mim_runs(config, checkpoint, files)
        results = {label: [] for label, *_ in runs}
        for round_ in range(args.mim_rounds):
            for index, (label, model_file, options, overrides) in enumerate(
                    runs):
                cfg_file = osp.join(files, f'run{index}.py')
                with open(cfg_file, 'w') as f:
                    f.write('\n'.join([
                        f'_base_ = [{config!r}]',
                        "custom_imports = dict(imports=['csn_plugin', "
                        "'mim_test_support'], allow_failed_imports=False)",
                        "custom_hooks = [dict(type='TestLoopTimerHook')]",
                    ] + [f'{k} = {v!r}' for k, v in overrides.items()]) +
                        '\n')
                dump = osp.join(files, f'run{index}_{round_}.pkl')
                text, mib = wait_rss([
                    mim, 'test', 'csn_plugin', cfg_file, '-C', model_file,
                    '--average-clips', 'prob', '--dump', dump, '--work-dir',
                    osp.join(files, f'run{index}')
                ] + options, env)
                loop = [line.split() for line in text.splitlines()
                        if line.startswith('TEST_LOOP_SECONDS ')][-1]
                with open(dump, 'rb') as f:
                    samples = pickle.load(f)
                results[label].append(dict(
                    loop_s=float(loop[1]) / int(loop[2]), mib=mib,
                    scores=np.stack([np.asarray(s['pred_score'], np.float32)
                                     for s in samples]),
                    labels=np.array([int(s['gt_label']) for s in samples])))
                print(f'  {label}: round {round_ + 1}', file=sys.stderr,
                      flush=True)
    return exported, summarize(results)


def summarize(results):
    rows, ref = [], None
    for label, runs in results.items():
        scores, labels = runs[0]['scores'], runs[0]['labels']
        row = dict(route=label, videos=len(labels),
                   loop_s=statistics.median(r['loop_s'] for r in runs),
                   mib=max(r['mib'] for r in runs),
                   top1=float((scores.argmax(1) == labels).mean()),
                   scores=scores)
        ref = ref or row
        row['speedup'] = ref['loop_s'] / row['loop_s']
        row['rel_diff'] = max_relative_diff(scores, ref['scores'])
        row['same_top1'] = float(
            (scores.argmax(1) == ref['scores'].argmax(1)).mean())
        rows.append(row)
    return rows


def print_mim_table(config, exported, rows, args):
    ref = rows[0]['route']
    print(f'\n`mim test csn_plugin {config} --average-clips prob`, '
          f'{rows[0]["videos"]} videos:\n')
    print(f'| route | test loop s/video | speed-up vs {ref} | top-1 | same '
          f'top-1 as {ref} | class-score rel. diff | peak RSS MiB |')
    print('|---|---:|---:|---:|---:|---:|---:|')
    for r in rows:
        print(f"| {r['route']} | {r['loop_s']:.4f} | {r['speedup']:.2f}x | "
              f"{100 * r['top1']:.2f} % | {100 * r['same_top1']:.1f} % | "
              f"{r['rel_diff']:.1e} | {r['mib']:.0f} |")
    checks = [line for line in exported.splitlines() if 'vs PyTorch' in line]
    print(f'\n- Test loop: from before the first test hook (BN folding '
          f'included) to after the metrics, median of {args.mim_rounds} '
          f'round(s), runs alternating. Peak RSS: of the largest process '
          f'of the run.\n- int8: `csn_plugin.tools.quantize --calib-clips '
          f'{args.calib_clips}`, on the training set.\n- Export check: ' +
          '; '.join(checks))


# ------------------------------------------------------------------ main --
def main():
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
    print(f'CPU: {cpu_line()}')
    print(f'{versions()}; {args.threads} threads each')
    print(f'load average (1/5/15 min) at start: {load_average()}\n')
    if args.cases:
        rows = []
        for index, case in enumerate(cases):
            rows += run_case(index, case, args)
            print(f'  done: {case.name}', file=sys.stderr, flush=True)
        print_case_table(rows, args.repeats)
    for config, checkpoint in args.mim_test:
        exported, rows = run_mim_test(config, checkpoint, args)
        print_mim_table(config, exported, rows, args)
    print(f'\nload average (1/5/15 min) at end: {load_average()}')


if __name__ == '__main__':
    main()
