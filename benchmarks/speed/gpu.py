"""The GPU table of ``benchmarks/csn_speed.py --device cuda``.

MMAction2's ``ResNet3dCSN`` against the plugin's, same weights, in one
process, calls alternating, ``torch.backends.cudnn.benchmark`` on for every
row:

- inference (``--batch`` clips, default 30: one video's 10x3 test views):
  MMAction2 eager fp32 and bf16 autocast; the plugin with its defaults
  (``memory_format='auto'``) on the val path and the ``mim test`` path
  (``switch_to_deploy()``), fp32 and bf16; ``torch.compile`` (inductor,
  freezing) of MMAction2's unmodified model in bf16, weights in
  channels_last_3d; the plugin's ``mim test --compile`` route
  (``CompiledInference``) in bf16;
- train steps (forward, a linear loss on the features, backward), BN
  training and BN frozen, fp32 and bf16 autocast;
- correctness with TF32 off: the largest output difference of the plugin's
  paths from MMAction2's, and in a BN-training train step of ir-CSN-50 the
  worst parameter's gradient difference, each next to MMAction2's own noise
  floor (the same measure between MMAction2's model and itself fed the same
  clip in channels_last_3d).

The noise floor of a row: for fp32, MMAction2 against itself on a
channels_last_3d clip; for bf16, MMAction2 under bf16 autocast against
MMAction2 in fp32 (the bf16 rows' differences are on that scale).

Columns: median ms, clips/s, speed-up against MMAction2's row of the same
dtype (and BN mode), peak memory (``torch.cuda.max_memory_allocated``
during the calls minus what was allocated before them: the working memory,
not the weights), difference from MMAction2's row of the same dtype and the
noise floor. Then the targets, each PASS or FAIL.

``--device cpu --gpu-table --small`` runs the same code on tiny shapes on
the CPU (no memory column), so that a test covers it; its times mean
nothing.
"""
import copy
import json
import platform
from contextlib import nullcontext
from dataclasses import asdict, dataclass, field

import torch

from csn_plugin.models.acceleration import bf16_autocast, cpu_summary
from .cases import (MMACTION_CSN, MMACTION_CSN_BNFROZEN, BUILTIN,
                    BUILTIN_COMPILED, Case, Impl, builtin_model, prepare)
from .timing import time_interleaved, timed

#: shapes of a run: network, clip (T, H, W), inference and train batches
SIZES = {
    'full': dict(depth=152, clip=(32, 224, 224), train_batch=4, cfg={}),
    'quick': dict(depth=50, clip=(16, 112, 112), train_batch=4, cfg={}),
    'small': dict(depth=50, clip=(4, 32, 32), train_batch=2,
                  cfg=dict(base_channels=8, stage_blocks=(1, 1, 1, 1))),
}
#: the correctness check's ir-CSN-50 train step: batch and clip
GRAD_CHECK = {'small': (2, 4, 32, 32)}
GRAD_CHECK_DEFAULT = (2, 16, 112, 112)

#: the plugin with its defaults: the memory format follows the device
DEFAULTS = 'auto'
PLUGIN_EVAL = Impl('plugin eval (defaults)', memory_format=DEFAULTS)
PLUGIN_DEPLOY = Impl('plugin deploy (defaults)', deploy=True,
                     memory_format=DEFAULTS)
PLUGIN_COMPILED = Impl('plugin deploy + compile (mim test --compile)',
                       deploy=True, compile=True, memory_format=DEFAULTS)


@dataclass
class Row:
    """One measured row."""
    section: str  # 'inference', 'train, BN training', 'train, BN frozen'
    label: str
    dtype: str
    defaults: bool = False  # the plugin with its defaults
    fastest_candidate: bool = False  # a plugin route with its options
    reference: bool = False  # MMAction2's eager row of this dtype
    ms: float = 0.
    clips_per_s: float = 0.
    speedup: float = None  # vs MMAction2's eager row, same dtype
    peak_mib: float = None
    diff: float = None  # vs MMAction2's eager row, same dtype
    noise: float = None  # MMAction2 vs itself, same dtype
    compile_s: float = None
    error: str = None
    extra: dict = field(default_factory=dict)


def autocast(device, dtype):
    """fp32: none; bf16: autocast on ``device``. On a CPU without native
    bf16 (the dry run) the plugin's policy runs fp32 instead of oneDNN's
    emulated or refused bf16 convs."""
    if dtype == 'fp32':
        return nullcontext()
    return bf16_autocast(device.type)


def sync(device):
    if device.type == 'cuda':
        torch.cuda.synchronize(device)


def device_lines(device):
    """What the table ran on: the GPU with CUDA and cuDNN versions, or the
    CPU of a dry run."""
    lines = [f'torch {torch.__version__}, Python '
             f'{platform.python_version()}']
    if device.type == 'cuda':
        props = torch.cuda.get_device_properties(device)
        lines.append(
            f'GPU: {torch.cuda.get_device_name(device)} '
            f'({props.total_memory / 2**30:.0f} GiB), CUDA '
            f'{torch.version.cuda}, cuDNN {torch.backends.cudnn.version()}, '
            f'cudnn.benchmark on, TF32 convs '
            f'{"on" if torch.backends.cudnn.allow_tf32 else "off"}')
    else:
        lines.append('device: cpu (dry run of the GPU table on tiny '
                     'shapes; its times mean nothing)')
    lines.append(f'CPU: {cpu_summary()}')
    return lines


def rel_max(out, ref):
    """max|out - ref| / max|ref|."""
    out, ref = out.float(), ref.float()
    return ((out - ref).abs().max() / ref.abs().max()).item()


def grad_rel(grads, ref_grads):
    """Worst parameter's ||g - g_ref|| / ||g_ref||."""
    return max(((grads[n] - g).norm() / g.norm()).item()
               for n, g in ref_grads.items() if g.norm() > 0)


def peak_mib(fn, device):
    """Peak working memory of one call, MiB (None off CUDA)."""
    if device.type != 'cuda':
        return None
    sync(device)
    torch.cuda.reset_peak_memory_stats(device)
    before = torch.cuda.memory_allocated(device)
    fn()
    sync(device)
    return (torch.cuda.max_memory_allocated(device) - before) / 2**20


def cl3d(x):
    return x.contiguous(memory_format=torch.channels_last_3d)


# ----------------------------------------------------------------- inference


def infer_fn(model, x, device, dtype):

    def run():
        with torch.no_grad(), autocast(device, dtype):
            return model(x)

    return run


def inference_rows(size, batch, device, compile):
    """The inference rows: (Row, fn) pairs and MMAction2's noise floors."""
    depth, clip = size['depth'], size['clip']
    case = Case(f'ir-CSN-{depth} inference', 'infer', depth, 'ir',
                (batch, 3, *clip), dict(MMACTION_CSN, **size['cfg']))
    builtin = builtin_model(case)
    gen = torch.Generator().manual_seed(1)
    x = torch.randn(case.shape, generator=gen).to(device)
    plan = [(BUILTIN, 'fp32'), (BUILTIN, 'bf16'),
            (PLUGIN_EVAL, 'fp32'), (PLUGIN_DEPLOY, 'fp32'),
            (PLUGIN_EVAL, 'bf16'), (PLUGIN_DEPLOY, 'bf16')]
    if compile:
        plan += [(BUILTIN_COMPILED, 'bf16'), (PLUGIN_COMPILED, 'bf16')]
    rows, models = [], {}
    for impl, dtype in plan:
        key = (impl.label, impl.compile)
        if key not in models:
            models[key] = prepare(case, impl, builtin, device)
        row = Row('inference', _label(impl), dtype,
                  defaults=not impl.builtin and not impl.compile,
                  fastest_candidate=not impl.builtin,
                  reference=impl.builtin and not impl.compile)
        rows.append((row, infer_fn(models[key], x, device, dtype)))
    eager = models[(BUILTIN.label, False)]
    with torch.no_grad():
        fp32 = eager(x)
        noise = dict(fp32=rel_max(eager(cl3d(x)), fp32))
        with autocast(device, 'bf16'):
            noise['bf16'] = rel_max(eager(x), fp32)
    return rows, noise, batch


def _label(impl):
    if impl.builtin:
        return ('torch.compile of MMAction2 (channels_last_3d weights)'
                if impl.compile else 'MMAction2 eager')
    return impl.label


# --------------------------------------------------------------- train steps


def train_fn(model, x, device, dtype, projection):

    def run():
        model.zero_grad(set_to_none=True)
        with autocast(device, dtype):
            out = model(x)
        (out.to(projection.dtype) * projection).sum().backward()
        return out

    return run


def grads_of(model):
    return {n: p.grad.detach().clone() for n, p in model.named_parameters()
            if p.grad is not None}


def train_rows(size, device, frozen):
    """The train-step rows of one BN mode: (Row, fn) pairs, the gradient
    getter of each and MMAction2's noise floors."""
    depth, clip = size['depth'], size['clip']
    section = f'train, BN {"frozen" if frozen else "training"}'
    cfg = dict(MMACTION_CSN_BNFROZEN if frozen else MMACTION_CSN,
               **size['cfg'])
    case = Case(f'ir-CSN-{depth} {section}', 'train', depth, 'ir',
                (size['train_batch'], 3, *clip), cfg)
    builtin = builtin_model(case)
    twin = copy.deepcopy(builtin)
    gen = torch.Generator().manual_seed(2)
    x = torch.randn(case.shape, generator=gen).to(device)
    plugin = Impl('plugin (defaults)', memory_format=DEFAULTS)
    models = [(plugin, prepare(case, plugin, builtin, device)),
              (BUILTIN, prepare(case, BUILTIN, builtin, device))][::-1]
    twin = twin.to(device)
    twin.train()
    with torch.no_grad():
        projection = torch.randn_like(models[0][1](x).float())
    rows = []
    for dtype in ('fp32', 'bf16'):
        for impl, model in models:
            row = Row(section, _label(impl) if impl.builtin else impl.label,
                      dtype, defaults=not impl.builtin,
                      reference=impl.builtin)
            rows.append((row, train_fn(model, x, device, dtype, projection),
                         model))
    train_fn(models[0][1], x, device, 'fp32', projection)()
    fp32 = grads_of(models[0][1])
    train_fn(twin, cl3d(x), device, 'fp32', projection)()
    noise = dict(fp32=grad_rel(grads_of(twin), fp32))
    train_fn(twin, x, device, 'bf16', projection)()
    noise['bf16'] = grad_rel(grads_of(twin), fp32)
    return rows, noise


# -------------------------------------------------------------- correctness


def correctness(size, device, small):
    """TF32 off: plugin vs MMAction2 and MMAction2's noise floor, outputs
    in eval and deploy, gradients of an ir-CSN-50 BN-training step."""
    tf32 = torch.backends.cudnn.allow_tf32
    torch.backends.cudnn.allow_tf32 = False
    try:
        result = {}
        n, t, h, w = GRAD_CHECK.get('small' if small else '',
                                    GRAD_CHECK_DEFAULT)
        cfg = dict(MMACTION_CSN, **size['cfg']) if small else MMACTION_CSN
        case = Case('ir-CSN-50 train step, BN training', 'train', 50, 'ir',
                    (n, 3, t, h, w), cfg)
        builtin = builtin_model(case)
        twin = copy.deepcopy(builtin).to(device)
        plugin = prepare(case, Impl('plugin', memory_format=DEFAULTS),
                         builtin, device)
        builtin = prepare(case, BUILTIN, builtin, device)
        gen = torch.Generator().manual_seed(3)
        x = torch.randn(case.shape, generator=gen).to(device)
        for model in (builtin, plugin, twin):
            model.eval()
        with torch.no_grad():
            ref = builtin(x)
            result['eval output'] = (rel_max(plugin(x), ref),
                                     rel_max(twin(cl3d(x)), ref))
            deployed = copy.deepcopy(plugin)
            deployed.switch_to_deploy()
            result['deploy output'] = (rel_max(deployed(x), ref),
                                       result['eval output'][1])
            projection = torch.randn_like(ref.float())
        grads = {}
        exact = copy.deepcopy(builtin).double()
        for name, model, clip in (('builtin', builtin, x),
                                  ('plugin', plugin, x),
                                  ('twin', twin, cl3d(x)),
                                  ('float64', exact, x.double())):
            model.train()
            train_fn(model, clip, device, 'fp32', projection.double()
                     if name == 'float64' else projection)()
            grads[name] = grads_of(model)
        result['train gradients, BN training'] = (
            grad_rel(grads['plugin'], grads['builtin']),
            grad_rel(grads['twin'], grads['builtin']))
        # who is nearer the exact gradients: the plugin's error next to
        # MMAction2's own
        result['train gradients vs float64 (plugin | MMAction2)'] = (
            grad_rel(grads['plugin'], grads['float64']),
            grad_rel(grads['builtin'], grads['float64']))
        return result
    finally:
        torch.backends.cudnn.allow_tf32 = tf32


# -------------------------------------------------------------------- table


def measure(pairs, device, repeats, batch_of):
    """Warm each row up (compiling the compiled ones) with its peak memory,
    then time the rows, calls alternating. A row that fails is kept, with
    its error, and left out of the timing."""
    outs, live = {}, []
    for row, fn in pairs:
        try:
            first, out = timed(fn, device)
            row.peak_mib = peak_mib(fn, device)
        except Exception as err:  # noqa: B902 (a failing row is a finding)
            row.error = f'{type(err).__name__}: {err}'.splitlines()[0][:200]
            continue
        if 'compile' in row.label:
            row.compile_s = first
        outs[id(row)] = out
        live.append((row, fn))
    seconds = time_interleaved([fn for _, fn in live], repeats, device)
    for (row, _), s in zip(live, seconds):
        row.ms = s * 1e3
        row.clips_per_s = batch_of(row) / s
    return outs


def finish(rows, outs, noise, diff_of):
    """Speed-ups and differences against MMAction2's eager row of the same
    dtype."""
    refs = {r.dtype: r for r in rows if r.reference}
    for row in rows:
        ref = refs.get(row.dtype)
        if row.error or ref is None or ref.error:
            continue
        row.speedup = ref.ms / row.ms
        row.noise = noise[row.dtype]
        if id(row) in outs and id(ref) in outs:
            row.diff = diff_of(row, ref)


def run(args, device):
    """Every section; the rows, the correctness results and the targets."""
    if device.type == 'cuda':
        torch.backends.cudnn.benchmark = True
    size = SIZES['small' if args.small else 'quick' if args.quick
                 else 'full']
    batch = args.batch or (2 if args.small else 8 if args.quick else 30)
    all_rows = []

    pairs, noise, batch = inference_rows(size, batch, device, args.compile)
    outs = measure(pairs, device, args.repeats, lambda row: batch)
    rows = [r for r, _ in pairs]
    finish(rows, outs, noise,
           lambda row, ref: rel_max(outs[id(row)], outs[id(ref)]))
    all_rows += rows
    del pairs, outs
    _free(device)

    for frozen in (False, True):
        triples, noise = train_rows(size, device, frozen)
        pairs = [(r, fn) for r, fn, _ in triples]
        outs = measure(pairs, device, args.repeats,
                       lambda row: size['train_batch'])
        grads = {}
        for row, fn, model in triples:  # gradients of one more step each
            if not row.error:
                fn()
                grads[id(row)] = grads_of(model)
        rows = [r for r, _, _ in triples]
        finish(rows, grads, noise,
               lambda row, ref: grad_rel(grads[id(row)], grads[id(ref)]))
        all_rows += rows
        del triples, pairs, outs, grads
        _free(device)

    checks = correctness(size, device, args.small)
    return all_rows, checks, targets(all_rows)


def _free(device):
    if device.type == 'cuda':
        torch.cuda.empty_cache()


def targets(rows):
    """(text, passed or None when not measured) for each target."""
    found = []
    for row in rows:
        if not row.defaults:
            continue
        ref = next((r for r in rows if r.reference
                    and r.section == row.section and r.dtype == row.dtype),
                   None)
        what = f'{row.section}: {row.label}, {row.dtype}'
        if row.error or ref is None or row.speedup is None:
            found.append((f'{what} >= 1.00x MMAction2', None))
            continue
        found.append((f'{what}: {row.speedup:.2f}x MMAction2 (>= 1.00x)',
                      row.speedup >= 1.0))
        if row.peak_mib is not None and ref.peak_mib is not None:
            found.append((f'{what}: peak {row.peak_mib:.0f} MiB vs '
                          f'MMAction2 {ref.peak_mib:.0f} MiB (no higher)',
                          row.peak_mib <= ref.peak_mib))
    compiled = next((r for r in rows if r.label.startswith('torch.compile')
                     and not r.error and r.ms), None)
    fastest = min((r for r in rows if r.fastest_candidate and r.ms
                   and r.section == 'inference'), key=lambda r: r.ms,
                  default=None)
    if compiled is None or fastest is None:
        found.append(('fastest plugin route >= 1.30x torch.compile of '
                      'MMAction2 bf16', None))
    else:
        ratio = compiled.ms / fastest.ms
        found.append((f'fastest plugin route ({fastest.label}, '
                      f'{fastest.dtype}): {ratio:.2f}x torch.compile of '
                      f'MMAction2 bf16 (>= 1.30x)', ratio >= 1.3))
    for row in rows:
        if row.section.startswith('train') and row.defaults and \
                row.dtype == 'bf16' and row.speedup is not None:
            found.append((f'{row.section}: plugin bf16 train step '
                          f'{row.speedup:.2f}x MMAction2 bf16 (>= 1.30x)',
                          row.speedup >= 1.3))
    return found


def _fmt(value, spec):
    return '-' if value is None else format(value, spec)


def print_report(rows, checks, found, device, header, json_path=None):
    for line in header:
        print(line)
    section = None
    for row in rows:
        if row.section != section:
            section = row.section
            unit = 'clips/s'
            print(f'\n| {section} | dtype | ms | {unit} | x MMAction2 same '
                  'dtype | peak MiB | diff vs MMAction2 | noise floor | '
                  'compile s |')
            print('|---|---|---:|---:|---:|---:|---:|---:|---:|')
        if row.error:
            print(f'| {row.label} | {row.dtype} | FAILED: {row.error} '
                  '| | | | | | |')
            continue
        print(f'| {row.label} | {row.dtype} | {row.ms:.1f} | '
              f'{row.clips_per_s:.1f} | {_fmt(row.speedup, ".2f")} | '
              f'{_fmt(row.peak_mib, ".0f")} | {_fmt(row.diff, ".1e")} | '
              f'{_fmt(row.noise, ".1e")} | {_fmt(row.compile_s, ".1f")} |')
    print('\nCorrectness, TF32 off (plugin vs MMAction2 | MMAction2 vs '
          'itself on a channels_last_3d clip = noise floor):')
    for name, (diff, noise) in checks.items():
        if 'float64' in name:
            print(f'  {name}: {diff:.2e} | {noise:.2e}')
        else:
            print(f'  {name}: {diff:.2e} | noise floor {noise:.2e}')
    print('\nTargets:')
    for text, passed in found:
        mark = {None: 'not measured', True: 'PASS', False: 'FAIL'}[passed]
        print(f'  {mark}  {text}')
    print('\nInference diff: max|a - b| / max|MMAction2| of the output; train '
          'diff: the worst parameter gradient, ||a - b|| / ||MMAction2||; '
          'noise floor: the same between MMAction2 and itself on a '
          'channels_last_3d clip (fp32), or MMAction2 bf16 against '
          'MMAction2 fp32 (bf16). Peak: max_memory_allocated during a call '
          'minus what was allocated before it.')
    if json_path:
        with open(json_path, 'w') as f:
            json.dump(dict(header=header, rows=[asdict(r) for r in rows],
                           correctness=checks,
                           targets=[dict(text=t, passed=p)
                                    for t, p in found]), f, indent=1)


def main(args):
    """``csn_speed.py --device cuda`` (or ``--gpu-table`` on the CPU)."""
    device = torch.device(args.device)
    if args.compile:
        from .cases import allow_compiling
        allow_compiling()
    size = 'small' if args.small else 'quick' if args.quick else None
    header = [f'# csn_plugin vs MMAction2 ResNet3dCSN on {device.type}' +
              (f' ({size})' if size else '')] + device_lines(device)
    rows, checks, found = run(args, device)
    print_report(rows, checks, found, device, header, args.json)
    return rows, checks, found
