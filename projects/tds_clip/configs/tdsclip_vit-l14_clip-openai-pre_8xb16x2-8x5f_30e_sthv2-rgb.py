# TDS-CLIP, ViT-L/14, Something-Something V2: 8 segments x 5-frame windows,
# AdamW lr 1e-4, 30 epochs (4 warm-up + cosine),
# 8 GPUs x 16 videos x 2 repeated augmentations.
# Official config: configs/sthv2/sthv2_train_rgb_vitl-14-side4video.yaml
_base_ = [
    './_base_/tdsclip_vit-l14.py', './_base_/sthv2_tdsclip-8x5.py',
    './_base_/tdsclip_adamw_cosine_30e.py'
]

model = dict(cls_head=dict(num_classes=174))
optim_wrapper = dict(optimizer=dict(lr=1e-4))
