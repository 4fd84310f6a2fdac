"""Convert official STAN checkpoints (``farewellthree/STAN``) to our keys.

Official layout: the ``CLIPSimilarity_split`` state dict, i.e. Hugging Face
``transformers`` CLIP names under ``backbone.`` (vision) and
``text_backbone.`` (text), plus the STAN branch ``backbone.STAN_S_layers``,
``backbone.STAN_T_layers`` and ``backbone.STAN_time_embed`` (the CVPR
release called them ``timesFPN_*`` and also saved two unused tensors,
``timesFPN_pos_embed`` and ``timesFPN_cls_token``, which are dropped).
Wrappers ``{"state_dict": ...}`` / ``{"model": ...}`` and a ``module.``
prefix are accepted.

Our layout: ``backbone.visual.*`` (open_clip names), ``neck.s_layers.*``,
``neck.t_layers.*``, ``neck.time_embed.weight`` and the text tower under
``text_prefix`` (``cls_head.clip.`` for :class:`CLIPTextHead`).
"""
import math
import re
from typing import Dict, List, Mapping, Optional, Tuple

import torch
from torch import Tensor

_STAN_MARKERS = ('STAN_', 'timesFPN_')
_UNUSED_LEGACY = ('timesFPN_pos_embed', 'timesFPN_cls_token')

# HF CLIP encoder-layer names -> open_clip ResidualAttentionBlock names.
_LAYER_RULES = (
    (r'self_attn\.out_proj\.(weight|bias)', r'attn.out_proj.\1'),
    (r'layer_norm1\.(weight|bias)', r'ln_1.\1'),
    (r'layer_norm2\.(weight|bias)', r'ln_2.\1'),
    (r'mlp\.fc1\.(weight|bias)', r'mlp.c_fc.\1'),
    (r'mlp\.fc2\.(weight|bias)', r'mlp.c_proj.\1'),
    (r'temporal_fc\.(weight|bias)', r'temporal_fc.\1'),
    (r'layers\.(weight|bias)', r'conv.\1'),  # STAN-conv Conv3d
)
_QKV = re.compile(r'(.*)self_attn\.(q|k|v)_proj\.(weight|bias)$')


def _strip(obj: Mapping) -> Dict[str, Tensor]:
    for key in ('state_dict', 'model', 'model_state'):
        if key in obj and isinstance(obj[key], Mapping):
            obj = obj[key]
            break
    out = {}
    for name, value in obj.items():
        if isinstance(value, Tensor):
            while name.startswith('module.'):
                name = name[len('module.'):]
            out[name] = value
    return out


def is_official_stan_layout(checkpoint: Mapping) -> bool:
    """Whether ``checkpoint`` (any wrapping) is an official STAN state dict."""
    return any(
        k.startswith('backbone.') and any(m in k for m in _STAN_MARKERS)
        for k in _strip(checkpoint))


def _foreign_method(keys) -> Optional[str]:
    for key in keys:
        if 'dist_net.' in key:
            return 'DiST'
    return None


def _layer_key(sub: str) -> Optional[str]:
    for pattern, template in _LAYER_RULES:
        match = re.fullmatch(pattern, sub)
        if match:
            return match.expand(template)
    return None


def convert_official_stan_state_dict(
        checkpoint: Mapping,
        text_prefix: str = 'cls_head.clip.',
        text_context_length: Optional[int] = None,
        tau: float = 0.01) -> Tuple[Dict[str, Tensor], Dict[str, List[str]]]:
    """Convert an official STAN checkpoint to our recognizer's keys.

    Pure function: nothing is loaded or saved.

    Args:
        checkpoint (Mapping): Official state dict (any wrapping above).
        text_prefix (str): Where the text tower goes. Defaults to
            ``'cls_head.clip.'`` (:class:`CLIPTextHead`).
        text_context_length (int, optional): Keep only the first rows of the
            text position table (the official code uses the first 32 of the
            HF table). Defaults to None (all rows).
        tau (float): Temperature; ``log(1 / tau)`` fills open_clip's
            ``logit_scale`` (official STAN has no such parameter).
            Defaults to 0.01.

    Returns:
        tuple: ``(state_dict, report)``; ``report['unused']`` lists keys no
        rule matched, ``report['dropped']`` the CVPR release's unused
        tensors.
    """
    source = _strip(checkpoint)
    if not is_official_stan_layout(source):
        method = _foreign_method(source)
        what = (f'an official {method} checkpoint' if method else
                'not an official STAN checkpoint (no backbone.STAN_* or '
                'backbone.timesFPN_* keys)')
        raise ValueError(
            f'This is {what}; the STAN converter only reads the official '
            f'CLIPSimilarity_split state dict of farewellthree/STAN. Use the '
            f'matching model config for another method.')
    out: Dict[str, Tensor] = {}
    report: Dict[str, List[str]] = dict(unused=[], dropped=[])
    qkv: Dict[Tuple[str, str], Dict[str, Tensor]] = {}

    def put_layer(ours: str, sub: str, name: str, value: Tensor) -> None:
        match = _QKV.match(sub)
        if match:
            qkv.setdefault((ours + match.group(1) + 'attn.in_proj_',
                            match.group(3)), {})[match.group(2)] = value
            return
        key = _layer_key(sub)
        if key is None:
            report['unused'].append(name)
        else:
            out[ours + key] = value

    for name, value in source.items():
        sub = name
        sub = sub.replace('backbone.timesFPN_', 'backbone.STAN_')
        if any(name.endswith(u) or u + '.' in name for u in _UNUSED_LEGACY):
            report['dropped'].append(name)
            continue
        match = re.match(r'backbone\.layers\.(\d+)\.(.+)$', sub)
        if match:
            put_layer(f'backbone.visual.transformer.resblocks.{match[1]}.',
                      match[2], name, value)
            continue
        match = re.match(r'backbone\.STAN_S_layers\.(\d+)\.(.+)$', sub)
        if match:
            put_layer(f'neck.s_layers.{match[1]}.', match[2], name, value)
            continue
        match = re.match(r'backbone\.STAN_T_layers\.(\d+)\.(.+)$', sub)
        if match:
            put_layer(f'neck.t_layers.{match[1]}.', match[2], name, value)
            continue
        match = re.match(r'text_backbone\.text_model\.encoder\.layers\.(\d+)'
                         r'\.(.+)$', sub)
        if match:
            put_layer(f'{text_prefix}transformer.resblocks.{match[1]}.',
                      match[2], name, value)
            continue
        simple = {
            'backbone.class_embedding': 'backbone.visual.class_embedding',
            'backbone.patch_embedding.weight': 'backbone.visual.conv1.weight',
            'backbone.position_embedding.weight':
            'backbone.visual.positional_embedding',
            'backbone.pre_layrnorm.weight': 'backbone.visual.ln_pre.weight',
            'backbone.pre_layrnorm.bias': 'backbone.visual.ln_pre.bias',
            'backbone.post_layernorm.weight': 'backbone.visual.ln_post.weight',
            'backbone.post_layernorm.bias': 'backbone.visual.ln_post.bias',
            'backbone.STAN_time_embed.weight': 'neck.time_embed.weight',
            'text_backbone.text_model.embeddings.token_embedding.weight':
            text_prefix + 'token_embedding.weight',
            'text_backbone.text_model.final_layer_norm.weight':
            text_prefix + 'ln_final.weight',
            'text_backbone.text_model.final_layer_norm.bias':
            text_prefix + 'ln_final.bias',
        }
        if sub in simple:
            out[simple[sub]] = value
        elif sub == 'backbone.visual_projection.weight':
            out['backbone.visual.proj'] = value.t().contiguous()
        elif sub == 'text_backbone.text_projection.weight':
            out[text_prefix + 'text_projection'] = value.t().contiguous()
        elif sub == ('text_backbone.text_model.embeddings.'
                     'position_embedding.weight'):
            out[text_prefix + 'positional_embedding'] = (
                value[:text_context_length].contiguous()
                if text_context_length else value)
        else:
            report['unused'].append(name)
    for (prefix, kind), parts in qkv.items():
        if set(parts) != {'q', 'k', 'v'}:
            raise ValueError(f'{prefix}{kind}: the official checkpoint lacks '
                             f'{sorted({"q", "k", "v"} - set(parts))}_proj.')
        out[prefix + kind] = torch.cat([parts['q'], parts['k'], parts['v']])
    if any(k.startswith(text_prefix) for k in out):
        ref = out.get(text_prefix + 'token_embedding.weight')
        dtype = ref.dtype if ref is not None else torch.float32
        out[text_prefix + 'logit_scale'] = torch.tensor(
            math.log(1. / tau), dtype=dtype)
    return out, report
