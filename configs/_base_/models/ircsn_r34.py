# ir-CSN-34: simple blocks, 3x3x3 depthwise convs.
_base_ = ['ircsn_r18.py']

model = dict(backbone=dict(depth=34))
