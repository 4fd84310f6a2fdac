# DiST swapped into mmaction2's own I3D Kinetics-400 experiment. Everything
# the experiment defines (annotation files, data roots, dataset type,
# augmentation, batch size, schedule, hooks) is inherited; only the model,
# the optimizer, the clip length and the crop size change.
_base_ = [
    'mmaction::recognition/i3d/'
    'i3d_imagenet-pretrained-r50_8xb8-32x2x1-100e_kinetics400-rgb.py'
]

# Registers DiST's components. (mmengine 0.10.7 resolves the `mmaction::`
# base above with pkg_resources, hence dist_plugin's `setuptools<82`
# requirement: MMAction2's tools read this file before importing anything.)
custom_imports = dict(imports=['dist_plugin'], allow_failed_imports=False)

# Official DiST checkpoints convert on the fly; testing a checkpoint that
# lacks trainable weights of this model is an error naming them; checkpoints
# carry every rank's RNG states so `--resume` is exact.
custom_hooks = [
    dict(type='OfficialCheckpointHook'),
    dict(type='CheckpointKeysHook'),
    dict(type='ResumeRandomnessHook')
]

# DiST constraints: CLIP sees every alpha-th of the clip_len dense frames,
# and the crop is a whole number of CLIP patches (224 = 14 x 16).
clip_arch = 'ViT-B-16'
clip_pretrained = 'openai'
alpha = 2
patch_size = 16
clip_len = 32  # I3D's 32x2x1 clips: 16 frames for CLIP, 32 for the encoder
crop_size = 224
assert clip_len % alpha == 0 and crop_size % patch_size == 0

model = dict(
    _delete_=True,  # drop the I3D ResNet and its head entirely
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
        num_frames=clip_len // alpha,
        alpha=alpha,
        width=384,
        temporal_encoder=dict(
            type='DiSTTemporalEncoder',
            width=96,
            patch_size=(5, patch_size, patch_size),
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
        # CLIP's normalisation (not ImageNet's): the CLIP tower is frozen.
        mean=[122.771, 116.746, 104.094],
        std=[68.501, 66.632, 70.323],
        format_shape='NCTHW'),
    # I3D tests 10 clips x 3 crops; run them through the model 10 at a time.
    test_cfg=dict(max_testing_views=10))

# The experiment's pipelines with DiST's clip length and crop size; every
# other step is kept (mmengine's `_base_.` reference syntax; functions are
# not part of the final config).
def dist_step(step):
    """One pipeline step with DiST's clip length and crop size."""
    if step.type == 'SampleFrames':
        return dict(step, clip_len=clip_len)
    if step.type in ('CenterCrop', 'ThreeCrop'):  # I3D tests on 256 crops
        return dict(step, crop_size=crop_size)
    if step.type == 'MultiScaleCrop':
        return dict(step, input_size=crop_size)
    if step.type == 'Resize' and step.get('keep_ratio', True) is False:
        return dict(step, scale=(crop_size, crop_size))
    return step


train_pipeline = [dist_step(step) for step in _base_.train_pipeline]
val_pipeline = [dist_step(step) for step in _base_.val_pipeline]
test_pipeline = [dist_step(step) for step in _base_.test_pipeline]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(pipeline=val_pipeline))
test_dataloader = dict(dataset=dict(pipeline=test_pipeline))

# Only the new modules train (CLIP never reaches the optimizer). AdamW at
# DiST's rate (3.2e-4 for batch 256) scaled to I3D's batch of 8 x 8 replaces
# I3D's SGD; the experiment's gradient clipping and schedule stay.
optim_wrapper = dict(
    constructor='TrainableOnlyOptimWrapperConstructor',
    optimizer=dict(
        _delete_=True,
        type='AdamW',
        lr=8e-5,
        betas=(0.9, 0.999),
        weight_decay=1e-4))
