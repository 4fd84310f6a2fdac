# STAN-self ViT-B/16, 8 frames, K = 6 STAN layers, Something-Something V2.
# Paper (Tables 4-5, 1 clip x 3 crops): 67.6 top-1 / 91.4 top-5,
# 688 GFLOPs. No official checkpoint is released.
_base_ = [
    './_base_/stan-self_vit-b16.py', './_base_/sthv2_stan-u8.py',
    './_base_/stan_adamw_cosine_30e.py', './_base_/stan_runtime.py'
]

model = dict(
    backbone=dict(out_indices=(-6, -5, -4, -3, -2, -1)),
    neck=dict(num_layers=6, time_module='selfattn'),
    cls_head=dict(num_classes=174, class_names='sthv2'))
