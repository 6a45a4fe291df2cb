# gc-ResNet3D-34: simple blocks, 3x3x3 group convs (8 groups).
_base_ = ['gccsn_r18.py']

model = dict(backbone=dict(depth=34))
