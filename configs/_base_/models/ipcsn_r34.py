# ip-CSN-34: simple blocks, 1x1x1 + 3x3x3 depthwise convs.
_base_ = ['ipcsn_r18.py']

model = dict(backbone=dict(depth=34))
