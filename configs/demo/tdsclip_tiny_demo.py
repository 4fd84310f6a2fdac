# TDS-CLIP on the motion-only demo dataset: the same frozen tiny CLIP (random
# weights), data, schedule and budget as dist_tiny_demo.py; a 64-wide side
# network. Each view: 4 segments x 5-frame windows (CLIP sees the 4 centre
# frames, as DiST's CLIP sees 4 of its 8 frames).
# Run: DEMO_CONFIG=configs/demo/tdsclip_tiny_demo.py bash tools/demo.sh
_base_ = ['./dist_tiny_demo.py']

custom_imports = dict(
    imports=['dist_plugin', 'dist_plugin_projects.tds_clip'],
    allow_failed_imports=False)

num_segments = 4
window = 5
side_width = 64

model = dict(
    backbone=dict(
        _delete_=True,
        type='CLIPVideoBackbone',
        arch={{_base_.tiny_clip}},
        frame_sampling='window_center',
        window=window),
    neck=dict(
        _delete_=True,
        type='TDSCLIPSideNeck',
        clip_width=64,
        num_layers=2,
        patch_size=4,
        input_resolution=32,
        side_width=side_width,
        window=window,
        num_segments=num_segments),
    cls_head=dict(
        _delete_=True,
        type='TDSCLIPHead',
        num_classes=4,
        in_channels=side_width,
        average_clips='prob'))

sampler = dict(type='WindowSampleFrames', num_segments=num_segments,
               window=window)
train_pipeline = [
    dict(type='DecordInit', io_backend='disk'),
    sampler,
    dict(type='DecordDecode'),
    dict(type='Resize', scale=(32, 32), keep_ratio=False),
    dict(type='FormatShape', input_format='NCTHW'),
    dict(type='PackActionInputs')
]
val_pipeline = [
    dict(type='DecordInit', io_backend='disk'),
    dict(**sampler, test_mode=True),
    dict(type='DecordDecode'),
    dict(type='Resize', scale=(32, 32), keep_ratio=False),
    dict(type='FormatShape', input_format='NCTHW'),
    dict(type='PackActionInputs')
]
test_pipeline = [
    dict(type='DecordInit', io_backend='disk'),
    dict(**sampler, num_clips=3, test_mode=True),
    dict(type='DecordDecode'),
    dict(type='Resize', scale=(32, 32), keep_ratio=False),
    dict(type='FormatShape', input_format='NCTHW'),
    dict(type='PackActionInputs')
]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(pipeline=val_pipeline))
test_dataloader = dict(dataset=dict(pipeline=test_pipeline))
