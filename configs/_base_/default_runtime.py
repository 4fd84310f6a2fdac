_base_ = ['mmaction::_base_/default_runtime.py']

# Registers DiST's components and the upstream fixes (see README).
custom_imports = dict(imports=['dist_plugin'], allow_failed_imports=False)

default_hooks = dict(
    checkpoint=dict(
        type='CheckpointHook', interval=1, max_keep_ckpts=3,
        save_best='auto'),
    logger=dict(type='LoggerHook', interval=20, ignore_last=False))

# SkipReportHook: unreadable videos are skipped during training
# (RobustVideoDataset); it reports how many, and which, every epoch.
# OfficialCheckpointHook: load_from / tools/test.py accept official DiST
# checkpoints and convert them on the fly.
# ResumeRandomnessHook: checkpoints carry the RNG states of every rank and
# dataloader workers are seeded resume-exactly, so `--resume` repeats the
# interrupted run bit for bit.
custom_hooks = [
    dict(type='SkipReportHook'),
    dict(type='OfficialCheckpointHook'),
    dict(type='ResumeRandomnessHook')
]

# Frozen CLIP runs under no_grad and every new parameter is used, so DDP
# needs no unused-parameter search.
model_wrapper_cfg = dict(
    type='MMDistributedDataParallel', find_unused_parameters=False)
