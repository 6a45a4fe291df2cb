"""Where each deployment route spends its time: the convolutions by kind
(depthwise, 1x1x1, other: the stem and dense or grouped 3x3x3) and the
rest, from each engine's own profiler."""
import json
import os
import os.path as osp
import time

import numpy as np
import torch

from csn_plugin.deploy.backends import import_engine

from .deploy_routes import ROUTES, make_route

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
    ov = import_engine('openvino')
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
    x = torch.randn(case.clip_shape)
    kinds = onnx_conv_kinds(osp.join(files, 'model.onnx'))
    # the deployed modules run eagerly here: the profiler sees their convs
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
