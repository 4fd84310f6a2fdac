"""Tiny STAN configs with random weights for fast CPU tests."""
import copy
from typing import Dict, Optional

from .tiny_models import TINY_CLIP


def tiny_stan_model(num_classes: int = 3,
                    num_layers: int = 2,
                    time_module: str = 'selfattn',
                    max_frames: int = 64,
                    arch: Optional[Dict] = None,
                    frozen: bool = False) -> Dict:
    """``STANRecognizer`` config on the 2-layer tiny CLIP."""
    arch = copy.deepcopy(arch or TINY_CLIP)
    width = arch['vision_cfg']['width']
    return dict(
        type='STANRecognizer',
        backbone=dict(
            type='CLIPVideoBackbone',
            arch=arch,
            frame_sampling='all',
            frozen=frozen,
            out_indices=tuple(range(-num_layers, 0))),
        neck=dict(
            type='STANNeck',
            in_channels=width,
            num_layers=num_layers,
            num_heads=width // arch['vision_cfg']['head_width'],
            time_module=time_module,
            max_frames=max_frames),
        cls_head=dict(
            type='CLIPTextHead',
            num_classes=num_classes,
            in_channels=arch['embed_dim'],
            arch=arch,
            class_names=[f'class {i}' for i in range(num_classes)],
            logit_scale=100.,
            average_clips='prob'),
        data_preprocessor=dict(
            type='ActionDataPreprocessor', format_shape='NCTHW'))
