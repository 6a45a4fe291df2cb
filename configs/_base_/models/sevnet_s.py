# SEVNet, our small 's' layout (widths 48-384).
_base_ = ['sevnet.py']

model = dict(backbone=dict(arch='s'), cls_head=dict(in_channels=384))
