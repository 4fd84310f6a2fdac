# EVL on the built-in motion-only demo dataset, with the budget of the DiST
# demo (configs/demo/dist_tiny_demo.py): the same tiny frozen CLIP with random
# weights, data, batch, optimizer and 50 epochs; only the model differs.
# Run from the repository root:
#   python tools/make_demo_data.py data/demo
#   python tools/train.py projects/evl/configs/evl_tiny_demo.py
_base_ = ['../../../configs/demo/dist_tiny_demo.py']

custom_imports = dict(
    imports=['dist_plugin', 'dist_plugin_projects.evl'],
    allow_failed_imports=False)

# The DiST demo's CLIP: 2 blocks, width 64 (2 heads), 32x32 input with 4x4
# patches (8x8 grid).
tiny_clip = dict(
    embed_dim=32,
    vision_cfg=dict(
        image_size=32, layers=2, width=64, patch_size=4, head_width=32),
    text_cfg=dict(
        context_length=16, vocab_size=49408, width=32, heads=2, layers=1))
clip_len = 8  # every frame goes through CLIP in EVL

model = dict(
    _delete_=True,
    type='Recognizer3D',
    backbone=dict(
        type='CLIPVideoBackbone',
        arch=tiny_clip,
        frame_sampling='all',
        frozen=True,
        out_indices=[-2, -1],
        return_qk=True,
        image_head=False),
    neck=dict(
        type='EVLDecoder',
        in_channels=64,
        num_layers=2,
        num_frames=clip_len,
        grid_size=(8, 8),
        num_heads=2,
        qkv_dim=64,
        mlp_ratio=4.,
        mlp_dropout=0.5),
    cls_head=dict(
        type='EVLHead',
        num_classes=4,
        in_channels=64,
        dropout_ratio=0.5,
        average_clips='prob'),
    data_preprocessor=dict(
        type='ActionDataPreprocessor',
        mean=[122.771, 116.746, 104.094],
        std=[68.501, 66.632, 70.323],
        format_shape='NCTHW'))
