# Shared part of the zero-shot configs: the Kinetics-400-trained DiST ViT-B/16
# (8+16 frames) classifies another class list without any training. Only the
# class list changes; the frozen CLIP text tower embeds the new names with a
# template ensemble, and the DiST logits are averaged 0.5 / 0.5 with the
# frozen-CLIP frame-average logits (as the official zero-shot evaluation).
# Test-only: run `python tools/test.py CONFIG CHECKPOINT` with the K400
# checkpoint (tools/download_checkpoint.py
# dist_vit-b16_clip-openai-pre_8xb32-u16-a2_36e_kinetics400-rgb).
_base_ = [
    '../dist/dist_vit-b16_clip-openai-pre_8xb32-u16-a2_36e_kinetics400-rgb.py'
]

# Prompt ensemble: the normalized text embeddings of all templates are
# averaged per class. '{}' (the bare name) is what DiST was trained with.
templates = [
    '{}',
    'a video of a person {}.',
    'a video of a person doing {}.',
    'a photo of a person {}.',
    'a video of {}.',
]
fusion_weight = 0.5

model = dict(
    neck=dict(with_frame_embedding=True),
    cls_head=dict(
        templates=templates, fusion_weight=fusion_weight,
        label_smooth_eps=0.),
    # Mixup / CutMix are training-only and sized for 400 classes.
    data_preprocessor=dict(blending=None))

# Nothing to train or validate.
train_dataloader = None
train_cfg = None
optim_wrapper = None
param_scheduler = None
auto_scale_lr = dict(enable=False, base_batch_size=256)
val_dataloader = None
val_cfg = None
val_evaluator = None
