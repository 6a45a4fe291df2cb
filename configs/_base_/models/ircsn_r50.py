# ir-CSN-50: ResNet3dCSN, bottleneck_mode='ir' (13.13M params with the
# 400-class head).
_base_ = ['ircsn_r152.py']

model = dict(backbone=dict(depth=50))
