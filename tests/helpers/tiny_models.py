"""Tiny DiST configs with random weights for fast CPU tests."""
import copy
from typing import Dict, Optional, Sequence, Union

# A 2-layer CLIP: 32x32 input, patch 16 (2x2 grid), width 64, embedding 32.
# The text vocabulary is CLIP's (49408) so real class names tokenize.
TINY_CLIP = dict(
    embed_dim=32,
    vision_cfg=dict(
        image_size=32, layers=2, width=64, patch_size=16, head_width=32),
    text_cfg=dict(
        context_length=16, vocab_size=49408, width=32, heads=2, layers=1))


def tiny_dist_model(num_classes: int = 3,
                    clip_len: int = 8,
                    alpha: int = 2,
                    class_names: Optional[Union[str, Sequence[str]]] = None,
                    num_pooling_layers: int = 2,
                    arch: Optional[Dict] = None,
                    pretrained: Optional[str] = None) -> Dict:
    """Recognizer3D config of a tiny DiST."""
    arch = copy.deepcopy(arch or TINY_CLIP)
    if class_names is None:
        class_names = [f'class {i}' for i in range(num_classes)]
    return dict(
        type='Recognizer3D',
        backbone=dict(
            type='FrozenCLIPViT', arch=arch, pretrained=pretrained,
            alpha=alpha),
        neck=dict(
            type='DiSTIntegrationNeck',
            in_channels=arch['vision_cfg']['width'],
            embed_dim=arch['embed_dim'],
            num_layers=arch['vision_cfg']['layers'],
            num_frames=clip_len // alpha,
            alpha=alpha,
            width=64,
            temporal_encoder=dict(
                type='DiSTTemporalEncoder',
                width=16,
                patch_size=(3, arch['vision_cfg']['patch_size'],
                            arch['vision_cfg']['patch_size'])),
            num_pooling_layers=num_pooling_layers),
        cls_head=dict(
            type='CLIPTextHead',
            num_classes=num_classes,
            in_channels=arch['embed_dim'],
            arch=arch,
            pretrained=pretrained,
            class_names=class_names,
            average_clips='prob'),
        data_preprocessor=dict(
            type='ActionDataPreprocessor', format_shape='NCTHW'))
