# EVL ViT-B/16, 8 frames x stride 16, Kinetics-400.
# Official (re-run, OpenGVLab/efficient-video-recognition README): 82.8 top-1 /
# 95.8 top-5, 1 crop x 3 clips.
_base_ = [
    './_base_/models/evl_vit-b16.py',
    './_base_/datasets/kinetics400_evl-8x16x1.py',
    './_base_/evl_runtime.py'
]

model = dict(neck=dict(num_frames=8), cls_head=dict(num_classes=400))
