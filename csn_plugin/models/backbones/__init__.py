from .factorized_resnet3d import FactorizedResNet3d
from .resnet3d_csn import ResNet3dCSN
from .sevnet import SEVNet

__all__ = ['FactorizedResNet3d', 'ResNet3dCSN', 'SEVNet']
