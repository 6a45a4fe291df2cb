"""Does ``torch.compile`` (inductor, freezing) compute what eager PyTorch
computes under this process's instruction-set caps?

    python benchmarks/isa_cap_check.py
    ATEN_CPU_CAPABILITY=avx2 python benchmarks/isa_cap_check.py
    ONEDNN_MAX_CPU_ISA=AVX2 MKL_ENABLE_INSTRUCTIONS=AVX2 python benchmarks/isa_cap_check.py

It prints the caps in force and the largest difference of a small conv +
BN + ReLU + depthwise conv + ReLU model's output, compiled against eager,
relative to the largest eager output. On this project's AVX-512 machine with
torch 2.13.0, ``ATEN_CPU_CAPABILITY=avx2`` gave 1.39 (wrong code); the
other caps 0. The emulated-AVX2 benchmark runs therefore leave
``ATEN_CPU_CAPABILITY`` unset (docs/performance.md).
"""
import torch
import torch.nn as nn
from speed.report import isa_limits


def main():
    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Conv3d(3, 16, 3, padding=1), nn.BatchNorm3d(16), nn.ReLU(),
        nn.Conv3d(16, 16, 3, padding=1, groups=16), nn.ReLU()).eval()
    x = torch.randn(1, 3, 4, 16, 16)
    with torch.no_grad():
        eager = model(x)
        compiled = torch.compile(model, options=dict(freezing=True))(x)
    diff = ((compiled - eager).abs().max() / eager.abs().max()).item()
    print(isa_limits())
    print(f'compiled vs eager, max relative difference: {diff:.2e}')


if __name__ == '__main__':
    main()
