# EVL ViT-B/16, 32 frames x stride 8, Kinetics-400.
# Official (re-run, OpenGVLab/efficient-video-recognition README): 84.3 top-1 /
# 96.6 top-5, 3 crops x 1 clip.
_base_ = [
    './_base_/models/evl_vit-b16.py',
    './_base_/datasets/kinetics400_evl-32x8x1.py',
    './_base_/evl_runtime.py'
]

model = dict(neck=dict(num_frames=32), cls_head=dict(num_classes=400))
