"""Map official EVL constructor arguments to a model config."""
import copy
from typing import Dict, Mapping, Optional, Union

#: Official backbone presets -> (open_clip name, input size, patch size).
OFFICIAL_PRESETS = {
    'ViT-B/16-lnpre': ('ViT-B-16', 224, 16),
    'ViT-L/14-lnpre': ('ViT-L-14', 224, 14),
}


def official_backbone_arch(config: Mapping) -> Dict:
    """open_clip model-config dict of an official ``VisionTransformer2D``
    preset (``feature_dim``, ``input_size``, ``patch_size``, ``num_heads``,
    ``num_layers``, ``mlp_factor``, ``ln_pre``)."""
    if not config.get('ln_pre', False):
        raise ValueError('EVL backbones without ln_pre are not CLIP towers; '
                         'only the *-lnpre presets are supported.')
    width = int(config['feature_dim'])
    size = config['input_size']
    patch = config['patch_size']
    size = int(size[0] if isinstance(size, (list, tuple)) else size)
    patch = int(patch[0] if isinstance(patch, (list, tuple)) else patch)
    return dict(
        embed_dim=width,  # the image head is not built (image_head=False)
        vision_cfg=dict(
            image_size=size,
            layers=int(config['num_layers']),
            width=width,
            patch_size=patch,
            head_width=width // int(config['num_heads']),
            mlp_ratio=float(config['mlp_factor'])),
        # open_clip always builds a text tower; EVL never runs it
        text_cfg=dict(
            context_length=2, vocab_size=2, width=64, heads=1, layers=1))


def official_to_model_cfg(config: Mapping,
                          pretrained: Optional[str] = None) -> Dict:
    """A ``Recognizer3D`` config from official ``EVLTransformer`` arguments.

    Args:
        config (Mapping): Official constructor arguments, as in a fixture's
            ``case['config']``: ``num_frames``, ``backbone_name`` (a preset
            of :data:`OFFICIAL_PRESETS`, or any name with the preset itself
            in ``backbone_preset``), ``backbone_mode``,
            ``decoder_num_layers``, ``decoder_qkv_dim``,
            ``decoder_num_heads``, ``decoder_mlp_factor``, ``num_classes``,
            ``enable_temporal_*``, ``cls_dropout``, ``decoder_mlp_dropout``.
        pretrained (str, optional): CLIP weights for the backbone.
            Defaults to None.

    Returns:
        dict: A model config for ``MODELS.build``.
    """
    name = config['backbone_name']
    arch: Union[str, Dict]
    if config.get('backbone_preset'):
        arch = official_backbone_arch(config['backbone_preset'])
        width = arch['vision_cfg']['width']
        size = arch['vision_cfg']['image_size']
        patch = arch['vision_cfg']['patch_size']
    elif name in OFFICIAL_PRESETS:
        arch, size, patch = OFFICIAL_PRESETS[name]
        width = 768 if arch == 'ViT-B-16' else 1024
    else:
        raise ValueError(f'Unknown EVL backbone {name!r}; known presets: '
                         f'{sorted(OFFICIAL_PRESETS)}')
    mode = config.get('backbone_mode', 'freeze_fp16')
    if mode not in ('freeze_fp16', 'freeze_fp32', 'finetune'):
        raise ValueError(f'Unknown backbone_mode {mode!r}')
    num_layers = int(config['decoder_num_layers'])
    tca = bool(config.get('enable_temporal_cross_attention', True))
    return dict(
        type='Recognizer3D',
        backbone=dict(
            type='CLIPVideoBackbone',
            arch=copy.deepcopy(arch),
            pretrained=pretrained,
            frame_sampling='all',
            frozen=mode != 'finetune',
            out_indices=list(range(-num_layers, 0)),
            return_qk=tca,
            image_head=False),  # EVL has no CLIP ln_post / proj
        neck=dict(
            type='EVLDecoder',
            in_channels=width,
            num_layers=num_layers,
            num_frames=int(config['num_frames']),
            grid_size=(size // patch, size // patch),
            num_heads=int(config['decoder_num_heads']),
            qkv_dim=int(config['decoder_qkv_dim']),
            mlp_ratio=float(config['decoder_mlp_factor']),
            mlp_dropout=float(config.get('decoder_mlp_dropout', 0.5)),
            temporal_conv=bool(config.get('enable_temporal_conv', True)),
            temporal_pos_embed=bool(
                config.get('enable_temporal_pos_embed', True)),
            temporal_cross_attention=tca),
        cls_head=dict(
            type='EVLHead',
            num_classes=int(config['num_classes']),
            in_channels=width,
            dropout_ratio=float(config.get('cls_dropout', 0.5)),
            average_clips='prob'),
        data_preprocessor=dict(
            type='ActionDataPreprocessor', format_shape='NCTHW'))
