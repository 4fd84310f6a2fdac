# Official TDS-CLIP schedule: AdamW (wd 0.15 on every trainable parameter),
# linear warm-up from 0 over 4 epochs, then cosine to 0; 8 GPUs x 16 videos
# x 2 repeated augmentations = 256 clips per step. Runtime as mmaction's.
_base_ = ['mmaction::_base_/default_runtime.py']

max_epochs = 30
warmup_epochs = 4
base_lr = 1e-3  # B/16; the L/14 configs use 1e-4

train_cfg = dict(
    type='EpochBasedTrainLoop', max_epochs=max_epochs, val_begin=1,
    val_interval=1)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')

# Frozen CLIP never reaches the optimizer. Use `tools/train.py --amp` for
# the official mixed precision.
optim_wrapper = dict(
    constructor='TrainableOnlyOptimWrapperConstructor',
    optimizer=dict(
        type='AdamW',
        lr=base_lr,
        betas=(0.9, 0.999),
        eps=1e-8,
        weight_decay=0.15))

param_scheduler = [
    dict(
        type='LinearLR',
        start_factor=1e-3,  # mmengine needs > 0; the official starts at 0
        end_factor=1.,
        by_epoch=True,
        begin=0,
        end=warmup_epochs,
        convert_to_iter_based=True),
    dict(
        type='CosineAnnealingLR',
        T_max=max_epochs - warmup_epochs,
        eta_min=0.,
        by_epoch=True,
        begin=warmup_epochs,
        end=max_epochs,
        convert_to_iter_based=True)
]

# base_batch_size counts videos per step (8 GPUs x 16); each video gives two
# augmented clips (RepeatAugDataset, num_repeats=2).
auto_scale_lr = dict(enable=True, base_batch_size=128)

default_hooks = dict(
    checkpoint=dict(
        type='CheckpointHook', interval=1, max_keep_ckpts=3,
        save_best='auto'),
    logger=dict(type='LoggerHook', interval=20, ignore_last=False))
# load_from / tools/test.py take official TDS-CLIP (and DiST) checkpoints and
# convert them on the fly.
custom_hooks = [dict(type='OfficialCheckpointHook')]

# BatchNorm statistics are per GPU, as in the official runs. For synchronised
# BatchNorm over all GPUs (mmengine converts every BatchNorm of the model):
# sync_bn = 'torch'
sync_bn = None

# CLIP is frozen under no_grad and every side parameter is used.
model_wrapper_cfg = dict(
    type='MMDistributedDataParallel', find_unused_parameters=False)
