# Official DiST schedule: AdamW, 6 warm-up + 30 cosine epochs, batch 256.
max_epochs = 36
warmup_epochs = 6
base_lr = 3.2e-4  # 3.2e-5 x 10 for the new modules (the only trainable ones)
min_lr = 8e-8

train_cfg = dict(
    type='EpochBasedTrainLoop', max_epochs=max_epochs, val_begin=1,
    val_interval=1)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')

optim_wrapper = dict(
    constructor='TrainableOnlyOptimWrapperConstructor',
    optimizer=dict(
        type='AdamW', lr=base_lr, betas=(0.9, 0.999), weight_decay=1e-4))

param_scheduler = [
    dict(
        type='LinearLR',
        start_factor=min_lr / base_lr,
        end_factor=1.,
        by_epoch=True,
        begin=0,
        end=warmup_epochs,
        convert_to_iter_based=True),
    dict(
        type='CosineAnnealingLR',
        T_max=max_epochs - warmup_epochs,
        eta_min=min_lr,
        by_epoch=True,
        begin=warmup_epochs,
        end=max_epochs,
        convert_to_iter_based=True)
]

# The learning rate above is for 8 GPUs x 32 clips (batch 256). MMAction2's
# convention: nothing is rescaled unless asked; pass `--auto-scale-lr` to
# train.py when your total batch (GPUs x samples per GPU) is not 256, and
# mmengine scales the learning rate linearly to it.
auto_scale_lr = dict(enable=False, base_batch_size=256)
