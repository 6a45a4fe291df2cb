# ip-CSN-18: simple blocks whose 3x3x3 convs are each a 1x1x1 conv followed by
# a 3x3x3 depthwise conv (interaction-preserved). The bottleneck ip-CSNs use
# ResNet3dCSN (ipcsn_r152.py and its depth variants).
_base_ = ['r3d_r18.py']

model = dict(backbone=dict(conv_type='ip'))
