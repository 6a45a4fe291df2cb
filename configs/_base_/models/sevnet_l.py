# SEVNet, our large 'l' layout (widths 80-640), still under the paper's
# 35 GFLOPs budget at 16x224x224.
_base_ = ['sevnet.py']

model = dict(backbone=dict(arch='l'), cls_head=dict(in_channels=640))
