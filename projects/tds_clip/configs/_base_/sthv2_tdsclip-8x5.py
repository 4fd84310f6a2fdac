# Something-Something V2 videos for TDS-CLIP: 8 segments x 5-frame windows,
# frames resized to 256x320 (H x W), RandAugment, flips that swap the
# left/right classes (86<->87, 93<->94, 166<->167).
_base_ = ['./kinetics400_tdsclip-8x5.py']

data_root = 'data/sthv2/videos'
data_root_val = 'data/sthv2/videos'
ann_file_train = 'data/sthv2/sthv2_train_list_videos.txt'
ann_file_val = 'data/sthv2/sthv2_val_list_videos.txt'
ann_file_test = 'data/sthv2/sthv2_val_list_videos.txt'
num_classes = 174

file_client_args = dict(io_backend='disk')
train_pipeline = [
    dict(type='DecordInit', **file_client_args),
    dict(type='WindowSampleFrames', num_segments=8, window=5),
    dict(type='DecordDecode'),
    dict(type='Resize', scale=(320, 256), keep_ratio=False),
    dict(type='ClipRandAugment', config_str='rand-m7-n4-mstd0.5-inc1'),
    dict(
        type='RandomResizedCrop',
        area_range=(0.08, 1.0),
        aspect_ratio_range=(0.75, 1.333)),
    dict(type='Resize', scale=(224, 224), keep_ratio=False),
    dict(type='FlipWithLabelSwap', class_names='sthv2', flip_ratio=0.5),
    dict(type='FormatShape', input_format='NCTHW'),
    dict(type='PackActionInputs')
]
# Validation: one view, the middle frame of each segment.
val_pipeline = [
    dict(type='DecordInit', **file_client_args),
    dict(
        type='WindowSampleFrames',
        num_segments=8,
        window=5,
        num_clips=1,
        test_mode=True),
    dict(type='DecordDecode'),
    dict(type='Resize', scale=(320, 256), keep_ratio=False),
    dict(type='CenterCrop', crop_size=224),
    dict(type='FormatShape', input_format='NCTHW'),
    dict(type='PackActionInputs')
]
# Test: 2 clips (at 1/3 and 2/3 of each segment) x 3 crops.
test_pipeline = [
    dict(type='DecordInit', **file_client_args),
    dict(
        type='WindowSampleFrames',
        num_segments=8,
        window=5,
        num_clips=2,
        test_mode=True),
    dict(type='DecordDecode'),
    dict(type='Resize', scale=(320, 256), keep_ratio=False),
    dict(type='ThreeCrop', crop_size=224),
    dict(type='FormatShape', input_format='NCTHW'),
    dict(type='PackActionInputs')
]

train_dataloader = dict(
    dataset=dict(
        ann_file=ann_file_train,
        data_prefix=dict(video=data_root),
        pipeline=train_pipeline))
val_dataloader = dict(
    dataset=dict(
        ann_file=ann_file_val,
        data_prefix=dict(video=data_root_val),
        pipeline=val_pipeline))
test_dataloader = dict(
    dataset=dict(
        ann_file=ann_file_test,
        data_prefix=dict(video=data_root_val),
        pipeline=test_pipeline))
