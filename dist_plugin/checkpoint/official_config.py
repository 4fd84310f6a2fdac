"""Map official DiST hyperparameters to a dist_plugin model config."""
from typing import Dict, Mapping, Optional


def official_clip_arch(clip_cfg: Mapping) -> Dict:
    """open_clip model-config dict from the official ``CLIP`` constructor
    arguments (``embed_dim``, ``image_resolution``, ``vision_*``,
    ``context_length``, ``vocab_size``, ``transformer_*``)."""
    vision_width = clip_cfg['vision_width']
    text_width = clip_cfg['transformer_width']
    return dict(
        embed_dim=clip_cfg['embed_dim'],
        vision_cfg=dict(
            image_size=clip_cfg['image_resolution'],
            layers=clip_cfg['vision_layers'],
            width=vision_width,
            patch_size=clip_cfg['vision_patch_size'],
            head_width=64),  # official: heads = width // 64
        text_cfg=dict(
            context_length=clip_cfg['context_length'],
            vocab_size=clip_cfg['vocab_size'],
            width=text_width,
            heads=clip_cfg.get('transformer_heads', text_width // 64),
            layers=clip_cfg['transformer_layers']))


def official_to_model_cfg(config: Mapping,
                          clip_arch: Optional[Dict] = None,
                          class_names: Optional[object] = None) -> Dict:
    """Build a ``Recognizer3D`` config from official hyperparameters.

    Args:
        config (Mapping): Official fields grouped like the fixtures'
            ``case['config']``: ``clip`` (CLIP ctor args), ``DATA``,
            ``VIDEO.BACKBONE.DIST`` and ``VIDEO.HEAD.NUM_CLASSES``.
        clip_arch (dict, optional): open_clip arch to use instead of
            ``config['clip']``. Defaults to None.
        class_names (optional): Passed to the text head. Defaults to None.

    Returns:
        dict: A model config for ``MODELS.build``.
    """
    dist = config['VIDEO.BACKBONE.DIST']
    data = config['DATA']
    arch = clip_arch or official_clip_arch(config['clip'])
    alpha = int(data['SPARSE_SAMPLE_ALPHA'])
    num_frames = int(data['NUM_INPUT_FRAMES'])
    if num_frames % alpha:
        raise ValueError(f'NUM_INPUT_FRAMES={num_frames} is not divisible by '
                         f'SPARSE_SAMPLE_ALPHA={alpha}')
    clip_width = arch['vision_cfg']['width']
    patch = arch['vision_cfg']['patch_size']
    if dist.get('S_PATCH_SIZE', patch) != patch:
        raise ValueError(f"S_PATCH_SIZE={dist['S_PATCH_SIZE']} must equal the "
                         f'CLIP patch size {patch}')
    layers = list(dist.get('SELECTED_LAYERS') or
                  range(arch['vision_cfg']['layers']))
    width = int(dist['INTEGRATION_DIM'])
    return dict(
        type='Recognizer3D',
        backbone=dict(type='FrozenCLIPViT', arch=arch, alpha=alpha),
        neck=dict(
            type='DiSTIntegrationNeck',
            in_channels=clip_width,
            embed_dim=arch['embed_dim'],
            num_layers=len(layers),
            selected_layers=layers,
            num_frames=num_frames // alpha,
            alpha=alpha,
            width=width,
            num_heads=max(width // 64, 1),
            temporal_encoder=dict(
                type='DiSTTemporalEncoder',
                width=int(dist['TEMPORAL_DIM']),
                patch_size=(int(dist['T_PATCH_SIZE']), patch, patch),
                kernel_size=int(dist['TEMPORAL_KERNEL_SIZE']),
                mlp_ratio=float(dist['TEMPORAL_CONV_MLP_RATIO'])),
            kernel_size=int(dist['TEMPORAL_KERNEL_SIZE']),
            mlp_ratio=float(dist['INTEGRATION_MLP_RATIO']),
            temporal_mlp_ratio=float(dist['INTEGRATION_TEMPORAL_MLP_RATIO']),
            num_pooling_layers=int(dist['ADA_POOLING_LAYERS'])),
        cls_head=dict(
            type='CLIPTextHead',
            num_classes=int(config['VIDEO.HEAD.NUM_CLASSES']),
            in_channels=arch['embed_dim'],
            arch=arch,
            class_names=class_names),
        data_preprocessor=dict(type='ActionDataPreprocessor',
                               format_shape='NCTHW'))
