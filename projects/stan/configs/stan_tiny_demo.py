# STAN on the motion-only demo dataset (same data, frames and budget as
# configs/demo/dist_tiny_demo.py: 50 epochs of 320 clips, batch 16). The
# tiny CLIP (2 layers, random weights) is fine-tuned with STAN (K = 2) on
# top. Run from the repository root:
#   python tools/make_demo_data.py data/demo
#   python tools/train.py projects/stan/configs/stan_tiny_demo.py
_base_ = [
    '../../../configs/demo/_demo_data.py', './_base_/stan_runtime.py'
]

tiny_clip = dict(
    embed_dim=32,
    vision_cfg=dict(
        image_size=32, layers=2, width=64, patch_size=4, head_width=32),
    text_cfg=dict(
        context_length=16, vocab_size=49408, width=32, heads=2, layers=1))

model = dict(
    type='STANRecognizer',
    backbone=dict(
        type='CLIPVideoBackbone',
        arch=tiny_clip,
        frame_sampling='all',
        frozen=False,
        out_indices=(-2, -1)),
    neck=dict(
        type='STANNeck', in_channels=64, num_layers=2, num_heads=2,
        time_module='selfattn'),
    # Random CLIP weights give meaningless class-name embeddings, so the demo
    # classifies with a linear head, like the other demo configs.
    cls_head=dict(
        type='DiSTLinearHead',
        num_classes=4,
        in_channels=32,
        average_clips='prob'),
    data_preprocessor=dict(
        type='ActionDataPreprocessor',
        mean=[122.771, 116.746, 104.093],
        std=[68.500, 66.632, 70.323],
        format_shape='NCTHW'))

train_cfg = dict(
    type='EpochBasedTrainLoop', max_epochs=50, val_begin=1, val_interval=10)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')

# CLIP at 5e-5, STAN and the new head at 10x (5e-4, DiST demo's lr).
optim_wrapper = dict(
    constructor='STANOptimWrapperConstructor',
    optimizer=dict(
        type='AdamW', lr=5e-5, betas=(0.9, 0.98), eps=1e-8,
        weight_decay=0.02),
    paramwise_cfg=dict(
        custom_keys={
            'neck': dict(lr_mult=10.),
            'cls_head': dict(lr_mult=10.)
        },
        norm_decay_mult=0.,
        bias_decay_mult=0.),
    clip_grad=dict(max_norm=5, norm_type=2))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.05, by_epoch=True, begin=0, end=1,
         convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', T_max=49, eta_min=1e-6, by_epoch=True,
         begin=1, end=50, convert_to_iter_based=True)
]

default_hooks = dict(
    checkpoint=dict(interval=10, max_keep_ckpts=1, save_best=None),
    logger=dict(interval=10))
randomness = dict(seed=0)
