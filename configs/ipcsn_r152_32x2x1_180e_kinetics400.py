# ip-CSN-152 trained from scratch on Kinetics-400 for 180 epochs. VMZ's model
# of this recipe scores 77.80 / 93.10 (converted by OpenMMLab):
# https://download.openmmlab.com/mmaction/recognition/csn/vmz/vmz_ipcsn_from_scratch_r152_32x2x1_180e_kinetics400_rgb_20210617-d565828d.pth  # noqa: E501
_base_ = ['ircsn_r152_32x2x1_180e_kinetics400.py']

model = dict(backbone=dict(bottleneck_mode='ip'))
