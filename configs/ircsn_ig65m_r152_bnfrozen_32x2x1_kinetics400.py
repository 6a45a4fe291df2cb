# ir-CSN-152 (IG-65M) fine-tuned with every BN layer frozen: statistics and
# affine parameters stay as pretrained. Published: 82.84 / 95.92; weights:
# https://download.openmmlab.com/mmaction/v1.0/recognition/csn/ircsn_ig65m-pretrained-r152-bnfrozen_8xb12-32x2x1-58e_kinetics400-rgb/ircsn_ig65m-pretrained-r152-bnfrozen_8xb12-32x2x1-58e_kinetics400-rgb_20220811-7d1dacde.pth  # noqa: E501
_base_ = ['ircsn_ig65m_r152_32x2x1_kinetics400.py']

model = dict(backbone=dict(norm_eval=True, bn_frozen=True))
