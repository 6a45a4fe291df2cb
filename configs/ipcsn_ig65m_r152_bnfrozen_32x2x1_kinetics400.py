# ip-CSN-152 (IG-65M), BN frozen. Published: 82.68 / 95.69 (VMZ's model,
# converted): https://download.openmmlab.com/mmaction/recognition/csn/vmz/vmz_ipcsn_ig65m_pretrained_r152_32x2x1_58e_kinetics400_rgb_20210617-c3be9793.pth  # noqa: E501
_base_ = ['ipcsn_ig65m_r152_32x2x1_kinetics400.py']

model = dict(backbone=dict(norm_eval=True, bn_frozen=True))
