# ir-CSN-152 pretrained on IG-65M, fine-tuned on Kinetics-400 for 58 epochs.
# Published: 82.87 top-1 / 95.90 top-5 (MMAction2 model zoo, 10 clips x
# 3 crops); released fine-tuned weights:
# https://download.openmmlab.com/mmaction/v1.0/recognition/csn/ircsn_ig65m-pretrained-r152_8xb12-32x2x1-58e_kinetics400-rgb/ircsn_ig65m-pretrained-r152_8xb12-32x2x1-58e_kinetics400-rgb_20220811-c7a3cc5b.pth  # noqa: E501
_base_ = [
    '_base_/models/ircsn_r152.py',
    '_base_/datasets/kinetics400_32x2x1_video.py',
    '_base_/schedules/sgd_58e_finetune.py', '_base_/default_runtime.py'
]

custom_imports = dict(imports=['csn_plugin'], allow_failed_imports=False)

# IG-65M weights converted from VMZ by OpenMMLab.
model = dict(
    backbone=dict(
        pretrained='https://download.openmmlab.com/mmaction/recognition/csn/'
        'ircsn_from_scratch_r152_ig65m_20200807-771c4135.pth'))
