# ircsn_r50_motion.py on 56x56 crops of 64-pixel videos, as the quickstart
# test trains (python -m csn_plugin.tools.make_dataset data/motion --size 64
# --frames 24 --train-per-class 150 --val-per-class 5 --test-per-class 15).
_base_ = ['ircsn_r50_motion.py']


def _pipeline(sample, crop):
    return [
        dict(type='DecordInit'), sample,
        dict(type='DecordDecode'),
        dict(type='Resize', scale=(-1, 64)), crop,
        dict(type='FormatShape', input_format='NCTHW'),
        dict(type='PackActionInputs')
    ]


def _test_sample(num_clips):
    return dict(type='SampleFrames', clip_len=8, frame_interval=2,
                num_clips=num_clips, test_mode=True)


train_dataloader = dict(dataset=dict(pipeline=_pipeline(
    dict(type='SampleFrames', clip_len=8, frame_interval=2, num_clips=1),
    dict(type='RandomCrop', size=56))))
val_dataloader = dict(dataset=dict(pipeline=_pipeline(
    _test_sample(1), dict(type='CenterCrop', crop_size=56))))
test_dataloader = dict(dataset=dict(pipeline=_pipeline(
    _test_sample(3), dict(type='CenterCrop', crop_size=56))))
