# ir-CSN-26: ResNet3dCSN, bottleneck_mode='ir'.
_base_ = ['ircsn_r152.py']

model = dict(backbone=dict(depth=26))
