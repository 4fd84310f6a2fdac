# TDS-CLIP with a frozen OpenAI CLIP ViT-L/14 and a 512-wide side network.
_base_ = ['./tdsclip_vit-b16.py']

model = dict(
    backbone=dict(arch='ViT-L-14'),
    neck=dict(clip_width=1024, num_layers=24, patch_size=14, side_width=512),
    cls_head=dict(in_channels=512))
