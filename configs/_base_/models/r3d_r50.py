# ResNet3D-50: bottleneck blocks (1x1x1, dense 3x3x3, 1x1x1).
_base_ = ['r3d_r18.py']

model = dict(backbone=dict(depth=50), cls_head=dict(in_channels=2048))
