# Runtime and schedule of the official EVL recipe (OpenGVLab/efficient-video-
# recognition, main.py defaults and scripts/train_*.sh).
_base_ = ['../../../../configs/_base_/default_runtime.py']

# Registers dist_plugin (shared CLIP backbone, upstream fixes, hooks) and the
# EVL components.
custom_imports = dict(
    imports=['dist_plugin', 'dist_plugin_projects.evl'],
    allow_failed_imports=False)

# 50,000 iterations of 256 clips (about 53 Kinetics-400 epochs), validated
# every 5,000.
max_iters = 50000
train_cfg = dict(
    type='IterBasedTrainLoop', max_iters=max_iters, val_interval=5000)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')

# AdamW lr 4e-4, weight decay 0.05 on every trainable parameter, default
# betas; only the decoder and head train (the CLIP backbone is frozen).
# Under `--amp` the frozen backbone and the decoder run in fp16 autocast, as
# the official fp16 training does.
optim_wrapper = dict(
    constructor='TrainableOnlyOptimWrapperConstructor',
    optimizer=dict(
        type='AdamW', lr=4e-4, betas=(0.9, 0.999), weight_decay=0.05))

# Cosine annealing to 0 over all iterations, stepped every iteration, no
# warm-up.
param_scheduler = [
    dict(
        type='CosineAnnealingLR',
        T_max=max_iters,
        eta_min=0.,
        by_epoch=False,
        begin=0,
        end=max_iters)
]

# The learning rate is for 8 GPUs x 32 clips; other batch sizes are scaled
# linearly with `--auto-scale-lr` (off by default, as in MMAction2).
auto_scale_lr = dict(enable=False, base_batch_size=256)

default_hooks = dict(
    checkpoint=dict(
        type='CheckpointHook', interval=5000, by_epoch=False,
        max_keep_ckpts=3, save_best='auto'),
    logger=dict(type='LoggerHook', interval=20, ignore_last=False))
log_processor = dict(by_epoch=False)

# custom_hooks come from the plugin's runtime: OfficialCheckpointHook lets
# load_from / test.py take official EVL checkpoints (module.decoder.*,
# module.proj.*) and converts them on the fly.

# The frozen CLIP runs under no_grad and every decoder/head parameter is
# used, so DDP needs no unused-parameter search.
model_wrapper_cfg = dict(
    type='MMDistributedDataParallel', find_unused_parameters=False)
