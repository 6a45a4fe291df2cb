# ir-CSN-152 (Sports-1M), BN frozen. Published: 78.57 / 93.44 (VMZ's model,
# converted): https://download.openmmlab.com/mmaction/recognition/csn/vmz/vmz_ircsn_sports1m_pretrained_r152_32x2x1_58e_kinetics400_rgb_20210617-b9b10241.pth  # noqa: E501
_base_ = ['ircsn_sports1m_r152_32x2x1_kinetics400.py']

model = dict(backbone=dict(norm_eval=True, bn_frozen=True))
