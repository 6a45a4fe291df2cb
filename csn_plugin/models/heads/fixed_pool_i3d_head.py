"""An I3D head with a fixed-size average-pooling window, as PyTorchVideo's.

PyTorchVideo's ``create_csn`` ends in ``ResNetBasicHead``: an
``AvgPool3d(kernel, stride=1)``, the linear projection at every window
position, then the mean over the positions. Its hub model ``csn_r101`` uses
a (4, 7, 7) window, the final feature map of a 32x224x224 clip. On a 256x256
test crop (8x8 features) the window takes 2x2 positions and so weighs the
centre of the map more than the border; MMAction2's ``I3DHead`` averages the
whole map uniformly instead. The projection is linear, so averaging the
windows first and projecting once gives the same scores. An activation
(``create_csn(head_activation=nn.Softmax)``) is applied at each window
position before the mean, as PyTorchVideo's head does; then the windows are
projected one by one.
"""
import torch.nn as nn
import torch.nn.functional as F
from mmaction.models.heads import I3DHead

from ...registry import MODELS


class WindowAvgPool3d(nn.Module):
    """Average over a fixed ``(t, h, w)`` window slid with stride 1, then
    over all window positions.

    Args:
        window (tuple[int]): The window; the input must be at least as large.
    """

    def __init__(self, window):
        super().__init__()
        self.window = tuple(int(w) for w in window)
        if len(self.window) != 3 or min(self.window) < 1:
            raise ValueError(f'window must be three positive sizes (t, h, w), '
                             f'but got {window}')
        self.windows = nn.AvgPool3d(self.window, stride=1)
        self.positions = nn.AdaptiveAvgPool3d(1)

    def check(self, x):
        """Raise ValueError if ``x`` is smaller than the window."""
        if any(s < w for s, w in zip(x.shape[2:], self.window)):
            raise ValueError(
                f'the feature map {tuple(x.shape[2:])} is smaller than the '
                f'pooling window {self.window}: feed larger clips or set a '
                f'smaller pool_size')

    def forward(self, x):
        self.check(x)
        return self.positions(self.windows(x))

    def extra_repr(self):
        return f'window={self.window}'


@MODELS.register_module()
class FixedPoolI3DHead(I3DHead):
    """``I3DHead`` that pools with a fixed window, as PyTorchVideo's CSN head.

    Same parameters and state-dict keys as ``I3DHead`` (``fc_cls.*``); only
    the pooling differs (see :class:`WindowAvgPool3d`). Where the feature
    map is exactly ``pool_size`` the two heads agree.

    Args:
        num_classes (int): Number of classes.
        in_channels (int): Channels of the input feature.
        pool_size (tuple[int]): The ``(t, h, w)`` pooling window.
            Defaults to (4, 7, 7), PyTorchVideo's ``csn_r101``.
        activation (str, optional): ``'softmax'`` or ``'sigmoid'`` over the
            classes at each window position before the mean over positions
            (``create_csn``'s ``head_activation``), in eval mode only: in
            training the head returns the mean of the logits, which the loss
            takes. None (the default) applies none. With an activation use
            ``average_clips='score'`` (or None): ``'prob'`` would apply a
            softmax again.
        **kwargs: The other arguments of ``I3DHead`` (``loss_cls``,
            ``dropout_ratio``, ``init_std``, ``average_clips`` ...), except
            ``spatial_type``.
    """

    ACTIVATIONS = {
        'softmax': lambda scores: F.softmax(scores, dim=-1),
        'sigmoid': lambda scores: scores.sigmoid(),
    }

    def __init__(self, num_classes, in_channels, pool_size=(4, 7, 7),
                 activation=None, **kwargs):
        if activation is not None and activation not in self.ACTIVATIONS:
            raise ValueError(f'activation must be None or one of '
                             f'{", ".join(map(repr, self.ACTIVATIONS))}, but '
                             f'got {activation!r}')
        if 'spatial_type' in kwargs:
            raise ValueError('FixedPoolI3DHead pools with its pool_size '
                             'window; it takes no spatial_type')
        # No pooling from I3DHead; this head's own is set below.
        super().__init__(num_classes, in_channels, spatial_type=None,
                         **kwargs)
        self.spatial_type = 'fixed'
        self.avg_pool = WindowAvgPool3d(pool_size)
        self.pool_size = self.avg_pool.window
        self.activation = activation

    def forward(self, x, **kwargs):
        """Class scores: the mean over window positions of the projection
        (with :attr:`activation`, in eval mode, of its activation)."""
        if self.activation is None or self.training:
            return super().forward(x, **kwargs)
        self.avg_pool.check(x)
        windows = self.avg_pool.windows(x)
        if self.dropout is not None:
            windows = self.dropout(windows)
        # [N, C, t, h, w] -> scores at each position [N, t, h, w, classes]
        scores = self.fc_cls(windows.permute(0, 2, 3, 4, 1))
        return self.ACTIVATIONS[self.activation](scores).mean((1, 2, 3))
