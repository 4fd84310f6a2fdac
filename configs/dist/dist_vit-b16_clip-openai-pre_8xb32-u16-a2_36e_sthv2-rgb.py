# DiST ViT-B/16, 8+16 frames (sparse to CLIP + dense to the temporal
# encoder), Something-Something V2. Official: 68.7 top-1 / 91.1 top-5 (3 clips x 1 crop).
_base_ = [
    '../_base_/models/dist_vit-b16.py',
    '../_base_/datasets/sthv2_dist-u16.py',
    '../_base_/schedules/dist_adamw_cosine_36e.py',
    '../_base_/default_runtime.py'
]

model = dict(
    neck=dict(num_frames=8),
    cls_head=dict(num_classes=174, class_names='sthv2'),
    data_preprocessor=dict(
        blending=dict(augments=[
            dict(type='MixupBlending', alpha=0.8, num_classes=174),
            dict(type='CutmixBlending', alpha=1., num_classes=174)
        ])))
