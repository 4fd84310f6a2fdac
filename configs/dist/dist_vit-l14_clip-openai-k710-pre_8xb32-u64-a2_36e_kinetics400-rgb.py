# DiST ViT-L/14, 32+64 frames (sparse to CLIP + dense to the temporal
# encoder), Kinetics-400. Official: 89.6 top-1 / 98.4 top-5 (3 clips x 1 crop).
# Trained first on Kinetics-710, then fine-tuned on Kinetics-400: set
# load_from to your Kinetics-710-trained DiST ViT-L/14 (the official zoo
# publishes only the final K400 model of this row; see configs/dist/metafile.yml).
_base_ = [
    '../_base_/models/dist_vit-l14.py',
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

load_from = 'work_dirs/checkpoints/dist_vit-l14_k710_u64.pth'
