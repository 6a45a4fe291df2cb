default_scope = 'mmaction'

default_hooks = dict(
    runtime_info=dict(type='RuntimeInfoHook'),
    timer=dict(type='IterTimerHook'),
    logger=dict(type='LoggerHook', interval=20, ignore_last=False),
    param_scheduler=dict(type='ParamSchedulerHook'),
    # Keeps the best and the last 3 epochs' checkpoints.
    checkpoint=dict(
        type='CheckpointHook', interval=1, max_keep_ckpts=3,
        save_best='auto'),
    sampler_seed=dict(type='DistSamplerSeedHook'),
    # csn_plugin's: random numbers drawn from (seed, epoch, iteration), so
    # that a resumed run trains exactly as an uninterrupted one.
    exact_resume=dict(type='ExactResumeHook'),
    sync_buffers=dict(type='SyncBuffersHook'),
    # Off unless a test tool's --show/--show-dir turns it on. csn_plugin's
    # version of MMAction2's VisualizationHook, which cannot draw the
    # multi-view inputs of 3D recognizers.
    visualization=dict(type='ClipVisualizationHook', enable=False))

env_cfg = dict(
    cudnn_benchmark=False,
    mp_cfg=dict(mp_start_method='fork', opencv_num_threads=0),
    # 'nccl' for GPUs; CPU-only runs (see the motion config) need 'gloo'.
    dist_cfg=dict(backend='nccl'))

log_processor = dict(type='LogProcessor', window_size=20, by_epoch=True)

vis_backends = [dict(type='LocalVisBackend')]
visualizer = dict(type='ActionVisualizer', vis_backends=vis_backends)

log_level = 'INFO'
load_from = None
resume = False
