# ip-CSN-152: interaction-preserved CSN (each bottleneck's 3x3x3 conv becomes
# a 1x1x1 conv followed by a depthwise 3x3x3 conv).
_base_ = ['ircsn_r152.py']

model = dict(backbone=dict(bottleneck_mode='ip'))
