# SEVNet (Wang & Yang, arXiv 2503.00796), our 'm' layout: 17.26 GMACs and
# 5.98M params with a 400-class head at 16x224x224 (docs/sevnet.md says which
# parts come from the paper and which are our choices).
model = dict(
    type='Recognizer3D',
    backbone=dict(
        type='SEVNet',  # csn_plugin's (see custom_imports)
        arch='m',
        spatial_kernel=(1, 3, 3),
        group_width=16,
        temporal_kernel=(3, 1, 1),
        temporal_depthwise=False,
        with_se=False),
    cls_head=dict(
        type='I3DHead',
        num_classes=400,
        in_channels=512,
        spatial_type='avg',
        # The paper: dropout 0.5 on small data sets, 0.2 on large ones; the
        # Something-Something and Kinetics configs set 0.2.
        dropout_ratio=0.5,
        init_std=0.01,
        average_clips='prob'),
    data_preprocessor=dict(
        type='ActionDataPreprocessor',
        mean=[123.675, 116.28, 103.53],
        std=[58.395, 57.12, 57.375],
        format_shape='NCTHW'),
    train_cfg=None,
    # All views of a batch at once (max_testing_views would need batches of
    # one video).
    test_cfg=None)
