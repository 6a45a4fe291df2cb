# ir-CSN-50 (IG-65M), BN frozen. Published: 79.44 / 94.26; weights:
# https://download.openmmlab.com/mmaction/v1.0/recognition/csn/ircsn_ig65m-pretrained-r50-bnfrozen_8xb12-32x2x1-58e_kinetics400-rgb/ircsn_ig65m-pretrained-r50-bnfrozen_8xb12-32x2x1-58e_kinetics400-rgb_20220811-44395bae.pth  # noqa: E501
_base_ = ['ircsn_ig65m_r152_bnfrozen_32x2x1_kinetics400.py']

model = dict(
    backbone=dict(
        depth=50,
        pretrained='https://download.openmmlab.com/mmaction/recognition/csn/'
        'ircsn_from_scratch_r50_ig65m_20210617-ce545a37.pth'))
