# gc-ResNet3D-101: bottleneck blocks, 3x3x3 group conv (8 groups).
_base_ = ['gccsn_r50.py']

model = dict(backbone=dict(depth=101))
