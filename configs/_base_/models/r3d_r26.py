# ResNet3D-26: bottleneck blocks, dense 3x3x3 convs.
_base_ = ['r3d_r50.py']

model = dict(backbone=dict(depth=26))
