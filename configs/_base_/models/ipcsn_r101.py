# ip-CSN-101: ResNet3dCSN, bottleneck_mode='ip'.
_base_ = ['ipcsn_r152.py']

model = dict(backbone=dict(depth=101))
