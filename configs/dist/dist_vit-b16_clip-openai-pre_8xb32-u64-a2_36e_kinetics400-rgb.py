# DiST ViT-B/16, 32+64 frames (sparse to CLIP + dense to the temporal
# encoder), Kinetics-400. Official: 85.0 top-1 / 97.0 top-5 (3 clips x 1 crop).
_base_ = [
    '../_base_/models/dist_vit-b16.py',
    '../_base_/datasets/kinetics400_dist-u64.py',
    '../_base_/schedules/dist_adamw_cosine_36e.py',
    '../_base_/default_runtime.py'
]

model = dict(
    neck=dict(num_frames=32),
    cls_head=dict(num_classes=400, class_names='kinetics400'),
    data_preprocessor=dict(
        blending=dict(augments=[
            dict(type='MixupBlending', alpha=0.8, num_classes=400),
            dict(type='CutmixBlending', alpha=1., num_classes=400)
        ])))
