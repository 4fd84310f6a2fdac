# STAN-self ViT-B/16, 8 frames, K = 4 STAN layers, Kinetics-400.
# Paper (Tables 4-5, 1 clip x 3 crops): 84.2 top-1 / 96.5 top-5,
# 593 GFLOPs. No official checkpoint is released.
_base_ = [
    './_base_/stan-self_vit-b16.py', './_base_/kinetics400_stan-u8.py',
    './_base_/stan_adamw_cosine_30e.py', './_base_/stan_runtime.py'
]

model = dict(
    backbone=dict(out_indices=(-4, -3, -2, -1)),
    neck=dict(num_layers=4, time_module='selfattn'),
    cls_head=dict(num_classes=400, class_names='kinetics400'))
