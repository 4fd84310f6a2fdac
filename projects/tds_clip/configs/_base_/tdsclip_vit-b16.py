# TDS-CLIP with a frozen OpenAI CLIP ViT-B/16 and a 320-wide side network,
# 8 segments x 5-frame windows (the official B/16 model).
custom_imports = dict(
    imports=['dist_plugin', 'dist_plugin_projects.tds_clip'],
    allow_failed_imports=False)

num_segments = 8  # T: windows per clip; CLIP sees the centre of each
window = 5  # w: frames per window (the SME-Adapter reads their differences)

model = dict(
    type='Recognizer3D',
    backbone=dict(
        type='CLIPVideoBackbone',
        arch='ViT-B-16',
        pretrained='openai',
        frame_sampling='window_center',
        window=window),
    neck=dict(
        type='TDSCLIPSideNeck',
        clip_width=768,
        num_layers=12,
        patch_size=16,
        input_resolution=224,
        side_width=320,
        window=window,
        num_segments=num_segments),
    cls_head=dict(
        type='TDSCLIPHead',
        num_classes=400,
        in_channels=320,
        dropout_ratio=0.,
        label_smooth_eps=0.1,
        average_clips='prob'),
    data_preprocessor=dict(
        type='ActionDataPreprocessor',
        mean=[122.771, 116.746, 104.094],
        std=[68.501, 66.632, 70.323],
        format_shape='NCTHW'))
