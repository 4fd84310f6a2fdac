# Runtime of every dist_plugin config. The values of mmaction2's own
# `_base_/default_runtime.py` are written out here instead of inherited with
# `mmaction::`: mmengine 0.10.7 resolves `pkg::` bases with pkg_resources,
# which setuptools >= 82 no longer ships, and MMAction2's tools read the
# config before anything of dist_plugin is imported (see README, "MMAction2's
# own tools").
default_scope = 'mmaction'

# Registers DiST's components and the upstream fixes (see README).
custom_imports = dict(imports=['dist_plugin'], allow_failed_imports=False)

default_hooks = dict(
    runtime_info=dict(type='RuntimeInfoHook'),
    timer=dict(type='IterTimerHook'),
    logger=dict(type='LoggerHook', interval=20, ignore_last=False),
    param_scheduler=dict(type='ParamSchedulerHook'),
    checkpoint=dict(
        type='CheckpointHook', interval=1, max_keep_ckpts=3,
        save_best='auto'),
    sampler_seed=dict(type='DistSamplerSeedHook'),
    sync_buffers=dict(type='SyncBuffersHook'))

# SkipReportHook: unreadable videos are skipped during training
# (RobustVideoDataset); it reports how many, and which, every epoch.
# OfficialCheckpointHook: load_from / test.py accept official DiST
# checkpoints and convert them on the fly.
# ResumeRandomnessHook: checkpoints carry the RNG states of every rank and
# dataloader workers are seeded resume-exactly, so `--resume` repeats the
# interrupted run bit for bit.
# CheckpointKeysHook: testing a checkpoint that lacks weights of trainable
# modules is an error naming them; keys the model does not have are a
# warning naming them.
custom_hooks = [
    dict(type='SkipReportHook'),
    dict(type='OfficialCheckpointHook'),
    dict(type='ResumeRandomnessHook'),
    dict(type='CheckpointKeysHook')
]

env_cfg = dict(
    cudnn_benchmark=False,
    mp_cfg=dict(mp_start_method='fork', opencv_num_threads=0),
    dist_cfg=dict(backend='nccl'))

log_processor = dict(type='LogProcessor', window_size=20, by_epoch=True)

vis_backends = [dict(type='LocalVisBackend')]
visualizer = dict(type='ActionVisualizer', vis_backends=vis_backends)

log_level = 'INFO'
load_from = None
resume = False

# Frozen CLIP runs under no_grad and every new parameter is used, so DDP
# needs no unused-parameter search.
model_wrapper_cfg = dict(
    type='MMDistributedDataParallel', find_unused_parameters=False)
