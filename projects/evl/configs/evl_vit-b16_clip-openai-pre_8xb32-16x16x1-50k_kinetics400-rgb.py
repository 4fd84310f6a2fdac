# EVL ViT-B/16, 16 frames x stride 16, Kinetics-400.
# Official (re-run, OpenGVLab/efficient-video-recognition README): 83.7 top-1 /
# 96.2 top-5, 3 crops x 1 clip.
_base_ = [
    './_base_/models/evl_vit-b16.py',
    './_base_/datasets/kinetics400_evl-16x16x1.py',
    './_base_/evl_runtime.py'
]

model = dict(neck=dict(num_frames=16), cls_head=dict(num_classes=400))
