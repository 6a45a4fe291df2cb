# gc-ResNet3D-50: the bottleneck's 3x3x3 conv is a group conv (8 groups).
_base_ = ['gccsn_r18.py']

model = dict(backbone=dict(depth=50), cls_head=dict(in_channels=2048))
