# ir-CSN-152 pretrained on Sports-1M, fine-tuned on Kinetics-400 for 58
# epochs.
_base_ = [
    '_base_/models/ircsn_r152.py',
    '_base_/datasets/kinetics400_32x2x1_video.py',
    '_base_/schedules/sgd_58e_finetune.py', '_base_/default_runtime.py'
]

custom_imports = dict(imports=['csn_plugin'], allow_failed_imports=False)

model = dict(
    backbone=dict(
        pretrained='https://download.openmmlab.com/mmaction/recognition/csn/'
        'ircsn_from_scratch_r152_sports1m_20210617-bcc9c0dd.pth'),
    # VMZ's input statistics, which the Sports-1M weights were trained with.
    data_preprocessor=dict(
        mean=[110.2008, 100.63983, 95.99475],
        std=[58.14765, 56.46975, 55.332195]))
