# DiST ViT-L/14, 32+64 frames (sparse to CLIP + dense to the temporal
# encoder), Something-Something V2. Official: 73.1 top-1 / 93.2 top-5 (3 clips x 1 crop).
_base_ = [
    '../_base_/models/dist_vit-l14.py',
    '../_base_/datasets/sthv2_dist-u64.py',
    '../_base_/schedules/dist_adamw_cosine_36e.py',
    '../_base_/default_runtime.py'
]

model = dict(
    neck=dict(num_frames=32),
    cls_head=dict(num_classes=174, class_names='sthv2'),
    data_preprocessor=dict(
        blending=dict(augments=[
            dict(type='MixupBlending', alpha=0.8, num_classes=174),
            dict(type='CutmixBlending', alpha=1., num_classes=174)
        ])))
