# gc-ResNet3D-18: every 3x3x3 conv of the simple blocks is a group conv. The
# paper varies the number of groups; 8 is our default (it divides every stage
# width), change it with model.backbone.groups.
_base_ = ['r3d_r18.py']

model = dict(backbone=dict(conv_type='gc', groups=8))
