# STAN fine-tuning: AdamW (0.9, 0.98), lr 2e-6 for CLIP and 2e-5 (x 10) for
# STAN (names under ``neck.``), weight decay 0.02 except on norms and
# biases, AMP, gradient clipping 5, batch 8 GPUs x 16 = 128. The paper gives
# no epoch count or warm-up for recognition; 30 epochs with a 5-epoch linear
# warm-up from 0.05x (the official retrieval warm-up factor) are our choice.
max_epochs = 30
warmup_epochs = 5

train_cfg = dict(
    type='EpochBasedTrainLoop', max_epochs=max_epochs, val_begin=1,
    val_interval=1)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')

optim_wrapper = dict(
    type='AmpOptimWrapper',
    constructor='STANOptimWrapperConstructor',
    optimizer=dict(
        type='AdamW', lr=2e-6, betas=(0.9, 0.98), eps=1e-8,
        weight_decay=0.02),
    paramwise_cfg=dict(
        custom_keys={'neck': dict(lr_mult=10.)},
        norm_decay_mult=0.,
        bias_decay_mult=0.),
    clip_grad=dict(max_norm=5, norm_type=2))

param_scheduler = [
    dict(
        type='LinearLR',
        start_factor=0.05,
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

auto_scale_lr = dict(enable=False, base_batch_size=128)
