"""How the plugin's backbones run fast, kept apart from what they are.

The backbone files hold the architecture, its initialisation and freezing.
The speed-ups live here and act on any backbone built from the plugin's
units (conv units, residual blocks that list their ``steps``, sequential
stages), through those interfaces only:

- :mod:`.layout`: the memory format of the weights, chosen for the device
  (``channels_last_3d`` on the CPU, ``contiguous`` on CUDA);
- :mod:`.fused_eval`: eval-mode inference with BN folded per call and conv +
  ReLU (+ residual) fused, where nothing can observe the difference;
- :mod:`.deploy`: ``switch_to_deploy()``, the visible rewrite of each conv
  unit into a :class:`FusedConv3d`;
- :mod:`.compiled`: :class:`CompiledInference`, ``torch.compile`` for a
  deployed backbone, stepping aside for hooks;
- :mod:`.mixed_precision`: bf16 where the CPU has it, fp32 where not;
- :mod:`.support`: what this CPU and PyTorch build support, the switches
  that force each fallback (``CSN_PLUGIN_DISABLE``, :func:`disabled`), and
  the INFO lines naming the path taken.

Without ``switch_to_deploy()`` the backbones behave as MMAction2's modules
do: every hook fires and sees what the eager modules compute.
"""
from .compiled import CompiledInference
from .deploy import Deployable, FusedConv3d, fuse_unit, fuse_units
from .fused_eval import run_part
from .layout import (MEMORY_FORMATS, DeviceAwareLayout, auto_memory_format,
                     resolve_memory_format, set_memory_format)
from .mixed_precision import (MixedPrecisionConv3d, bf16_autocast,
                              cpu_bf16_autocast, cpu_bf16_or_warn)
from .support import (PATHS, cpu_summary, disabled, enabled, hooked,
                      native_bf16)

__all__ = [
    'CompiledInference', 'Deployable', 'DeviceAwareLayout', 'FusedConv3d', 'MEMORY_FORMATS',
    'MixedPrecisionConv3d', 'PATHS', 'auto_memory_format', 'bf16_autocast', 'cpu_bf16_autocast',
    'cpu_bf16_or_warn', 'cpu_summary', 'disabled', 'enabled', 'fuse_unit', 'fuse_units',
    'hooked', 'native_bf16', 'resolve_memory_format', 'run_part',
    'set_memory_format'
]
