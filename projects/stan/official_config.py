"""Model config from the official STAN hyperparameters (fixture layout)."""
from typing import Dict, Mapping


def official_clip_arch(config: Mapping) -> Dict:
    """open_clip model-config dict from HF ``vision`` / ``text`` configs."""
    vision, text = config['vision'], config['text']
    for tower, cfg in (('vision', vision), ('text', text)):
        if cfg.get('hidden_act', 'quick_gelu') != 'quick_gelu':
            raise ValueError(f'{tower}.hidden_act={cfg["hidden_act"]!r}: '
                             'only quick_gelu (OpenAI CLIP) is supported.')
    return dict(
        embed_dim=vision['projection_dim'],
        vision_cfg=dict(
            image_size=vision['image_size'],
            layers=vision['num_hidden_layers'],
            width=vision['hidden_size'],
            head_width=vision['hidden_size'] //
            vision['num_attention_heads'],
            mlp_ratio=vision['intermediate_size'] / vision['hidden_size'],
            patch_size=vision['patch_size']),
        text_cfg=dict(
            context_length=text['context_length'],
            vocab_size=text['vocab_size'],
            width=text['hidden_size'],
            heads=text['num_attention_heads'],
            layers=text['num_hidden_layers'],
            mlp_ratio=text['intermediate_size'] / text['hidden_size']))


def official_to_model_cfg(config: Mapping) -> Dict:
    """``STANRecognizer`` config equal to the official recognition model.

    Args:
        config (Mapping): The fixtures' ``case['config']``: HF ``vision``
            and ``text`` configs, ``visual_encoder`` (``depth``,
            ``time_module``), ``tau``, ``num_classes``, ``frozen_layers``
            and ``stan_time_embed_rows``.

    Returns:
        dict: A model config for ``MODELS.build``.
    """
    arch = official_clip_arch(config)
    encoder = config['visual_encoder']
    depth = int(encoder['depth'])
    vision = config['vision']
    return dict(
        type='STANRecognizer',
        backbone=dict(
            type='CLIPVideoBackbone',
            arch=arch,
            frame_sampling='all',
            frozen=bool(config.get('frozen_layers', False)),
            out_indices=tuple(range(-depth, 0))),
        neck=dict(
            type='STANNeck',
            in_channels=vision['hidden_size'],
            num_layers=depth,
            num_heads=vision['num_attention_heads'],
            time_module=encoder.get('time_module', 'selfattn'),
            max_frames=int(config.get('stan_time_embed_rows', 64)),
            mlp_ratio=vision['intermediate_size'] / vision['hidden_size']),
        cls_head=dict(
            type='CLIPTextHead',
            num_classes=int(config['num_classes']),
            in_channels=vision['projection_dim'],
            arch=arch,
            logit_scale=1. / float(config['tau']),
            average_clips=None),
        data_preprocessor=dict(
            type='ActionDataPreprocessor', format_shape='NCTHW'))
