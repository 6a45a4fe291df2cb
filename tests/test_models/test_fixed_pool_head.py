"""FixedPoolI3DHead: PyTorchVideo's fixed-window pooling in an I3DHead."""
import pytest
import torch

from csn_plugin.models import FixedPoolI3DHead
from csn_plugin.registry import MODELS

I3DHead = MODELS.get('I3DHead')


def heads(pool_size):
    torch.manual_seed(0)
    fixed = FixedPoolI3DHead(5, 8, pool_size=pool_size).eval()
    plain = I3DHead(5, 8).eval()
    plain.load_state_dict(fixed.state_dict(), strict=True)  # same keys
    return fixed, plain


def test_window_the_size_of_the_map_is_global_average():
    fixed, plain = heads((2, 3, 3))
    x = torch.randn(2, 8, 2, 3, 3)
    assert torch.allclose(fixed(x), plain(x), atol=1e-6)


def test_larger_map_averages_window_positions():
    """As PyTorchVideo's head: the projection at each window position, then
    the mean over positions."""
    fixed, plain = heads((1, 2, 2))
    x = torch.randn(2, 8, 1, 3, 3)
    windows = [x[..., i:i + 2, j:j + 2].mean((2, 3, 4))
               for i in range(2) for j in range(2)]
    expected = torch.stack([fixed.fc_cls(w) for w in windows]).mean(0)
    assert torch.allclose(fixed(x), expected, atol=1e-6)
    assert not torch.allclose(fixed(x), plain(x), atol=1e-3)


@pytest.mark.parametrize('activation, function', [
    ('softmax', lambda s: s.softmax(-1)), ('sigmoid', torch.sigmoid)])
def test_activation_at_each_window_position(activation, function):
    """As PyTorchVideo's head with head_activation: the activation at each
    position, then the mean; in training the mean of the logits."""
    torch.manual_seed(0)
    head = FixedPoolI3DHead(5, 8, pool_size=(1, 2, 2), activation=activation,
                            dropout_ratio=0)
    plain, _ = heads((1, 2, 2))
    head.load_state_dict(plain.state_dict())
    x = torch.randn(2, 8, 1, 3, 3)
    windows = [x[..., i:i + 2, j:j + 2].mean((2, 3, 4))
               for i in range(2) for j in range(2)]
    expected = torch.stack([function(head.fc_cls(w)) for w in windows]).mean(0)
    head.eval()
    assert torch.allclose(head(x), expected, atol=1e-6)
    # differs from the activation of the averaged scores (2x2 positions)
    assert not torch.allclose(head(x), function(plain(x)), atol=1e-4)
    assert torch.allclose(head.train()(x), plain(x), atol=1e-6)


def test_bad_arguments():
    with pytest.raises(ValueError, match="activation must be None or one of "
                       "'softmax', 'sigmoid', but got 'relu'"):
        FixedPoolI3DHead(5, 8, activation='relu')
    with pytest.raises(ValueError, match='three positive sizes'):
        FixedPoolI3DHead(5, 8, pool_size=(4, 7))
    with pytest.raises(ValueError, match='no spatial_type'):
        FixedPoolI3DHead(5, 8, spatial_type='avg')
    with pytest.raises(ValueError, match=r'feature map \(1, 2, 2\) is '
                       r'smaller than the pooling window \(1, 3, 3\)'):
        FixedPoolI3DHead(5, 8, pool_size=(1, 3, 3))(torch.randn(1, 8, 1, 2, 2))
