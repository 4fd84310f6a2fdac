"""Shared pieces of the TDS-CLIP tests: fixture inputs and tiny configs."""
import copy
from typing import Dict, Optional

import torch

# open_clip keys the official TDS-CLIP model does not have (its build_model
# drops them; TDS-CLIP never uses the CLIP image embedding).
ABSENT_FROM_OFFICIAL = ('backbone.visual.ln_post.weight',
                        'backbone.visual.ln_post.bias', 'backbone.visual.proj')

TINY_TDSCLIP_CLIP = dict(
    embed_dim=32,
    vision_cfg=dict(
        image_size=32, layers=2, width=64, patch_size=16, head_width=32),
    text_cfg=dict(
        context_length=16, vocab_size=49408, width=32, heads=2, layers=1))


def case_clip(case: dict) -> torch.Tensor:
    """The fixture's ``images`` ``[B*T*w, 3, H, W]`` (row ``(b*T + t)*w +
    m``) as the mmaction clip batch ``[B, 3, T*w, H, W]``."""
    cfg = case['config']
    frames_per_clip = int(cfg['T']) * int(cfg['num_diff'])
    images = case['images']
    clip = images.view(-1, frames_per_clip, *images.shape[1:])
    return clip.permute(0, 2, 1, 3, 4)


def tiny_tdsclip_model(num_classes: int = 4,
                       num_segments: int = 4,
                       window: int = 5,
                       side_width: int = 64,
                       arch: Optional[Dict] = None) -> Dict:
    """Recognizer3D config of a tiny TDS-CLIP (random weights)."""
    arch = copy.deepcopy(arch or TINY_TDSCLIP_CLIP)
    vision = arch['vision_cfg']
    return dict(
        type='Recognizer3D',
        backbone=dict(
            type='CLIPVideoBackbone',
            arch=arch,
            frame_sampling='window_center',
            window=window),
        neck=dict(
            type='TDSCLIPSideNeck',
            clip_width=vision['width'],
            num_layers=vision['layers'],
            patch_size=vision['patch_size'],
            input_resolution=vision['image_size'],
            side_width=side_width,
            window=window,
            num_segments=num_segments),
        cls_head=dict(
            type='TDSCLIPHead',
            num_classes=num_classes,
            in_channels=side_width,
            label_smooth_eps=0.1),
        data_preprocessor=dict(
            type='ActionDataPreprocessor', format_shape='NCTHW'))
