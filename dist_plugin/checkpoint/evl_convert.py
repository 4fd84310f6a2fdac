"""Convert official EVL checkpoints to the layout of ``projects/evl``.

Official layouts recognised (by the sentinel ``decoder.decoder_layers.``):

* released files ``{'model': {...}, 'optimizer': ..., 'lr_sched': ...,
  'loss_scaler': ..., 'next_step': ...}`` (or only the model state) with the
  ``module.`` prefix of the DDP-wrapped model: ``module.decoder.*`` and
  ``module.proj.*``, no CLIP weights (they come from the OpenAI file);
* the same keys without ``module.``, optionally with the backbone
  (``backbone.*``, official ``VisionTransformer2D`` names; the
  ``finetune``-mode layout), as in the golden fixtures.

The EVL model is ``Recognizer3D`` with a ``CLIPVideoBackbone``, an
``EVLDecoder`` neck and an ``EVLHead``.
"""
import re
from typing import Dict, List, Mapping, Tuple

import torch
from torch import Tensor

#: Key that only official EVL checkpoints hold (after unwrapping).
EVL_SENTINEL = 'decoder.decoder_layers.'

# (official regex, our template); the first match wins.
_EVL_RULES: List[Tuple[str, str]] = [
    (r'decoder\.cls_token', 'neck.query'),
    (r'decoder\.decoder_layers\.(\d+)\.attn\.(q|k|v|out)_proj\.(weight|bias)',
     r'neck.layers.\1.\2_proj.\3'),
    (r'decoder\.decoder_layers\.(\d+)\.mlp\.(fc1|fc2)\.(weight|bias)',
     r'neck.layers.\1.mlp.\2.\3'),
    (r'decoder\.decoder_layers\.(\d+)\.norm1\.(weight|bias)',
     r'neck.layers.\1.norm_query.\2'),
    (r'decoder\.decoder_layers\.(\d+)\.norm2\.(weight|bias)',
     r'neck.layers.\1.norm_mlp.\2'),
    (r'decoder\.decoder_layers\.(\d+)\.norm3\.(weight|bias)',
     r'neck.layers.\1.norm_memory.\2'),
    (r'decoder\.temporal_conv\.(\d+)\.(weight|bias)',
     r'neck.temporal_convs.\1.\2'),
    (r'decoder\.temporal_pos_embed\.(\d+)', r'neck.temporal_pos_embeds.\1'),
    (r'decoder\.cross_attention\.(\d+)\.w1', r'neck.cross_attentions.\1.w_prev'),
    (r'decoder\.cross_attention\.(\d+)\.w2', r'neck.cross_attentions.\1.w_next'),
    (r'proj\.0\.(weight|bias)', r'cls_head.norm.\1'),
    (r'proj\.2\.(weight|bias)', r'cls_head.fc_cls.\1'),
    # official backbone (VisionTransformer2D) -> open_clip visual tower
    (r'backbone\.cls_token', 'backbone.visual.class_embedding'),
    (r'backbone\.pos_embed', 'backbone.visual.positional_embedding'),
    (r'backbone\.ln_pre\.(weight|bias)', r'backbone.visual.ln_pre.\1'),
    (r'backbone\.blocks\.(\d+)\.attn\.out_proj\.(weight|bias)',
     r'backbone.visual.transformer.resblocks.\1.attn.out_proj.\2'),
    (r'backbone\.blocks\.(\d+)\.mlp\.fc1\.(weight|bias)',
     r'backbone.visual.transformer.resblocks.\1.mlp.c_fc.\2'),
    (r'backbone\.blocks\.(\d+)\.mlp\.fc2\.(weight|bias)',
     r'backbone.visual.transformer.resblocks.\1.mlp.c_proj.\2'),
    (r'backbone\.blocks\.(\d+)\.norm1\.(weight|bias)',
     r'backbone.visual.transformer.resblocks.\1.ln_1.\2'),
    (r'backbone\.blocks\.(\d+)\.norm2\.(weight|bias)',
     r'backbone.visual.transformer.resblocks.\1.ln_2.\2'),
]
_EVL_RULES_COMPILED = [(re.compile(p + '$'), t) for p, t in _EVL_RULES]
_QKV = re.compile(r'backbone\.blocks\.(\d+)\.attn\.(q|k|v)_proj\.(weight|bias)$')


def unwrap_evl_checkpoint(obj: Mapping) -> Dict[str, Tensor]:
    """The model state of an EVL checkpoint, without ``module.``.

    Args:
        obj (Mapping): A loaded checkpoint (``{'model': ...}`` with or
            without optimizer state, ``{'state_dict': ...}``) or a state
            dict.

    Returns:
        dict: Tensor entries with the DDP prefix removed.
    """
    for key in ('model', 'state_dict', 'model_state'):
        if key in obj and isinstance(obj[key], Mapping):
            obj = obj[key]
            break
    out = {}
    for name, value in obj.items():
        if isinstance(value, Tensor):
            out[name[len('module.'):] if name.startswith('module.') else
                name] = value
    return out


def is_evl_layout(checkpoint: Mapping) -> bool:
    """Whether ``checkpoint`` (any wrapping) holds official EVL keys."""
    return any(
        k.startswith(EVL_SENTINEL) for k in unwrap_evl_checkpoint(checkpoint))


def convert_evl_state_dict(
        checkpoint: Mapping) -> Tuple[Dict[str, Tensor], Dict[str, List[str]]]:
    """Convert an official EVL checkpoint to our recognizer's keys.

    Pure function: nothing is loaded or saved.

    Args:
        checkpoint (Mapping): Official checkpoint or state dict (any layout
            listed in the module docstring).

    Returns:
        tuple: ``(state_dict, report)``. ``report['unused']`` lists source
        keys no rule matched; ``report['dropped']`` lists official weights
        our model has no place for because they are constant (the patch
        embedding bias, which the official converter writes as zeros).
    """
    source = unwrap_evl_checkpoint(checkpoint)
    converted: Dict[str, Tensor] = {}
    report: Dict[str, List[str]] = dict(unused=[], dropped=[])
    qkv: Dict[Tuple[str, str], Dict[str, Tensor]] = {}
    for name, value in source.items():
        match = _QKV.match(name)
        if match:
            block, part, kind = match.groups()
            qkv.setdefault((block, kind), {})[part] = value
            continue
        if name == 'backbone.patch_embed.proj.weight':
            # [D, 3*P*P] over (channel, y, x) -> conv1 [D, 3, P, P]
            patch = int(round((value.shape[1] // 3)**0.5))
            converted['backbone.visual.conv1.weight'] = value.reshape(
                value.shape[0], 3, patch, patch)
            continue
        if name == 'backbone.patch_embed.proj.bias':
            if torch.count_nonzero(value):
                raise ValueError(
                    'backbone.patch_embed.proj.bias is not zero; CLIP patch '
                    'embeddings have no bias, so this is not a CLIP-based '
                    'EVL checkpoint.')
            report['dropped'].append(name)
            continue
        for pattern, template in _EVL_RULES_COMPILED:
            found = pattern.match(name)
            if found:
                converted[found.expand(template)] = value
                break
        else:
            report['unused'].append(name)
    for (block, kind), parts in sorted(qkv.items()):
        if set(parts) != {'q', 'k', 'v'}:
            raise ValueError(
                f'backbone.blocks.{block}.attn has {sorted(parts)} '
                f'projections ({kind}); q, k and v are all needed.')
        converted[f'backbone.visual.transformer.resblocks.{block}.attn.'
                  f'in_proj_{kind}'] = torch.cat(
                      [parts['q'], parts['k'], parts['v']], dim=0)
    return converted, report
