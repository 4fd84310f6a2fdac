# TDS-CLIP, ViT-B/16, Something-Something V1: 8 segments x 5-frame windows,
# AdamW lr 1e-3, 40 epochs (4 warm-up + cosine), 8 GPUs x 32 videos.
# Official config: configs/sthv1/sthv1_train_rgb_vitb-16-side4video.yaml
_base_ = [
    './_base_/tdsclip_vit-b16.py', './_base_/sthv1_tdsclip-8x5.py',
    './_base_/tdsclip_adamw_cosine_30e.py'
]

model = dict(cls_head=dict(num_classes=174))
max_epochs = 40
warmup_epochs = 4
train_cfg = dict(max_epochs=max_epochs)
param_scheduler = [
    dict(
        type='LinearLR',
        start_factor=1e-3,
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
# 32 distinct videos per GPU: 256 per step.
auto_scale_lr = dict(base_batch_size=256)
