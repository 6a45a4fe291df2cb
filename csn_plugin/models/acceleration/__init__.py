"""How the plugin's backbones run fast, kept apart from what they are.

The backbone files hold the architecture, its initialisation and freezing;
their ``forward`` calls their children plainly, in every mode. The speed-ups
are visible module rewrites and options, acting on any backbone built from
the plugin's units (conv units, residual blocks that list their ``steps``,
sequential stages):

- :mod:`.layout`: the memory format of the weights, chosen for the device
  (``channels_last_3d`` on the CPU, ``contiguous`` on CUDA);
- :mod:`.deploy`: ``switch_to_deploy()``, which replaces every conv unit by
  a :class:`FusedConv3d` (BN folded, ReLU fused) and every residual block by
  a :class:`FusedResidualBlock3d` whose last conv adds the shortcut;
- :mod:`.fold_bn`: BN folding, once for deploy and per call (mmcv's
  ``efficient_conv_bn_eval``) for training with frozen BN;
- :mod:`.cpu_kernels`: the only caller of private PyTorch ops (oneDNN's
  fused conv), each checked against the public ops and with a public
  fallback;
- :mod:`.triton_depthwise` and :mod:`.depthwise_route`: a Triton kernel for
  the depthwise 3x3x3 conv (bias, residual and ReLU fused; forward and
  backward) and the router that takes it on CUDA where a one-off measurement
  found it faster than cuDNN;
- :mod:`.compiled`: :class:`CompiledInference`, ``torch.compile`` for a
  deployed backbone, stepping aside for hooks;
- :mod:`.route`: :class:`FastestRoute`, eager or compiled, whichever a
  one-off measurement found faster on this CPU (``mim test``'s route);
- :mod:`.mixed_precision`: the bf16 policy, bf16 where the CPU has it and
  fp32 where not;
- :mod:`.support`: the CPU facts (:func:`cpu_summary`, :func:`native_bf16`),
  the switches that force each fallback (``CSN_PLUGIN_DISABLE``,
  :func:`disabled`), and the INFO lines naming the path taken.

Without ``switch_to_deploy()`` the backbones are MMAction2's module tree:
every hook fires and sees what the eager modules compute.
"""
from .compiled import CompiledInference
from .cpu_kernels import conv_act, private_op_works
from .deploy import (Deployable, FusedConv3d, FusedResidualBlock3d, FusedStage,
                     fuse_block, fuse_unit, fuse_units, unit_problem)
from .fold_bn import fold_frozen_bn_per_call
from .layout import (MEMORY_FORMATS, DeviceAwareLayout, auto_memory_format,
                     resolve_memory_format, set_memory_format)
from .mixed_precision import (MixedPrecisionConv3d, bf16_autocast,
                              cpu_bf16_autocast, cpu_bf16_or_warn)
from .route import FastestRoute
from .support import (PATHS, cpu_summary, disabled, enabled, hooked,
                      native_bf16)

__all__ = [
    'CompiledInference', 'Deployable', 'DeviceAwareLayout', 'FastestRoute',
    'FusedConv3d', 'FusedResidualBlock3d', 'FusedStage', 'MEMORY_FORMATS',
    'MixedPrecisionConv3d', 'PATHS', 'auto_memory_format', 'bf16_autocast',
    'conv_act', 'cpu_bf16_autocast', 'cpu_bf16_or_warn', 'cpu_summary',
    'disabled', 'enabled', 'fold_frozen_bn_per_call', 'fuse_block',
    'fuse_unit', 'fuse_units', 'hooked', 'native_bf16', 'private_op_works',
    'resolve_memory_format', 'set_memory_format', 'unit_problem'
]
