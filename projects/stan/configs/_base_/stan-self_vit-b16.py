# STAN-self on OpenAI CLIP ViT-B/16, fine-tuned (CLIP trains too).
model = dict(
    type='STANRecognizer',
    backbone=dict(
        type='CLIPVideoBackbone',
        arch='ViT-B-16',
        pretrained='openai',
        frame_sampling='all',  # every frame goes through CLIP
        frozen=False,  # CLIP is fine-tuned (official frozen_layers=False)
        grad_checkpointing=False,  # True: recompute CLIP blocks, less memory
        out_indices=(-4, -3, -2, -1)),  # the last K CLIP layers feed STAN
    neck=dict(
        type='STANNeck',
        in_channels=768,
        num_layers=4,  # K
        time_module='selfattn',
        max_frames=64,
        drop_path_rate=0.1,
        grad_checkpointing=False),
    cls_head=dict(
        type='CLIPTextHead',
        num_classes=400,
        in_channels=512,
        arch='ViT-B-16',
        pretrained='openai',
        class_names='kinetics400',
        logit_scale=100.,  # fixed 1 / tau, tau = 0.01
        average_clips='score'),
    data_preprocessor=dict(
        type='ActionDataPreprocessor',
        mean=[122.771, 116.746, 104.093],
        std=[68.500, 66.632, 70.323],
        format_shape='NCTHW'))
