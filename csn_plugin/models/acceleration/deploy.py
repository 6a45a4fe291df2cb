"""``switch_to_deploy``: BatchNorms folded into the convs, in the module tree.

As mmpretrain's re-parameterizable backbones (RepVGG, MobileOne) do, the
inference form is a rewrite of the module tree: every conv unit (an mmcv
``ConvModule``: conv, BatchNorm, then a ReLU or nothing) is replaced, where
it stands, by a :class:`FusedConv3d` that holds the folded weights and runs
conv, bias and ReLU as one kernel. ``print(model)`` shows what runs, hooks
registered on the new modules fire, and the BatchNorms are gone. The blocks
stay as they are; their residual sum runs in the last conv's kernel on the
fused path (:mod:`.fused_eval`) and under ``torch.compile``
(:mod:`.compiled`).
"""
import torch
import torch.nn as nn
import torch.nn.functional as F
from mmcv.cnn import ConvModule

from .fold_bn import check_foldable, folded_params
from .fused_kernels import conv_act

__all__ = [
    'Deployable', 'FusedConv3d', 'fuse_unit', 'fuse_units', 'unit_problem'
]


class FusedConv3d(nn.Conv3d):
    """A deployed conv unit: a ``Conv3d`` with the unit's BatchNorm folded
    into its weight and bias, and its ReLU, computed as one kernel
    (:func:`~.fused_kernels.conv_act`).

    Args:
        *args, **kwargs: Those of ``nn.Conv3d``; it always has a bias.
        relu (bool): Apply ReLU to the output. Defaults to False.
    """

    def __init__(self, *args, relu=False, **kwargs):
        kwargs['bias'] = True
        super().__init__(*args, **kwargs)
        self.relu = relu
        self._copies = {}

    def forward(self, x):
        if torch.compiler.is_compiling():  # plain ops the compiler fuses
            out = self._conv_forward(x, self.weight, self.bias)
            return F.relu(out) if self.relu else out
        weight, bias = self.params_as(x.dtype)
        return conv_act(x, weight, bias, self, self.relu)

    def params_as(self, dtype):
        """Weight and bias in ``dtype``; copies are made once and remade
        only if the parameters change."""
        if self.weight.dtype == dtype:
            return self.weight, self.bias
        version = (self.weight._version, self.bias._version)
        cached = self._copies.get(dtype)
        if cached is None or cached[0] != version:
            cached = (version, self.weight.detach().to(dtype),
                      self.bias.detach().to(dtype))
            self._copies[dtype] = cached
        return cached[1], cached[2]

    def extra_repr(self):
        return super().extra_repr() + f', relu={self.relu}'


def unit_problem(module):
    """Why ``module`` is not a conv unit that can be fused, or None.

    A fusable unit is an mmcv ``ConvModule`` of an ``nn.Conv3d`` (zero
    padding), then a BatchNorm with running statistics or no norm, then a
    ReLU or no activation."""
    if not isinstance(module, ConvModule):
        return f'{type(module).__name__} is not a ConvModule'
    try:
        check_foldable(module)
    except (TypeError, ValueError) as err:
        return str(err)
    conv = module.conv
    if not isinstance(conv, nn.Conv3d) or conv.padding_mode != 'zeros':
        return (f'its conv is a {type(conv).__name__} with padding_mode='
                f'{getattr(conv, "padding_mode", None)!r}, not a zero-padded '
                'Conv3d')
    if module.with_activation:
        if type(module.activate) is not nn.ReLU:
            return (f'its activation is {type(module.activate).__name__}, '
                    'not ReLU')
        if module.order[-1] != 'act':
            return f'its activation does not come last: order={module.order}'
    return None


def fuse_unit(unit):
    """The :class:`FusedConv3d` that computes what ``unit`` computes in eval
    mode (see :func:`unit_problem` for what it accepts)."""
    problem = unit_problem(unit)
    if problem is not None:
        raise TypeError(f'cannot fuse this unit: {problem}')
    conv = unit.conv
    with torch.no_grad():
        if unit.with_norm:
            weight, bias = folded_params(conv, unit.norm)
        else:
            weight = conv.weight
            bias = (torch.zeros(conv.out_channels, dtype=weight.dtype,
                                device=weight.device)
                    if conv.bias is None else conv.bias)
    fused = FusedConv3d(
        conv.in_channels, conv.out_channels, conv.kernel_size, conv.stride,
        conv.padding, conv.dilation, conv.groups,
        relu=unit.with_activation, device=weight.device, dtype=weight.dtype)
    fused.weight = nn.Parameter(weight.detach().clone(), requires_grad=False)
    fused.bias = nn.Parameter(bias.detach().clone(), requires_grad=False)
    return fused.train(False)


def fuse_units(model):
    """Replace every fusable ``ConvModule`` in ``model`` by its
    :class:`FusedConv3d`, in place; others (a sigmoid gate, a group norm)
    stay.

    Returns:
        int: How many units were fused.
    """
    count = 0
    for parent in list(model.modules()):
        for name, child in list(parent.named_children()):
            if unit_problem(child) is None:
                setattr(parent, name, fuse_unit(child))
                count += 1
    return count


class Deployable:
    """Mixin of the plugin's backbones: :meth:`switch_to_deploy`, and no
    training afterwards.

    A deployed backbone's state dict has the fused layout (``conv1.weight``,
    ``conv1.bias`` where ``conv1.conv.weight`` and ``conv1.bn.*`` were);
    save and load MMAction2 checkpoints before switching.
    """

    #: whether :meth:`switch_to_deploy` has run
    deploy = False

    def switch_to_deploy(self):
        """Fold every BatchNorm into its conv and fuse each conv unit with
        its ReLU, in place, for inference (see :mod:`.deploy`). The
        deployed backbone computes what the eval-mode one computed, up to
        float rounding. Calling it twice is a no-op."""
        if self.deploy:
            return
        self.eval()
        fuse_units(self)
        self.deploy = True

    def train(self, mode=True):
        if mode and self.deploy:
            raise RuntimeError(
                f'cannot train {type(self).__name__}: switch_to_deploy() '
                'folded its BatchNorms into the convs for inference. Build '
                'the model anew (and load the checkpoint) to train it.')
        return super().train(mode)
