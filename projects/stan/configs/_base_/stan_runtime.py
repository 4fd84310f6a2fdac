_base_ = ['../../../../configs/_base_/default_runtime.py']

# Registers dist_plugin (backbone, text head, upstream fixes) and STAN.
custom_imports = dict(
    imports=['dist_plugin', 'dist_plugin_projects.stan'],
    allow_failed_imports=False)

default_hooks = dict(
    checkpoint=dict(
        type='CheckpointHook', interval=1, max_keep_ckpts=3,
        save_best='auto'),
    logger=dict(type='LoggerHook', interval=20, ignore_last=False))

# ParamGroupLrHook: logs CLIP's (group_base_lr) and STAN's (group_neck_lr)
# learning rates. OfficialCheckpointHook: load_from / tools/test.py accept
# official STAN state dicts and convert them on the fly.
# The others are the plugin runtime's (listed again: lists do not merge).
custom_hooks = [
    dict(type='SkipReportHook'),
    dict(type='ParamGroupLrHook'),
    dict(type='OfficialCheckpointHook'),
    dict(type='ResumeRandomnessHook'),
    dict(type='CheckpointKeysHook')
]

# Every trainable parameter is used (the text tower is frozen).
model_wrapper_cfg = dict(
    type='MMDistributedDataParallel', find_unused_parameters=False)
