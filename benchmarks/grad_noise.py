"""How far the plugin's training gradients are from MMAction2's, next to
MMAction2's own noise floor, on the CPU or a GPU.

ir-CSN-50, BN training, fp32 (TF32 off on CUDA), one train step (a linear
loss on the features) on a 2x3x16x112x112 clip, weights calibrated as in
``csn_speed.py``. Printed, each as the worst parameter's
||g - g_ref|| / ||g_ref||:

- plugin (defaults, and each memory format) vs MMAction2;
- MMAction2 vs itself under harmless changes (a channels_last_3d clip,
  another thread count on the CPU): the noise floor;
- each against the float64 gradients of the same model and clip: who is
  nearer the exact values.

    python benchmarks/grad_noise.py [--device cuda] [--small]
"""
import argparse
import copy

import torch

import csn_plugin  # noqa: F401
from csn_plugin.models.acceleration import cpu_summary
from speed.cases import MMACTION_CSN, Case, Impl, builtin_model, prepare
from speed.gpu import cl3d, grad_rel, grads_of, train_fn


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--device', default='cpu')
    parser.add_argument('--small', action='store_true',
                        help='2x3x4x32x32 clip, quarter width')
    args = parser.parse_args()
    device = torch.device(args.device)
    torch.backends.cudnn.allow_tf32 = False
    cfg = dict(MMACTION_CSN)
    shape = (2, 3, 16, 112, 112)
    if args.small:
        cfg.update(base_channels=16)
        shape = (2, 3, 4, 32, 32)
    case = Case('ir-CSN-50 train step, BN training', 'train', 50, 'ir',
                shape, cfg)
    builtin = builtin_model(case)
    exact = copy.deepcopy(builtin).double().to(device)
    twin = copy.deepcopy(builtin).to(device)
    plugins = {fmt: prepare(case, Impl('plugin', memory_format=fmt),
                            builtin, device)
               for fmt in ('auto', 'channels_last_3d', 'contiguous')}
    builtin = prepare(case, Impl('MMAction2', builtin=True), builtin, device)
    x = torch.randn(shape, generator=torch.Generator().manual_seed(3))
    x = x.to(device)
    with torch.no_grad():
        projection = torch.randn_like(builtin(x).float())

    def grads(model, clip, proj=projection):
        model.train()
        train_fn(model, clip, device, 'fp32', proj)()
        return grads_of(model)

    ref = grads(builtin, x)
    g64 = grads(exact, x.double(), projection.double())
    rows = [('MMAction2 vs float64', grad_rel(ref, g64), None)]
    for fmt, model in plugins.items():
        g = grads(model, x)
        rows.append((f"plugin memory_format='{fmt}'", grad_rel(g, ref),
                     grad_rel(g, g64)))
    g = grads(twin, cl3d(x))
    rows.append(('MMAction2 on a channels_last_3d clip (noise)',
                 grad_rel(g, ref), grad_rel(g, g64)))
    if device.type == 'cpu':
        threads = torch.get_num_threads()
        torch.set_num_threads(1 if threads > 1 else 2)
        g = grads(twin, x)
        rows.append((f'MMAction2 with {torch.get_num_threads()} thread(s) '
                     f'instead of {threads} (noise)', grad_rel(g, ref),
                     grad_rel(g, g64)))
        torch.set_num_threads(threads)
        where = f'CPU: {cpu_summary()}, {threads} threads'
    else:
        where = (f'GPU: {torch.cuda.get_device_name(device)}, CUDA '
                 f'{torch.version.cuda}, cuDNN '
                 f'{torch.backends.cudnn.version()}, TF32 off')
    print(f'# ir-CSN-50 BN-training train step {"x".join(map(str, shape))}'
          f', fp32; torch {torch.__version__}; {where}')
    print('| gradients | vs MMAction2 fp32 | vs float64 |')
    print('|---|---:|---:|')
    for label, vs_ref, vs_exact in rows:
        if vs_exact is None:
            print(f'| {label} | - | {vs_ref:.2e} |')
        else:
            print(f'| {label} | {vs_ref:.2e} | {vs_exact:.2e} |')


if __name__ == '__main__':
    main()
