# DiST on a frozen OpenAI CLIP ViT-L/14 (official hyperparameters).
_base_ = ['./dist_vit-b16.py']

clip_arch = 'ViT-L-14'
model = dict(
    backbone=dict(arch=clip_arch),
    neck=dict(
        in_channels=1024,
        embed_dim=768,
        num_layers=24,
        temporal_encoder=dict(patch_size=(5, 14, 14))),
    cls_head=dict(arch=clip_arch, in_channels=768))
