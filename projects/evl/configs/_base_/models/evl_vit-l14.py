# EVL with a frozen OpenAI CLIP ViT-L/14: a 4-layer decoder over the last 4
# blocks (width 1024, 16 heads), every frame through CLIP at 224 px.
num_frames = 8
model = dict(
    type='Recognizer3D',
    backbone=dict(
        type='CLIPVideoBackbone',
        arch='ViT-L-14',
        pretrained='openai',
        quick_gelu=True,
        frame_sampling='all',
        frozen=True,
        out_indices=[-4, -3, -2, -1],
        return_qk=True,  # for the temporal cross attention
        image_head=False),  # EVL never reads CLIP's ln_post / proj
    neck=dict(
        type='EVLDecoder',
        in_channels=1024,
        num_layers=4,
        num_frames=num_frames,
        grid_size=(16, 16),  # 224 / 14; sizes the relative tables (31 x 31)
        num_heads=16,
        qkv_dim=1024,
        mlp_ratio=4.,
        mlp_dropout=0.5),
    cls_head=dict(
        type='EVLHead',
        num_classes=400,
        in_channels=1024,
        dropout_ratio=0.5,
        average_clips='prob'),
    # OpenAI CLIP normalisation on 0-255 RGB
    data_preprocessor=dict(
        type='ActionDataPreprocessor',
        mean=[122.771, 116.746, 104.094],
        std=[68.501, 66.632, 70.323],
        format_shape='NCTHW'))
