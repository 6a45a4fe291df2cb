"""cuDNN against the fused Triton kernel for CSN's depthwise 3×3×3 convs.

For each depthwise conv shape of ir-CSN-152 (the ``conv2`` of every
bottleneck: layer1 64 channels at 32×56², layer2 128 at 16×28², layer3 256
at 8×14², layer4 512 at 4×7², and the stride-2 first blocks of layers 2 to
4) with ``--clips`` clips, both memory layouts (NCDHW, NDHWC), fp32 and
bf16, the forward pass and forward + backward, it times

- ``cuDNN``: ``F.conv3d`` with the bias, then the residual add and the ReLU
  as separate ops (what the plugin runs on a GPU without the kernel);
- ``Triton``: :func:`csn_plugin.models.acceleration.triton_depthwise.
  depthwise_conv3d`, conv, bias, residual and ReLU in one kernel (and two
  for the backward pass),

with ``bias+ReLU`` as every conv2 of a BN-folded block ends, and
``bias+residual+ReLU`` as a block's last conv would, for the stride-1
shapes. Columns: median milliseconds over ``--reps`` runs after
``--warmup`` (CUDA events on a GPU), GB/s (the least bytes the fused
kernels must move, divided by the time, the same count for both rows, so
the column compares them: forward ``x + y (+ residual)``; forward and
backward adds ``2 * (grad_y + y) + x + grad_x (+ grad_residual)``), the
speed-up of Triton over cuDNN, and the largest difference between the two
outputs relative to the largest output.

    python benchmarks/gpu_depthwise.py                 # CUDA, 30 clips
    python benchmarks/gpu_depthwise.py --clips 8 --dtypes bf16 --json out.json
    python benchmarks/gpu_depthwise.py --device cpu --small   # interpreter

``--device cpu`` runs the kernels under Triton's interpreter
(``TRITON_INTERPRET=1``, set by this script before Triton is imported):
a check that every row runs, at ``--small`` sizes; its times measure the
interpreter, not a GPU, and the output says so.
"""
import argparse
import json
import os
import statistics
import sys
import time

#: (name, channels, input (T, H, W), stride) of ir-CSN-152's depthwise convs
CASES = [
    ('layer1', 64, (32, 56, 56), (1, 1, 1)),
    ('layer2-s2', 128, (32, 56, 56), (2, 2, 2)),
    ('layer2', 128, (16, 28, 28), (1, 1, 1)),
    ('layer3-s2', 256, (16, 28, 28), (2, 2, 2)),
    ('layer3', 256, (8, 14, 14), (1, 1, 1)),
    ('layer4-s2', 512, (8, 14, 14), (2, 2, 2)),
    ('layer4', 512, (4, 7, 7), (1, 1, 1)),
]
#: --small: the same cases at 1/16 of the channels and tiny clips
SMALL_SIZES = {
    (32, 56, 56): (4, 6, 6), (16, 28, 28): (2, 4, 4), (8, 14, 14): (2, 4, 4),
    (4, 7, 7): (2, 3, 3)
}
DTYPES = {'fp32': 'float32', 'bf16': 'bfloat16', 'fp16': 'float16'}
LAYOUTS = ('NCDHW', 'NDHWC')
PASSES = ('forward', 'forward+backward')
IMPLS = ('cuDNN', 'Triton')


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--device', default='cuda', choices=('cuda', 'cpu'))
    parser.add_argument('--small', action='store_true',
                        help='tiny shapes (for the interpreter on the CPU)')
    parser.add_argument('--clips', type=int, default=None,
                        help='batch size (default 30; 1 with --small)')
    parser.add_argument('--cases', nargs='+', default=[c[0] for c in CASES],
                        choices=[c[0] for c in CASES])
    parser.add_argument('--dtypes', nargs='+', default=['fp32', 'bf16'],
                        choices=sorted(DTYPES))
    parser.add_argument('--layouts', nargs='+', default=list(LAYOUTS),
                        choices=LAYOUTS)
    parser.add_argument('--passes', nargs='+', default=list(PASSES),
                        choices=PASSES)
    parser.add_argument('--reps', type=int, default=None,
                        help='timed runs (default 20 on CUDA, 1 on CPU)')
    parser.add_argument('--warmup', type=int, default=None,
                        help='untimed runs first (default 5 on CUDA, 0 on '
                        'CPU; the first also autotunes)')
    parser.add_argument('--json', help='also write the rows here')
    args = parser.parse_args(argv)
    cpu = args.device == 'cpu'
    args.clips = args.clips or (1 if args.small else 30)
    args.reps = args.reps or (1 if cpu else 20)
    args.warmup = args.warmup if args.warmup is not None else (0 if cpu
                                                               else 5)
    return args


def variants(cases, small):
    """``(case, channels, size, stride, residual)`` rows to run."""
    for name, channels, size, stride in CASES:
        if name not in cases:
            continue
        if small:
            channels, size = channels // 16, SMALL_SIZES[size]
        yield name, channels, size, stride, False
        if stride == (1, 1, 1):
            yield name, channels, size, stride, True


def traffic(x, y, residual, backward):
    """Bytes the fused kernels must move at least (see the docstring)."""
    nbytes = x.numel() * x.element_size()
    ybytes = y.numel() * y.element_size()
    total = nbytes + ybytes + (ybytes if residual else 0)
    if backward:
        total += 2 * (ybytes + ybytes) + nbytes + nbytes + (
            ybytes if residual else 0)
    return total


def make_timer(device):
    """``timed(fn, reps, warmup)``: median milliseconds, with CUDA events
    (the router's timer) on a GPU, with the wall clock on the CPU."""
    from csn_plugin.models.acceleration.depthwise_route import cuda_timer
    if device == 'cuda':
        return lambda fn, reps, warmup: cuda_timer('', fn, warmup, reps)

    def timed(fn, reps, warmup):
        for _ in range(warmup):
            fn()
        times = []
        for _ in range(reps):
            start = time.perf_counter()
            fn()
            times.append((time.perf_counter() - start) * 1e3)
        return statistics.median(times)

    return timed


def run(args):
    if args.device == 'cpu':
        # before anything imports Triton (its library is built then)
        os.environ['TRITON_INTERPRET'] = '1'
    import torch
    from csn_plugin.models.acceleration.depthwise_route import (cudnn_route,
                                                               triton_route)
    from csn_plugin.models.acceleration.support import cpu_summary

    device = torch.device(args.device)
    if device.type == 'cuda':
        if not torch.cuda.is_available():
            sys.exit('no CUDA device: run with --device cpu --small for the '
                     'interpreter check')
        where = f'GPU: {torch.cuda.get_device_name(device)}'
        note = 'measured on this GPU'
    else:
        where = f'CPU: {cpu_summary()}'
        note = ("Triton's interpreter on the CPU: NOT a GPU measurement, "
                'the times say nothing about GPU speed')
    print(f'{where}; torch {torch.__version__}; {args.clips} clips; '
          f'median of {args.reps} after {args.warmup} warm-up; {note}')
    timed = make_timer(device.type)
    gen = torch.Generator(device=device).manual_seed(0)
    rows = []
    header = (f"{'case':<11}{'epilogue':<22}{'layout':<7}{'dtype':<6}"
              f"{'pass':<18}{'impl':<8}{'ms':>10}{'GB/s':>9}{'speed-up':>9}"
              f"{'max diff':>10}")
    print(header)
    for name, channels, size, stride, with_res in variants(args.cases,
                                                           args.small):
        for dtype_name in args.dtypes:
            dtype = getattr(torch, DTYPES[dtype_name])
            for layout in args.layouts:
                x = torch.randn(args.clips, channels, *size, generator=gen,
                                device=device, dtype=dtype)
                if layout == 'NDHWC':
                    x = x.contiguous(memory_format=torch.channels_last_3d)
                weight = torch.randn(channels, 1, 3, 3, 3, generator=gen,
                                     device=device, dtype=dtype) / 5
                bias = torch.randn(channels, generator=gen, device=device,
                                   dtype=dtype)
                out_size = [(s - 1) // st + 1 for s, st in zip(size, stride)]
                residual = None
                if with_res:
                    residual = torch.randn(args.clips, channels, *out_size,
                                           generator=gen, device=device,
                                           dtype=dtype)
                    if layout == 'NDHWC':
                        residual = residual.contiguous(
                            memory_format=torch.channels_last_3d)
                conv = (stride, 1, 1, channels)
                outs = {}
                for pass_name in args.passes:
                    backward = pass_name == 'forward+backward'
                    times = {}
                    for impl in IMPLS:
                        fn = triton_route if impl == 'Triton' else cudnn_route
                        leaves = [t.detach().requires_grad_(backward)
                                  if t is not None else None
                                  for t in (x, weight, bias, residual)]
                        grad_out = None

                        def step(fn=fn, leaves=leaves):
                            nonlocal grad_out
                            with torch.set_grad_enabled(backward):
                                out = fn(leaves[0], leaves[1], leaves[2],
                                         *conv, relu=True,
                                         residual=leaves[3])
                                if backward:
                                    if grad_out is None:
                                        grad_out = torch.ones_like(out)
                                    torch.autograd.grad(
                                        out, [t for t in leaves
                                              if t is not None], grad_out)
                            return out

                        with torch.no_grad():
                            outs[impl] = fn(x, weight, bias, *conv,
                                            relu=True, residual=residual)
                        times[impl] = timed(step, args.reps, args.warmup)
                    diff = ((outs['Triton'].float() - outs['cuDNN'].float())
                            .abs().max() / outs['cuDNN'].float().abs().max()
                            .clamp_min(1e-12)).item()
                    moved = traffic(x, outs['cuDNN'], with_res, backward)
                    for impl in IMPLS:
                        row = dict(
                            case=name, channels=channels, size=list(size),
                            stride=list(stride),
                            epilogue='bias+residual+ReLU' if with_res else
                            'bias+ReLU', layout=layout, dtype=dtype_name,
                            pass_=pass_name, impl=impl, ms=times[impl],
                            gb_s=moved / times[impl] / 1e6,
                            speedup=times['cuDNN'] / times[impl],
                            max_diff=diff)
                        rows.append(row)
                        print(f"{name:<11}{row['epilogue']:<22}{layout:<7}"
                              f"{dtype_name:<6}{pass_name:<18}{impl:<8}"
                              f"{row['ms']:>10.3f}{row['gb_s']:>9.1f}"
                              f"{row['speedup']:>8.2f}x{diff:>10.1e}")
    if args.json:
        with open(args.json, 'w') as f:
            json.dump(dict(device=where, note=note, clips=args.clips,
                           rows=rows), f, indent=1)
    return rows


if __name__ == '__main__':
    run(parse_args())
