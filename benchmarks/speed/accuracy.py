"""How far an implementation lands from MMAction2's fp32 output, and what
bf16 costs in accuracy."""
import copy

import torch

from .cases import Impl, builtin_model, clip_of, prepare
from .timing import autocast, step_fn


def result_of(case, model, out):
    """What the table compares: the output, plus every gradient (by
    parameter name) when training."""
    tensors = {'output': out.detach().float()}
    if case.mode == 'train':
        tensors.update((name, p.grad.float())
                       for name, p in model.named_parameters()
                       if p.grad is not None)
    return tensors


def rel_diff(ref, other):
    """How far ``other`` is from ``ref``: ``max|a - b| / max|a|`` for the
    output and ``||a - b|| / ||a||`` (L2) for each gradient; the largest.

    Gradients are compared by norm because a pre-activation within float
    rounding of zero can take the other side of a ReLU, which changes a few
    gradient entries by a lot in any two fp32 runs that sum in another order
    (the built-in's own model in channels_last_3d shows it too: see the
    noise-floor column)."""
    if ref.keys() != other.keys():
        raise RuntimeError('the two backbones have gradients for different '
                           f'parameters: {sorted(ref.keys() ^ other.keys())}')
    worst = 0.
    for name, a in ref.items():
        b = other[name]
        if name == 'output':
            scale, err = a.abs().max(), (a - b).abs().max()
        else:
            scale, err = a.norm(), (a - b).norm()
        if scale > 0:
            worst = max(worst, (err / scale).item())
    return worst


def noise_floors(case, builtin, x, device, projection, reference):
    """Per dtype of the case's rows, how far MMAction2's own model moves
    from its fp32 output: fed a channels_last_3d clip (fp32; oneDNN then
    sums in another order) or under that dtype's autocast."""
    floors = {}
    for dtype in dict.fromkeys(impl.dtype for impl in case.impls):
        twin = copy.deepcopy(builtin)
        x_twin = (x.contiguous(memory_format=torch.channels_last_3d)
                  if dtype == 'fp32' else x)
        out = step_fn(case, twin, x_twin, device, dtype, projection)()
        floors[dtype] = rel_diff(reference, result_of(case, twin, out))
    return floors


def input_rounding_error(builtin, x, ref):
    """How far the built-in's fp32 output moves when only the input clip is
    rounded to bf16. Every bf16 path makes that rounding (autocast rounds the
    input of the first conv), so it bounds from below what any of them can
    reach on these weights."""
    with torch.no_grad():
        out = builtin(x.to(torch.bfloat16).to(x.dtype)).float()
    return rel_diff(ref, {'output': out})


def bf16_accuracy(case, row, device):
    """How far bf16 inference lands from the built-in's fp32 output, per set
    of weights: ``calibrated``, from the case's bf16 ``row`` (its rel. diff,
    and as MMAction2's model under bf16 autocast its noise floor), and
    ``init_weights``, MMAction2's own initialisation (Kaiming convs, unit
    BN) untouched, measured here the same way with the plugin's deployed
    bf16 path, uncompiled."""
    torch.manual_seed(0)
    builtin = builtin_model(case, calibrated=False).to(device)
    builtin.eval()  # MMAction2's train() returns None
    plugin = prepare(case, Impl('deploy, bf16', deploy=True, dtype='bf16'),
                     builtin, device)
    x = clip_of(case, device)
    with torch.no_grad():
        ref = {'output': builtin(x).float()}
        with autocast(device, 'bf16'):
            mmaction = {'output': builtin(x).float()}
            ours = {'output': plugin(x).float()}
    init_weights = dict(plugin=rel_diff(ref, ours),
                        mmaction=rel_diff(ref, mmaction),
                        input_rounding=input_rounding_error(builtin, x, ref))
    calibrated = dict(plugin=row['rel_diff'], mmaction=row['noise'],
                      input_rounding=row['input_rounding'])
    return dict(calibrated=calibrated, init_weights=init_weights)


def print_bf16_accuracy(case, results):
    print(f'\nbf16 accuracy, {case.name} '
          f"{'x'.join(map(str, case.shape))}: max|a - b| / max|a| of the "
          'output against the built-in in fp32, on the same weights\n')
    print('| weights | plugin, deploy, bf16 | MMAction2 under bf16 autocast '
          '| MMAction2 fp32, only the clip rounded to bf16 |')
    print('|---|---|---|---|')
    for weights, r in results.items():
        print(f"| {weights} | {r['plugin']:.1e} | {r['mmaction']:.1e} | "
              f"{r['input_rounding']:.1e} |")
    print('\n- calibrated: as in the table above. init_weights: MMAction2\'s '
          'initialisation\n  untouched (Kaiming convs, BN with unit '
          'statistics). The last column is one\n  rounding of the input, '
          'which every bf16 path makes: no bf16 path can land\n  much nearer '
          'than it.')
