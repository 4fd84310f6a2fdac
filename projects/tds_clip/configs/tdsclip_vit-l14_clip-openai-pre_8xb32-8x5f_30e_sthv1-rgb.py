# TDS-CLIP, ViT-L/14, Something-Something V1: 8 segments x 5-frame windows,
# AdamW lr 1e-4, 30 epochs (4 warm-up + cosine), 8 GPUs x 32 videos.
# Official config: configs/sthv1/sthv1_train_rgb_vitl-14-side4video.yaml
_base_ = [
    './_base_/tdsclip_vit-l14.py', './_base_/sthv1_tdsclip-8x5.py',
    './_base_/tdsclip_adamw_cosine_30e.py'
]

model = dict(cls_head=dict(num_classes=174))
optim_wrapper = dict(optimizer=dict(lr=1e-4))
# 32 distinct videos per GPU: 256 per step.
auto_scale_lr = dict(base_batch_size=256)
