"""``switch_to_deploy``: the inference form of a backbone, as a visible
rewrite of its module tree.

As mmpretrain's re-parameterizable backbones (RepVGG, MobileOne) and timm's
``reparameterize_model`` do, the inference form replaces modules where they
stand, so ``print(model)`` shows what runs and hooks registered on the new
modules fire:

- every conv unit (an mmcv ``ConvModule``: a zero-padded conv, a BatchNorm
  with running statistics or no norm, then a ReLU or nothing) becomes a
  :class:`FusedConv3d` that holds the folded weights and runs conv, bias
  and ReLU as one kernel (:mod:`.cpu_kernels`);
- every residual block (:class:`~..blocks.ResidualBlock3d`) becomes a
  :class:`FusedResidualBlock3d`, whose forward calls its fused children in
  order and whose last conv takes the shortcut and applies the add and the
  ReLU in the same kernel.

Units that cannot be fused (a sigmoid gate, a group norm, explicit padding,
a conv class with its own forward) stay as they are, and their blocks add
the shortcut themselves.
"""
from collections import OrderedDict

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmcv.cnn import ConvModule
from mmcv.cnn.bricks.wrappers import Conv3d as EmptyTensorConv3d

from ..blocks import ResidualBlock3d
from .cpu_kernels import conv_act
from .depthwise_route import depthwise_conv3d_routed, forced_paths
from .fold_bn import check_foldable, folded_params
from .mixed_precision import MixedPrecisionConv3d, cpu_bf16_autocast
from .support import hooked

__all__ = [
    'Deployable', 'FusedConv3d', 'FusedResidualBlock3d', 'FusedStage',
    'fuse_block',
    'fuse_unit', 'fuse_units', 'unit_problem'
]

#: conv classes whose computation in eval mode is nn.Conv3d's
#: (MixedPrecisionConv3d differs only in training under bf16 autocast,
#: mmcv's Conv3d only on empty tensors)
PLAIN_CONV3D = (nn.Conv3d, MixedPrecisionConv3d, EmptyTensorConv3d)


class FusedConv3d(nn.Conv3d):
    """A deployed conv unit: a ``Conv3d`` with the unit's BatchNorm folded
    into its weight and bias, and its ReLU, computed as one kernel: oneDNN's
    on the CPU (:func:`~.cpu_kernels.conv_act`); on CUDA, for a depthwise
    conv, the Triton kernel where the router measured it faster than cuDNN
    (:func:`~.depthwise_route.depthwise_conv3d_routed`).

    The last conv of a :class:`FusedResidualBlock3d` also takes the block's
    shortcut (``adds_residual=True``): it computes
    ``relu(conv(x) + bias + residual)``.

    Args:
        *args, **kwargs: Those of ``nn.Conv3d``; it always has a bias.
        relu (bool): Apply ReLU to the output. Defaults to False.
        adds_residual (bool): Whether :meth:`forward` takes a residual to
            add before the ReLU. Defaults to False.
    """

    def __init__(self, *args, relu=False, adds_residual=False, **kwargs):
        kwargs['bias'] = True
        super().__init__(*args, **kwargs)
        self.relu = relu
        self.adds_residual = adds_residual
        self._copies = {}

    def forward(self, x, residual=None, reuse_residual=False):
        """``relu(conv(x) + bias [+ residual])``.

        Args:
            x (Tensor): Input.
            residual (Tensor, optional): The shortcut; given exactly when
                ``adds_residual``.
            reuse_residual (bool): Write the result into ``residual``, which
                the caller made and no longer needs (ignored with
                gradients).
        """
        if (residual is not None) != self.adds_residual:
            need = 'needs' if self.adds_residual else 'takes no'
            raise ValueError(f'this FusedConv3d {need} residual input')
        if torch.compiler.is_compiling():  # plain ops the compiler fuses
            out = self._conv_forward(x, self.weight, self.bias)
            if residual is not None:
                out = out + residual
            return F.relu(out) if self.relu else out
        if cpu_bf16_autocast() and x.dtype == torch.float32:
            x = x.to(torch.bfloat16)  # what autocast does before a conv
        weight, bias = self.params_as(x.dtype)
        if x.device.type != 'cpu' or 'triton' in forced_paths():
            # CUDA: the router takes the Triton kernel for a depthwise conv
            # where it measured faster, cuDNN and public ops otherwise
            return depthwise_conv3d_routed(x, weight, bias, self, self.relu,
                                           residual)
        inplace = (reuse_residual and not torch.is_grad_enabled()
                   and residual is not None and residual.dtype == x.dtype)
        return conv_act(x, weight, bias, self, self.relu, residual, inplace)

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
        return (super().extra_repr() + f', relu={self.relu}' +
                (', adds_residual=True' if self.adds_residual else ''))


class FusedResidualBlock3d(nn.Module):
    """A deployed residual block: ``last(branch(x), shortcut(x))``.

    Args:
        branch (nn.Sequential): The residual branch up to its last conv, as
            fused units and whatever could not be fused.
        last (FusedConv3d | None): The branch's last conv, which adds the
            shortcut and applies the block's ReLU; None where the block
            ends otherwise (then ``act(branch(x) + shortcut(x))``).
        downsample (nn.Module | None): The projection shortcut; None for the
            identity.
        act (nn.Module | None): The activation after the sum, where
            ``last`` is None.
    """

    def __init__(self, branch, last=None, downsample=None, act=None):
        super().__init__()
        if (last is None) == (act is None):
            raise ValueError('give exactly one of last and act')
        self.downsample = downsample
        self.branch = branch
        self.last = last
        self.act = act

    def forward(self, x, input_reusable=False):
        """``last(branch(x), shortcut(x))``.

        Args:
            x (Tensor): The block's input.
            input_reusable (bool): Whether the caller made ``x`` and nothing
                else holds it, so that the sum may be written into it
                (:class:`FusedStage` says so where that holds).
        """
        identity = x if self.downsample is None else self.downsample(x)
        out = self.branch(x)
        if self.last is not None:
            # a projected shortcut was made here: the sum may overwrite it
            return self.last(out, identity, reuse_residual=(
                self.downsample is not None or input_reusable))
        return self.act(out + identity)


class FusedStage(nn.Sequential):
    """A deployed stage: its modules in order, as ``nn.Sequential``; a
    :class:`FusedResidualBlock3d` whose input is the previous module's
    output, which no hook can see (:func:`~.support.hooked`), may write its
    sum into that input instead of a fresh tensor (fresh large tensors cost
    page faults on CPU). The stage's own input is never written."""

    def forward(self, x):
        if torch.compiler.is_compiling():  # the compiler plans the memory
            return super().forward(x)
        previous = None
        for module in self:
            if isinstance(module, FusedResidualBlock3d):
                reusable = (previous is not None and not hooked(previous)
                            and not hooked(module))
                out = module(x, input_reusable=reusable)
            else:
                out = module(x)
            previous = module if out is not x else None
            x = out
        return x


def unit_problem(module):
    """Why ``module`` is not a conv unit that can be fused, or None.

    A fusable unit is an mmcv ``ConvModule`` of an ``nn.Conv3d`` (zero
    padding, no explicit padding layer, no forward of its own), then a
    BatchNorm with running statistics or no norm, then a ReLU or no
    activation."""
    if not isinstance(module, ConvModule):
        return f'{type(module).__name__} is not a ConvModule'
    try:
        check_foldable(module)
    except (TypeError, ValueError) as err:
        return str(err)
    conv = module.conv
    if type(conv) not in PLAIN_CONV3D or conv.padding_mode != 'zeros':
        return (f'its conv is a {type(conv).__name__} with padding_mode='
                f'{getattr(conv, "padding_mode", None)!r}, not a zero-padded '
                'nn.Conv3d (a subclass may compute something else)')
    if module.with_explicit_padding:
        return (f'it pads explicitly with a '
                f'{type(module.padding_layer).__name__} before the conv')
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


def _flatten(modules):
    """The modules of nested ``nn.Sequential`` containers, in order."""
    for module in modules:
        if type(module) is nn.Sequential or (
                isinstance(module, nn.Sequential)
                and type(module).forward is nn.Sequential.forward):
            yield from _flatten(module)
        else:
            yield module


def fuse_block(block):
    """The :class:`FusedResidualBlock3d` of a residual block whose units
    :func:`fuse_units` has fused (in eval mode: the shortcut and the
    branch as they are, the sum in the last conv where it is a fused unit
    without ReLU and the block's activation is a ReLU)."""
    if not isinstance(block, ResidualBlock3d):
        raise TypeError(f'expected a ResidualBlock3d, got '
                        f'{type(block).__name__}')
    steps = list(_flatten(block.steps))
    last = steps[-1]
    if (isinstance(last, FusedConv3d) and not last.relu
            and type(block.relu) is nn.ReLU):
        last.relu, last.adds_residual = True, True
        return FusedResidualBlock3d(nn.Sequential(*steps[:-1]), last=last,
                                    downsample=block.downsample)
    return FusedResidualBlock3d(nn.Sequential(*steps), act=block.relu,
                                downsample=block.downsample)


def fuse_blocks(model):
    """Replace every :class:`~..blocks.ResidualBlock3d` in ``model`` by its
    :func:`fuse_block`, and every plain ``nn.Sequential`` of them by a
    :class:`FusedStage`, in place.

    Returns:
        int: How many blocks were replaced.
    """
    count = 0
    for parent in list(model.modules()):
        for name, child in list(parent.named_children()):
            if isinstance(child, ResidualBlock3d):
                setattr(parent, name, fuse_block(child))
                count += 1
    for parent in list(model.modules()):
        for name, child in list(parent.named_children()):
            if type(child) is nn.Sequential and any(
                    isinstance(m, FusedResidualBlock3d) for m in child):
                setattr(parent, name,
                        FusedStage(OrderedDict(child.named_children())))
    return count


class Deployable:
    """Mixin of the plugin's backbones: :meth:`switch_to_deploy`, and no
    training afterwards.

    A deployed backbone's state dict has the fused layout (``conv1.weight``,
    ``conv1.bias`` where ``conv1.conv.weight`` and ``conv1.bn.*`` were, and
    ``layer1.0.branch.0.weight`` where ``layer1.0.conv1.conv.weight`` was);
    save and load MMAction2 checkpoints before switching.
    """

    #: whether :meth:`switch_to_deploy` has run
    deploy = False

    def switch_to_deploy(self):
        """Fold every BatchNorm into its conv, fuse each conv unit with its
        ReLU and each residual block's sum with its last conv, in place,
        for inference (see :mod:`.deploy`). The
        deployed backbone computes what the eval-mode one computed, up to
        float rounding. Calling it twice is a no-op."""
        if self.deploy:
            return
        self.eval()
        fuse_units(self)
        fuse_blocks(self)
        self.deploy = True

    def train(self, mode=True):
        if mode and self.deploy:
            raise RuntimeError(
                f'cannot train {type(self).__name__}: switch_to_deploy() '
                'folded its BatchNorms into the convs for inference. Build '
                'the model anew (and load the checkpoint) to train it.')
        return super().train(mode)
