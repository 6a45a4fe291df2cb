"""ResNet3dCSN: ip-CSN and ir-CSN, in place of MMAction2's class.

Channel-Separated Convolutional Networks (Tran, Wang, Torresani, Feiszli,
ICCV 2019) on bottleneck ResNets. Published numbers with a 400-class
``I3DHead``: ir-CSN-152 29.70M params, ip-CSN-152 33.02M, ir-CSN-50 13.13M.
"""
from ...registry import replace_builtin
from ..blocks import Bottleneck3d
from .factorized_resnet3d import FactorizedResNet3d


@replace_builtin
class ResNet3dCSN(FactorizedResNet3d):
    """ResNet3D-bottleneck with channel-separated 3x3x3 convs.

    Drop-in for MMAction2's ``ResNet3dCSN``: the same arguments and the same
    state-dict keys, so its configs build and its checkpoints load unchanged.
    Unlike the built-in, ``train()`` returns the module, ``bn_frozen`` works
    on its own, and ``pretrained`` reports mismatched keys by name.

    Args:
        depth (int): 26, 50, 101 or 152.
        pretrained (str, optional): 3D checkpoint path or URL, loaded by
            :meth:`init_weights`. Defaults to None.
        bottleneck_mode (str): ``'ir'`` (a 3x3x3 depthwise conv) or ``'ip'``
            (a 1x1x1 conv with BN, then the 3x3x3 depthwise conv).
            Defaults to ``'ir'``.
        inflate_style (str): Only ``'3x3x3'``, MMAction2's CSN setting; kept so
            configs that pass it build. Others raise.
        style (str): Only ``'pytorch'`` (stride on the 3x3x3 conv).
        with_pool2 (bool): Max-pool time by 2 after stage 1. Defaults to
            True, MMAction2's default; its CSN configs, like the paper, set
            False.
        **kwargs: The other arguments of :class:`FactorizedResNet3d`
            (``temporal_strides``, ``conv1_kernel``, ``norm_cfg``,
            ``norm_eval``, ``bn_frozen``, ``frozen_stages``,
            ``zero_init_residual``, ``pretrained2d``, ``init_cfg`` ...).
    """

    arch_settings = {
        depth: setting
        for depth, setting in FactorizedResNet3d.arch_settings.items()
        if setting[0] is Bottleneck3d
    }

    def __init__(self,
                 depth,
                 pretrained=None,
                 bottleneck_mode='ir',
                 inflate_style='3x3x3',
                 style='pytorch',
                 with_pool2=True,
                 **kwargs):
        if bottleneck_mode not in ('ip', 'ir'):
            raise ValueError(f"bottleneck_mode must be 'ip' or 'ir', but got "
                             f'{bottleneck_mode!r}')
        if inflate_style != self.inflate_style:
            raise ValueError(f"CSN blocks are '3x3x3'; inflate_style="
                             f'{inflate_style!r} is not supported')
        if style != self.style:
            raise ValueError(f"CSN strides its 3x3x3 conv (style='pytorch'); "
                             f'style={style!r} is not supported')
        super().__init__(
            depth,
            conv_type=bottleneck_mode,
            pretrained=pretrained,
            with_pool2=with_pool2,
            **kwargs)

    @property
    def bottleneck_mode(self):
        """``'ir'`` or ``'ip'``: MMAction2's name for ``conv_type``."""
        return self.conv_type
