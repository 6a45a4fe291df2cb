"""Bad ResNet3dCSN / FactorizedResNet3d arguments fail early with an error
that names the problem."""
import pytest
from csn_reference import use_mmaction_scope
from mmaction.registry import MODELS

from csn_plugin.models import FactorizedResNet3d, ResNet3dCSN


@pytest.mark.parametrize('kwargs, error, match', [
    (dict(bottleneck_mode='xx'), ValueError, "bottleneck_mode.*'xx'"),
    (dict(depth=18), KeyError, 'invalid depth 18'),
    (dict(depth=34), KeyError, 'invalid depth 34'),
    (dict(depth=42), KeyError, r'choose from \[26, 50, 101, 152\]'),
    (dict(pretrained2d=True, pretrained='r50.pth'), ValueError,
     'pretrained2d=True'),
    (dict(pretrained=123), TypeError, 'pretrained must be a str'),
    (dict(pretrained='r50.pth', init_cfg=dict(type='Pretrained',
                                              checkpoint='r50.pth')),
     ValueError, '`pretrained` or `init_cfg`'),
    (dict(inflate_style='3x1x1'), ValueError, "inflate_style='3x1x1'"),
    (dict(style='caffe'), ValueError, "style='caffe'"),
    (dict(num_stages=5), ValueError, 'num_stages must be 1, 2, 3 or 4'),
    (dict(num_stages=0), ValueError, 'num_stages must be 1, 2, 3 or 4'),
    (dict(out_indices=(4, )), ValueError,
     'out_indices: 4 is out of range; allowed are the integers 0 to 3'),
    (dict(out_indices=(-1, )), ValueError, 'out_indices: -1 is out of range'),
    (dict(out_indices=()), ValueError, 'out_indices must name at least one'),
    (dict(num_stages=3), ValueError,
     r'spatial_strides must have one entry per stage: 3 for num_stages=3, '
     r'but got 4: \(1, 2, 2, 2\)'),
    (dict(temporal_strides=(1, 2)), ValueError,
     'temporal_strides must have one entry per stage: 4'),
    (dict(dilations=(1, 1, 1, 1, 1)), ValueError,
     'dilations must have one entry per stage: 4 .* got 5'),
    (dict(spatial_strides=2), TypeError, 'spatial_strides must be a tuple'),
    (dict(stage_blocks=(3, 4)), ValueError,
     'stage_blocks must have one entry per stage'),
    (dict(frozen_stages=5), ValueError,
     'frozen_stages: 5 is out of range; allowed are the integers -1 to 4'),
    (dict(frozen_stages=-2), ValueError, 'frozen_stages: -2 is out of range'),
    (dict(depth='50'), TypeError,
     r"depth must be an int, one of \[26, 50, 101, 152\], but got '50' "
     r'\(str\)'),
    (dict(groups=2), ValueError, "groups=2 only applies to conv_type='gc'"),
    (dict(bn_frozen=True, norm_eval=False), ValueError, 'norm_eval=False'),
])
def test_resnet3d_csn_rejects(kwargs, error, match):
    kwargs = {'depth': 50, **kwargs}
    with pytest.raises(error, match=match):
        ResNet3dCSN(**kwargs)


def test_frozen_stages_up_to_num_stages_build_and_freeze():
    model = ResNet3dCSN(depth=26, base_channels=8, num_stages=2,
                        spatial_strides=(1, 2), temporal_strides=(1, 2),
                        dilations=(1, 1), out_indices=(1, ), frozen_stages=2)
    model.train()
    assert not any(p.requires_grad for p in model.parameters())
    assert not model.layer2.training


def test_registry_build_keeps_the_error():
    """What a user with a bad config sees through ``MODELS.build``."""
    use_mmaction_scope()
    with pytest.raises(KeyError, match='invalid depth 18'):
        MODELS.build(dict(type='ResNet3dCSN', depth=18, pretrained=None))
    with pytest.raises(ValueError, match="bottleneck_mode"):
        MODELS.build(
            dict(type='ResNet3dCSN', depth=50, bottleneck_mode='xx'))


@pytest.mark.parametrize('kwargs, error, match', [
    (dict(conv_type='xx'), ValueError, 'conv type must be one of'),
    (dict(conv_type='gc', groups=3), ValueError, 'groups=3 must divide'),
])
def test_factorized_resnet3d_rejects(kwargs, error, match):
    with pytest.raises(error, match=match):
        FactorizedResNet3d(depth=26, base_channels=8, **kwargs)
