# ResNet3D-34: simple blocks, dense 3x3x3 convs.
_base_ = ['r3d_r18.py']

model = dict(backbone=dict(depth=34))
