# TDS-CLIP, ViT-L/14, Kinetics-400: 8 segments x 5-frame windows,
# AdamW lr 1e-4, 30 epochs (4 warm-up + cosine),
# 8 GPUs x 16 videos x 2 repeated augmentations.
# Official config: configs/k400/k400_train_rgb_vitl-14-f8-side4video.yaml
_base_ = [
    './_base_/tdsclip_vit-l14.py', './_base_/kinetics400_tdsclip-8x5.py',
    './_base_/tdsclip_adamw_cosine_30e.py'
]

optim_wrapper = dict(optimizer=dict(lr=1e-4))
