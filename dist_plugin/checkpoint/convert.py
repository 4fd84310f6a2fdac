"""Convert official DiST checkpoints to dist_plugin's state-dict layout.

Official layouts recognised (by their sentinel keys):

* CLIP-level keys (``visual.*``, ``transformer.*``, ``dist_net.*``...), as in
  the golden fixtures;
* released files ``{"model_state": {...}}`` with ``backbone.base_encoder.``
  prefixes;
* a ``module.`` prefix (saved from DDP);
* the older ``ladder_net.*`` names of the DiST branch.
"""
import re
from typing import Callable, Dict, List, Mapping, Optional, Tuple

from torch import Tensor

# Older names of the official DiST branch -> current official names.
LEGACY_RENAMES = (
    ('ladder_net.input_map_feat_nets.', 'dist_net.input_linears.'),
    ('ladder_net.s2t_fuse_nets.', 'dist_net.integration2temporal_nets.'),
    ('ladder_net.t2s_fuse_nets.', 'dist_net.temporal2integration_nets.'),
    ('ladder_net.spatial_nets.', 'dist_net.integration_nets.'),
    ('ladder_net.final_temporal_nets.', 'dist_net.adapooling_nets.'),
    ('ladder_net.', 'dist_net.'),
)

# Prefixes that wrap the CLIP-level names in saved files.
WRAPPER_PREFIXES = ('module.', 'model.', 'backbone.base_encoder.')

# Text-tower keys of the official CLIP (they go to the CLIP text head).
TEXT_KEYS = ('transformer.', 'token_embedding.', 'positional_embedding',
             'ln_final.', 'text_projection', 'logit_scale')

Reshape = Optional[Callable[[Tensor], Tensor]]


def _flatten_all(t: Tensor) -> Tensor:
    return t.reshape(-1)


def _to_tokens(t: Tensor) -> Tensor:
    """``[1, (1,) Ts, D]`` -> ``[Ts, D]``."""
    return t.reshape(-1, t.shape[-1])


def _conv1x1_to_linear(t: Tensor) -> Tensor:
    """Conv3d 1x1x1 weight ``[O, I, 1, 1, 1]`` -> Linear ``[O, I]``."""
    return t.flatten(1) if t.dim() == 5 else t


def _conv3d_t_to_conv1d(t: Tensor) -> Tensor:
    """Conv3d ``[O, I, k, 1, 1]`` -> Conv1d ``[O, I, k]``."""
    return t.flatten(2) if t.dim() == 5 else t


# (official regex, our template, reshape of the weight); the first match wins.
_DIST_RULES: List[Tuple[str, str, Reshape]] = [
    (r'proj', 'neck.proj', None),
    (r'aggregated_cls_token', 'neck.video_query', _flatten_all),
    (r'aggregated_spatial_cls_token', 'neck.frame_query', _flatten_all),
    (r'temporal_stem\.(weight|bias)', r'neck.temporal_encoder.stem.\1', None),
    (r'input_linears\.(\d+)\.(weight|bias)', r'neck.input_projs.\1.\2', None),
    (r'integration2temporal_nets\.(\d+)\.linear_fuse\.(weight|bias)',
     r'neck.i2t_links.\1.proj.\2', None),
    (r'temporal2integration_nets\.(\d+)\.cls_token',
     r'neck.t2i_links.\1.cls_token', _to_tokens),
    (r'temporal2integration_nets\.(\d+)\.linear_fuse\.(weight|bias)',
     r'neck.t2i_links.\1.proj.\2', None),
    (r'temporal_nets\.(\d+)\.temporal_net\.c_fc1\.(weight|bias)',
     r'neck.temporal_encoder.blocks.\1.conv_t.\2', None),
    (r'temporal_nets\.(\d+)\.temporal_net\.c_fc2\.(weight|bias)',
     r'neck.temporal_encoder.blocks.\1.conv_s.\2', None),
    (r'temporal_nets\.(\d+)\.ln\.(weight|bias)',
     r'neck.temporal_encoder.blocks.\1.norm.\2', None),
    (r'integration_nets\.(\d+)\.ffn\.c_fc\.(weight|bias)',
     r'neck.integration_blocks.\1.mlp.fc1.\2', None),
    (r'integration_nets\.(\d+)\.ffn\.c_proj\.(weight|bias)',
     r'neck.integration_blocks.\1.mlp.fc2.\2', None),
    (r'integration_nets\.(\d+)\.temporal_ffn\.c_fc1\.(weight|bias)',
     r'neck.integration_blocks.\1.temporal_fc1.\2', _conv1x1_to_linear),
    (r'integration_nets\.(\d+)\.temporal_ffn\.c_fc2\.(weight|bias)',
     r'neck.integration_blocks.\1.temporal_conv.\2', _conv3d_t_to_conv1d),
    (r'integration_nets\.(\d+)\.temporal_ffn\.c_proj\.(weight|bias)',
     r'neck.integration_blocks.\1.temporal_fc2.\2', _conv1x1_to_linear),
    (r'integration_nets\.(\d+)\.ln\.(weight|bias)',
     r'neck.integration_blocks.\1.norm.\2', None),
    (r'integration_nets\.(\d+)\.ln_temporal\.(weight|bias)',
     r'neck.integration_blocks.\1.temporal_norm.\2', None),
    (r'adapooling_nets\.(\d+)\.positional_embedding',
     r'neck.pooling_layers.\1.pos_embed', _to_tokens),
    (r'adapooling_nets\.(\d+)\.temporal_transformer\.attn\.(.+)',
     r'neck.pooling_layers.\1.temporal_attn.\2', None),
    (r'adapooling_nets\.(\d+)\.temporal_transformer\.ln_1\.(weight|bias)',
     r'neck.pooling_layers.\1.temporal_norm.\2', None),
    (r'adapooling_nets\.(\d+)\.output_map_cls_token\.c_fc\.(weight|bias)',
     r'neck.pooling_layers.\1.temporal_mlp.fc1.\2', None),
    (r'adapooling_nets\.(\d+)\.output_map_cls_token\.c_proj\.(weight|bias)',
     r'neck.pooling_layers.\1.temporal_mlp.fc2.\2', None),
    (r'adapooling_nets\.(\d+)\.ln_out_temp_cls_token\.(weight|bias)',
     r'neck.pooling_layers.\1.temporal_mlp_norm.\2', None),
    (r'adapooling_nets\.(\d+)\.spatial_transformer\.attn\.(.+)',
     r'neck.pooling_layers.\1.spatial_attn.\2', None),
    (r'adapooling_nets\.(\d+)\.spatial_transformer\.ln_1\.(weight|bias)',
     r'neck.pooling_layers.\1.spatial_norm.\2', None),
    (r'adapooling_nets\.(\d+)\.output_map_spatial_cls_token\.c_fc\.'
     r'(weight|bias)', r'neck.pooling_layers.\1.spatial_mlp.fc1.\2', None),
    (r'adapooling_nets\.(\d+)\.output_map_spatial_cls_token\.c_proj\.'
     r'(weight|bias)', r'neck.pooling_layers.\1.spatial_mlp.fc2.\2', None),
    (r'adapooling_nets\.(\d+)\.ln_out_spat_cls_token\.(weight|bias)',
     r'neck.pooling_layers.\1.spatial_mlp_norm.\2', None),
    (r'proj_spatial_cls_token\.(weight|bias)', r'neck.spatial_cls_proj.\1',
     None),
    (r'ln_post\.(weight|bias)', r'neck.ln_post.\1', None),
]
_DIST_RULES_COMPILED = [(re.compile(p + '$'), t, r) for p, t, r in _DIST_RULES]


def unwrap_official_checkpoint(obj: Mapping) -> Dict[str, Tensor]:
    """Return the CLIP-level state dict of any official checkpoint layout.

    Args:
        obj (Mapping): A loaded checkpoint: ``{"model_state": ...}``,
            ``{"state_dict": ...}``, ``{"model": ...}`` or a raw state dict.

    Returns:
        dict: Keys with wrapper prefixes removed and legacy names renamed.
    """
    for key in ('model_state', 'state_dict', 'model'):
        if key in obj and isinstance(obj[key], Mapping):
            obj = obj[key]
            break
    out = {}
    for name, value in obj.items():
        if not isinstance(value, Tensor):
            continue
        changed = True
        while changed:
            changed = False
            for prefix in WRAPPER_PREFIXES:
                if name.startswith(prefix):
                    name = name[len(prefix):]
                    changed = True
        for old, new in LEGACY_RENAMES:
            if name.startswith(old):
                name = new + name[len(old):]
                break
        out[name] = value
    return out


def is_official_layout(state_dict: Mapping) -> bool:
    """Whether ``state_dict`` (any wrapping) holds official DiST keys."""
    keys = unwrap_official_checkpoint(state_dict).keys()
    return any(k.startswith('dist_net.') for k in keys)


def convert_official_state_dict(
        checkpoint: Mapping) -> Tuple[Dict[str, Tensor], Dict[str, List[str]]]:
    """Convert an official DiST checkpoint to our recognizer's keys.

    Pure function: nothing is loaded or saved.

    Args:
        checkpoint (Mapping): Official checkpoint or state dict (any layout
            listed in the module docstring).

    Returns:
        tuple: ``(state_dict, report)``. ``report['unused']`` lists source
        keys no rule matched; ``report['dropped']`` lists official weights
        that never influence the output (the last integration-to-temporal
        link), which our model does not have.
    """
    source = unwrap_official_checkpoint(checkpoint)
    num_links = 1 + max(
        (int(m.group(1)) for k in source
         for m in [re.match(r'dist_net\.integration2temporal_nets\.(\d+)\.',
                            k)] if m),
        default=-1)
    converted: Dict[str, Tensor] = {}
    report: Dict[str, List[str]] = dict(unused=[], dropped=[])
    for name, value in source.items():
        if name.startswith('visual.'):
            converted['backbone.' + name] = value
        elif name.startswith(TEXT_KEYS):
            converted['cls_head.clip.' + name] = value
        elif name.startswith('dist_net.'):
            sub = name[len('dist_net.'):]
            link = re.match(r'integration2temporal_nets\.(\d+)\.', sub)
            if link and int(link.group(1)) == num_links - 1:
                report['dropped'].append(name)
                continue
            for pattern, template, reshape in _DIST_RULES_COMPILED:
                match = pattern.match(sub)
                if match:
                    converted[match.expand(template)] = (
                        reshape(value) if reshape else value)
                    break
            else:
                report['unused'].append(name)
        else:
            report['unused'].append(name)
    return converted, report
