# Something-Something V1 JPEG frames for TDS-CLIP (mmaction's rawframe
# layout). Same sampling and augmentation as SSv2; labels in the official
# class order (lists/sth_labels.csv, the SSv2 label map's order), so the
# flip swaps the same pairs. mmaction's RepeatAugDataset reads videos only:
# here each step takes 32 distinct videos per GPU instead of 16 x 2 repeats
# (the same 256 clips per step).
_base_ = ['./sthv2_tdsclip-8x5.py']

dataset_type = 'RawframeDataset'
data_root = 'data/sthv1/rawframes'
data_root_val = 'data/sthv1/rawframes'
ann_file_train = 'data/sthv1/sthv1_train_list_rawframes.txt'
ann_file_val = 'data/sthv1/sthv1_val_list_rawframes.txt'
ann_file_test = 'data/sthv1/sthv1_val_list_rawframes.txt'

file_client_args = dict(io_backend='disk')
train_pipeline = [
    dict(type='WindowSampleFrames', num_segments=8, window=5),
    dict(type='RawFrameDecode', **file_client_args),
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
val_pipeline = [
    dict(
        type='WindowSampleFrames',
        num_segments=8,
        window=5,
        num_clips=1,
        test_mode=True),
    dict(type='RawFrameDecode', **file_client_args),
    dict(type='Resize', scale=(320, 256), keep_ratio=False),
    dict(type='CenterCrop', crop_size=224),
    dict(type='FormatShape', input_format='NCTHW'),
    dict(type='PackActionInputs')
]
test_pipeline = [
    dict(
        type='WindowSampleFrames',
        num_segments=8,
        window=5,
        num_clips=2,
        test_mode=True),
    dict(type='RawFrameDecode', **file_client_args),
    dict(type='Resize', scale=(320, 256), keep_ratio=False),
    dict(type='ThreeCrop', crop_size=224),
    dict(type='FormatShape', input_format='NCTHW'),
    dict(type='PackActionInputs')
]

train_dataloader = dict(
    batch_size=32,
    collate_fn=dict(_delete_=True, type='pseudo_collate'),
    dataset=dict(
        _delete_=True,
        type=dataset_type,
        ann_file=ann_file_train,
        data_prefix=dict(img=data_root),
        filename_tmpl='{:05}.jpg',
        pipeline=train_pipeline))
val_dataloader = dict(
    dataset=dict(
        _delete_=True,
        type=dataset_type,
        ann_file=ann_file_val,
        data_prefix=dict(img=data_root_val),
        filename_tmpl='{:05}.jpg',
        pipeline=val_pipeline,
        test_mode=True))
test_dataloader = dict(
    dataset=dict(
        _delete_=True,
        type=dataset_type,
        ann_file=ann_file_test,
        data_prefix=dict(img=data_root_val),
        filename_tmpl='{:05}.jpg',
        pipeline=test_pipeline,
        test_mode=True))
