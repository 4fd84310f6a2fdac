"""Convert official TDS-CLIP checkpoints to the dist_plugin layout.

Official files (``train_vision.py``) are ``{'epoch', 'model_state_dict',
'optimizer_state_dict'}``; ``model_state_dict`` is the ``VideoCLIP`` state
dict: ``visual.*`` (frozen CLIP visual tower + side network, every side key
has ``side`` in its name) and ``fc.*``, with or without a ``module.`` prefix.
Target: ``Recognizer3D(backbone=CLIPVideoBackbone, neck=TDSCLIPSideNeck,
cls_head=TDSCLIPHead)`` from ``dist_plugin_projects.tds_clip``.
"""
import re
from typing import Dict, List, Mapping, Tuple

from torch import Tensor

# Keys only an official TDS-CLIP file has (the SME-Adapter and TD gate).
TDSCLIP_SENTINELS = (re.compile(r'visual\.side_conv1_c5\.'),
                     re.compile(r'visual\.transformer\.side_transformer\.'
                                r'\d+\.mse\.'))

# (official regex, our template); the first match wins.
_TDSCLIP_RULES: List[Tuple[str, str]] = [
    (r'visual\.(conv1\.weight|class_embedding|positional_embedding|'
     r'ln_pre\..+|transformer\.resblocks\..+)', r'backbone.visual.\1'),
    (r'visual\.transformer\.side_spatial_position_embeddings',
     'neck.pos_embed'),
    (r'visual\.transformer\.side_lns\.(\d+)\.(.+)', r'neck.clip_norms.\1.\2'),
    (r'visual\.transformer\.side_linears\.(\d+)\.(.+)',
     r'neck.clip_projs.\1.\2'),
    (r'visual\.transformer\.side_transformer\.(\d+)\.bn_1\.(.+)',
     r'neck.blocks.\1.td_adapter.norm.\2'),
    (r'visual\.transformer\.side_transformer\.(\d+)\.conv\.0\.(.+)',
     r'neck.blocks.\1.td_adapter.conv_in.\2'),
    (r'visual\.transformer\.side_transformer\.(\d+)\.conv\.1\.(.+)',
     r'neck.blocks.\1.td_adapter.conv_temporal.\2'),
    (r'visual\.transformer\.side_transformer\.(\d+)\.conv\.2\.(.+)',
     r'neck.blocks.\1.td_adapter.conv_out.\2'),
    (r'visual\.transformer\.side_transformer\.(\d+)\.mse\.conv1\.(.+)',
     r'neck.blocks.\1.td_adapter.gate_reduce.\2'),
    (r'visual\.transformer\.side_transformer\.(\d+)\.mse\.bn1\.(.+)',
     r'neck.blocks.\1.td_adapter.gate_reduce_norm.\2'),
    (r'visual\.transformer\.side_transformer\.(\d+)\.mse\.conv2\.(.+)',
     r'neck.blocks.\1.td_adapter.gate_expand.\2'),
    (r'visual\.transformer\.side_transformer\.(\d+)\.mse\.bn2\.(.+)',
     r'neck.blocks.\1.td_adapter.gate_expand_norm.\2'),
    (r'visual\.transformer\.side_transformer\.(\d+)\.ln_1\.(.+)',
     r'neck.blocks.\1.attn_norm.\2'),
    (r'visual\.transformer\.side_transformer\.(\d+)\.attn\.(.+)',
     r'neck.blocks.\1.attn.\2'),
    (r'visual\.transformer\.side_transformer\.(\d+)\.bn_2\.(.+)',
     r'neck.blocks.\1.mlp_norm.\2'),
    (r'visual\.transformer\.side_transformer\.(\d+)\.mlp\.(fc[12]\..+)',
     r'neck.blocks.\1.mlp.\2'),
    (r'visual\.side_conv1\.(.+)', r'neck.rgb_stem.conv.\1'),
    (r'visual\.side_pre_bn3d\.(.+)', r'neck.rgb_stem.norm.\1'),
    (r'visual\.side_conv1_c5\.(.+)', r'neck.sme_adapter.stem.conv.\1'),
    (r'visual\.side_pre_bn3d_c5\.(.+)', r'neck.sme_adapter.stem.norm.\1'),
    (r'visual\.side_post_bn\.(.+)', r'cls_head.norm.\1'),
    (r'fc\.(weight|bias)', r'cls_head.fc.\1'),
]
# Keys of our model that an official file never has: the official model drops
# CLIP's image head (``build_model`` loads non-strictly) and TDS-CLIP never
# reads it, so they keep the values of the backbone's ``pretrained`` CLIP.
TDSCLIP_KEYS_NOT_IN_OFFICIAL = ('backbone.visual.ln_post.weight',
                                'backbone.visual.ln_post.bias',
                                'backbone.visual.proj')

_TDSCLIP_RULES_COMPILED = [(re.compile(p + '$'), t)
                           for p, t in _TDSCLIP_RULES]


def unwrap_tdsclip_checkpoint(obj: Mapping) -> Dict[str, Tensor]:
    """The ``VideoCLIP`` state dict of an official file, ``module.`` removed.

    Args:
        obj (Mapping): ``{'model_state_dict': ...}``, ``{'state_dict': ...}``
            or a raw state dict.

    Returns:
        dict: Tensor entries with the official names.
    """
    for key in ('model_state_dict', 'state_dict', 'model'):
        if key in obj and isinstance(obj[key], Mapping):
            obj = obj[key]
            break
    out = {}
    for name, value in obj.items():
        if isinstance(value, Tensor):
            out[name[len('module.'):] if name.startswith('module.') else
                name] = value
    return out


def is_official_tdsclip_layout(obj: Mapping) -> bool:
    """Whether ``obj`` (any wrapping) holds official TDS-CLIP weights."""
    if not isinstance(obj, Mapping):
        return False
    return any(
        s.match(k) for k in unwrap_tdsclip_checkpoint(obj)
        for s in TDSCLIP_SENTINELS)


def convert_official_tdsclip_state_dict(
        checkpoint: Mapping) -> Tuple[Dict[str, Tensor], Dict[str, List[str]]]:
    """Convert an official TDS-CLIP checkpoint to our recognizer's keys.

    Pure function: nothing is loaded or saved.

    Args:
        checkpoint (Mapping): Official checkpoint or its state dict.

    Returns:
        tuple: ``(state_dict, report)``; ``report['unused']`` lists source
        keys no rule matched, ``report['dropped']`` is empty,
        ``report['kept_from_model']`` the model keys
        an official file never holds (:data:`TDSCLIP_KEYS_NOT_IN_OFFICIAL`).

    Raises:
        ValueError: If ``checkpoint`` is not an official TDS-CLIP file (for
            instance a DiST or EVL checkpoint).
    """
    source = unwrap_tdsclip_checkpoint(checkpoint)
    if not is_official_tdsclip_layout(source):
        other = ''
        if any(k.startswith('dist_net.') or k.startswith('ladder_net.')
               for k in source):
            other = ' It holds official DiST weights (dist_net.*).'
        elif any(k.startswith('decoder.') for k in source):
            other = ' It looks like an official EVL file (decoder.*).'
        raise ValueError(
            'Not an official TDS-CLIP checkpoint: no SME-Adapter '
            '(visual.side_conv1_c5.*) or TD-Adapter gate '
            '(visual.transformer.side_transformer.N.mse.*) weights.' + other)
    converted: Dict[str, Tensor] = {}
    report: Dict[str, List[str]] = dict(
        unused=[],
        dropped=[],
        kept_from_model=list(TDSCLIP_KEYS_NOT_IN_OFFICIAL))
    for name, value in source.items():
        for pattern, template in _TDSCLIP_RULES_COMPILED:
            match = pattern.match(name)
            if match:
                converted[match.expand(template)] = value
                break
        else:
            report['unused'].append(name)
    return converted, report


def tdsclip_official_to_model_cfg(config: Mapping) -> Dict:
    """Recognizer config of the official ``CLIP(...)`` / yaml values.

    Args:
        config (Mapping): ``image_resolution``, ``vision_patch_size``,
            ``vision_layers``, ``vision_width``, ``embed_dim``, the text-tower
            sizes, ``T``, ``side_dim``, ``num_diff`` and ``num_classes``
            (the official names, as in a golden fixture's ``case['config']``).

    Returns:
        dict: ``Recognizer3D`` config (random CLIP weights; load the
        converted checkpoint into it).
    """
    resolution = int(config['image_resolution'])
    patch = int(config['vision_patch_size'])
    width = int(config['vision_width'])
    layers = int(config['vision_layers'])
    window = int(config['num_diff'])
    arch = dict(
        embed_dim=int(config['embed_dim']),
        vision_cfg=dict(
            image_size=resolution,
            layers=layers,
            width=width,
            patch_size=patch,
            head_width=64),  # official: vision_width // 64 heads
        text_cfg=dict(
            context_length=int(config['context_length']),
            vocab_size=int(config['vocab_size']),
            width=int(config['transformer_width']),
            heads=int(config['transformer_heads']),
            layers=int(config['transformer_layers'])))
    return dict(
        type='Recognizer3D',
        backbone=dict(
            type='CLIPVideoBackbone',
            arch=arch,
            pretrained=None,
            quick_gelu=True,
            frame_sampling='window_center',
            window=window),
        neck=dict(
            type='TDSCLIPSideNeck',
            clip_width=width,
            num_layers=layers,
            patch_size=patch,
            input_resolution=resolution,
            side_width=int(config['side_dim']),
            window=window,
            num_segments=int(config['T'])),
        cls_head=dict(
            type='TDSCLIPHead',
            num_classes=int(config['num_classes']),
            in_channels=int(config['side_dim']),
            dropout_ratio=float(config.get('drop_fc', 0.))),
        data_preprocessor=dict(
            type='ActionDataPreprocessor', format_shape='NCTHW'))
