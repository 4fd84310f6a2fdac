# DiST on a frozen OpenAI CLIP ViT-B/16 (official hyperparameters).
clip_arch = 'ViT-B-16'
clip_pretrained = 'openai'
alpha = 2  # CLIP sees every alpha-th of the dense frames

model = dict(
    type='Recognizer3D',
    backbone=dict(
        type='FrozenCLIPViT',
        arch=clip_arch,
        pretrained=clip_pretrained,
        alpha=alpha),
    neck=dict(
        type='DiSTIntegrationNeck',
        in_channels=768,
        embed_dim=512,
        num_layers=12,
        num_frames=8,  # sparse frames: clip_len / alpha
        alpha=alpha,
        width=384,
        temporal_encoder=dict(
            type='DiSTTemporalEncoder',
            width=96,
            patch_size=(5, 16, 16),
            kernel_size=3,
            mlp_ratio=1.),
        kernel_size=3,
        mlp_ratio=1.,
        temporal_mlp_ratio=0.25,
        num_pooling_layers=4),
    cls_head=dict(
        type='CLIPTextHead',
        num_classes=400,
        in_channels=512,
        arch=clip_arch,
        pretrained=clip_pretrained,
        class_names='kinetics400',
        label_smooth_eps=0.1,
        average_clips='prob'),
    data_preprocessor=dict(
        type='ActionDataPreprocessor',
        # OpenAI CLIP normalisation, in 0-255 pixel units.
        mean=[122.771, 116.746, 104.094],
        std=[68.501, 66.632, 70.323],
        format_shape='NCTHW',
        blending=dict(
            type='RandomBatchAugment',
            augments=[
                dict(type='MixupBlending', alpha=0.8, num_classes=400),
                dict(type='CutmixBlending', alpha=1., num_classes=400)
            ],
            probs=[0.5, 0.5])))
