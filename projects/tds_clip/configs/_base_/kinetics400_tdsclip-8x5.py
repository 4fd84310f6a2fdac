# Kinetics-400 videos for TDS-CLIP: 8 segments, a 5-frame window around one
# frame of each (40 frames per view, time index t * 5 + m), 224x224.
# Training repeats each video twice with independent sampling and
# augmentation (RepeatAugDataset), as the official num_sample = 2.
dataset_type = 'RepeatAugDataset'
data_root = 'data/kinetics400/videos_train'
data_root_val = 'data/kinetics400/videos_val'
ann_file_train = 'data/kinetics400/kinetics400_train_list_videos.txt'
ann_file_val = 'data/kinetics400/kinetics400_val_list_videos.txt'
ann_file_test = 'data/kinetics400/kinetics400_val_list_videos.txt'
num_classes = 400

file_client_args = dict(io_backend='disk')
train_pipeline = [
    dict(type='DecordInit', **file_client_args),
    dict(type='WindowSampleFrames', num_segments=8, window=5),
    dict(type='DecordDecode'),
    dict(type='Resize', scale=(-1, 256), interpolation='bicubic'),
    dict(
        type='RandomResizedCrop',
        area_range=(0.08, 1.0),
        aspect_ratio_range=(0.75, 1.333)),
    dict(type='Resize', scale=(224, 224), keep_ratio=False),
    dict(type='Flip', flip_ratio=0.5),
    dict(type='RandomGrayscale', prob=0.2),
    dict(type='FormatShape', input_format='NCTHW'),
    dict(type='PackActionInputs')
]
# Validation: one view, the first frame of each segment ('linspace').
val_pipeline = [
    dict(type='DecordInit', **file_client_args),
    dict(
        type='WindowSampleFrames',
        num_segments=8,
        window=5,
        num_clips=1,
        test_mode=True,
        test_positions='linspace'),
    dict(type='DecordDecode'),
    dict(type='Resize', scale=(-1, 256), interpolation='bicubic'),
    dict(type='CenterCrop', crop_size=224),
    dict(type='FormatShape', input_format='NCTHW'),
    dict(type='PackActionInputs')
]
# Test: 4 clips x 3 crops, softmax scores averaged.
test_pipeline = [
    dict(type='DecordInit', **file_client_args),
    dict(
        type='WindowSampleFrames',
        num_segments=8,
        window=5,
        num_clips=4,
        test_mode=True,
        test_positions='linspace'),
    dict(type='DecordDecode'),
    dict(type='Resize', scale=(-1, 256), interpolation='bicubic'),
    dict(type='ThreeCrop', crop_size=224),
    dict(type='FormatShape', input_format='NCTHW'),
    dict(type='PackActionInputs')
]

train_dataloader = dict(
    batch_size=16,  # videos per GPU; x2 repeats = 32 clips
    num_workers=8,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    collate_fn=dict(type='repeat_pseudo_collate'),
    dataset=dict(
        type=dataset_type,
        ann_file=ann_file_train,
        data_prefix=dict(video=data_root),
        num_repeats=2,
        pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=16,
    num_workers=8,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type='VideoDataset',
        ann_file=ann_file_val,
        data_prefix=dict(video=data_root_val),
        pipeline=val_pipeline,
        test_mode=True))
test_dataloader = dict(
    batch_size=1,
    num_workers=8,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type='VideoDataset',
        ann_file=ann_file_test,
        data_prefix=dict(video=data_root_val),
        pipeline=test_pipeline,
        test_mode=True))

val_evaluator = dict(type='AccMetric')
test_evaluator = val_evaluator
