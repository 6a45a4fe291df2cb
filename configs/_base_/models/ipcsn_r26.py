# ip-CSN-26: ResNet3dCSN, bottleneck_mode='ip'.
_base_ = ['ipcsn_r152.py']

model = dict(backbone=dict(depth=26))
