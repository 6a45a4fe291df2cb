# ir-CSN-18: simple blocks whose 3x3x3 convs are depthwise (interaction-
# reduced; where a stage doubles the width, a depthwise conv with channel
# multiplier 2). The bottleneck ir-CSNs use ResNet3dCSN (ircsn_r152.py).
_base_ = ['r3d_r18.py']

model = dict(backbone=dict(conv_type='ir'))
