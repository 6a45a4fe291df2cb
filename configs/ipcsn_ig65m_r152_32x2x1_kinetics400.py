# ip-CSN-152 pretrained on IG-65M, fine-tuned on Kinetics-400 for 58 epochs.
_base_ = ['ircsn_ig65m_r152_32x2x1_kinetics400.py']

model = dict(
    backbone=dict(
        bottleneck_mode='ip',
        pretrained='https://download.openmmlab.com/mmaction/recognition/csn/'
        'ipcsn_from_scratch_r152_ig65m_20210617-c4b99d38.pth'))
