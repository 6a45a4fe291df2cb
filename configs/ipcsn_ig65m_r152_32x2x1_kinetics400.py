# ip-CSN-152 pretrained on IG-65M, fine-tuned on Kinetics-400 for 58 epochs.
_base_ = [
    '_base_/models/ipcsn_r152.py',
    '_base_/datasets/kinetics400_32x2x1_video.py',
    '_base_/schedules/sgd_58e_finetune.py', '_base_/default_runtime.py'
]

custom_imports = dict(imports=['csn_plugin'], allow_failed_imports=False)

model = dict(
    backbone=dict(
        pretrained='https://download.openmmlab.com/mmaction/recognition/csn/'
        'ipcsn_from_scratch_r152_ig65m_20210617-c4b99d38.pth'))
