"""Build open_clip CLIP models from an architecture name or dict and load weights.

Weights may come from an open_clip pretrained tag, a local state-dict file
(``.pt``/``.pth``/``.bin``/``.safetensors``) or an OpenAI TorchScript archive.
Nothing is unpickled without ``weights_only=True``; TorchScript archives are
read as data (:mod:`dist_plugin.models.torchscript_weights`), their code is
never run.
"""
import copy
import os
import os.path as osp
import zipfile
from typing import Dict, Optional, Union

import open_clip
import torch
from mmengine.logging import print_log
from open_clip.model import resize_pos_embed

from dist_plugin.upstream_fixes.safe_checkpoint import safe_torch_load
from .torchscript_weights import read_torchscript_state_dict

ArchType = Union[str, Dict]

# Keys of OpenAI TorchScript archives that are not parameters.
_OPENAI_META_KEYS = ('input_resolution', 'context_length', 'vocab_size')


def get_clip_config(arch: ArchType,
                    image_size: Optional[int] = None) -> Dict:
    """Return an open_clip model-config dict for ``arch``.

    Args:
        arch (str | dict): An open_clip model name (e.g. ``'ViT-B-16'``) or a
            model-config dict with ``embed_dim``, ``vision_cfg`` and
            ``text_cfg``.
        image_size (int, optional): Override the input resolution of the
            vision tower. Defaults to None.

    Returns:
        dict: A deep copy of the config.
    """
    if isinstance(arch, str):
        cfg = open_clip.get_model_config(arch)
        if cfg is None:
            raise ValueError(
                f'Unknown open_clip architecture {arch!r}. Use one of '
                f'open_clip.list_models() or pass a model-config dict.')
    elif isinstance(arch, dict):
        cfg = arch
    else:
        raise TypeError(f'arch must be a str or a dict, got {type(arch)}')
    cfg = copy.deepcopy(dict(cfg))
    for key in ('embed_dim', 'vision_cfg', 'text_cfg'):
        if key not in cfg:
            raise ValueError(f'CLIP config {arch!r} has no {key!r}')
    vision_cfg = dict(cfg['vision_cfg'])
    if 'timm_model_name' in vision_cfg and vision_cfg['timm_model_name']:
        raise ValueError(f'{arch!r} is a timm tower; DiST needs an open_clip '
                         'VisionTransformer (a ViT architecture).')
    if image_size is not None:
        vision_cfg['image_size'] = image_size
    cfg['vision_cfg'] = vision_cfg
    return cfg


def _is_torchscript_archive(path: str) -> bool:
    """Whether ``path`` is a TorchScript archive (zip with a ``code/`` dir)."""
    if not zipfile.is_zipfile(path):
        return False
    with zipfile.ZipFile(path) as zf:
        return any('/code/' in name or name.startswith('code/')
                   for name in zf.namelist())


def load_clip_state_dict(path: str) -> Dict[str, torch.Tensor]:
    """Read CLIP weights from a local file without unpickling code.

    Args:
        path (str): A ``.safetensors`` file, an OpenAI TorchScript archive, or
            a torch state-dict file (optionally nested under ``state_dict``).

    Returns:
        dict: The CLIP-level state dict (``visual.*``, ``transformer.*``...).
    """
    if not osp.isfile(path):
        raise FileNotFoundError(f'CLIP weights not found: {path}')
    if path.endswith('.safetensors'):
        from safetensors.torch import load_file
        state_dict = load_file(path, device='cpu')
    elif _is_torchscript_archive(path):
        # OpenAI's released files are TorchScript archives: read their
        # tensors as data; torch.jit.load would run the archive's code.
        state_dict = read_torchscript_state_dict(path)
    else:
        state_dict = safe_torch_load(path, map_location='cpu')
    if isinstance(state_dict, dict) and 'state_dict' in state_dict:
        state_dict = state_dict['state_dict']
    if not isinstance(state_dict, dict):
        raise ValueError(f'{path} does not hold a state dict')
    state_dict = {
        (k[len('module.'):] if k.startswith('module.') else k): v
        for k, v in state_dict.items() if k not in _OPENAI_META_KEYS
    }
    return state_dict


def resolve_pretrained(arch: ArchType, pretrained: str) -> str:
    """Turn ``pretrained`` into a local file path.

    Args:
        arch (str | dict): Architecture; needed to resolve open_clip tags.
        pretrained (str): A local file or an open_clip pretrained tag.

    Returns:
        str: Path of a local weights file.
    """
    if osp.isfile(pretrained):
        return pretrained
    if isinstance(arch, str):
        tag_cfg = open_clip.get_pretrained_cfg(arch, pretrained)
        if tag_cfg:
            path = open_clip.download_pretrained(tag_cfg)
            if path:
                return path
    raise FileNotFoundError(
        f'pretrained={pretrained!r} is neither a local file nor an open_clip '
        f'tag of {arch!r} (see open_clip.list_pretrained()).')


def check_state_dict_shapes(module: torch.nn.Module,
                            state_dict: Dict[str, torch.Tensor],
                            source: str) -> None:
    """Raise a clear error naming every key whose shape does not match."""
    own = module.state_dict()
    bad = [f'{k}: checkpoint {tuple(v.shape)} vs model {tuple(own[k].shape)}'
           for k, v in state_dict.items()
           if k in own and tuple(v.shape) != tuple(own[k].shape)]
    if bad:
        raise ValueError(
            f'{source} does not match the model architecture; '
            f'{len(bad)} mismatched shape(s):\n  ' + '\n  '.join(bad[:20]) +
            '\nCheck that `arch` names the architecture these weights were '
            'trained with.')


def build_clip(arch: ArchType,
               pretrained: Optional[str] = None,
               quick_gelu: bool = True,
               image_size: Optional[int] = None) -> open_clip.CLIP:
    """Build an open_clip ``CLIP`` and load its weights.

    Args:
        arch (str | dict): open_clip model name or model-config dict.
        pretrained (str, optional): open_clip tag or local weights file.
            Defaults to None (random weights).
        quick_gelu (bool): Use QuickGELU as OpenAI CLIP does. Defaults to True.
        image_size (int, optional): Input resolution; position embeddings are
            resized from the pretrained grid. Defaults to None.

    Returns:
        open_clip.CLIP: The model in eval mode, float32, on the CPU.
    """
    cfg = get_clip_config(arch, image_size)
    cfg['quick_gelu'] = cfg.get('quick_gelu', False) or quick_gelu
    model = open_clip.CLIP(**cfg)
    if pretrained:
        path = resolve_pretrained(arch, os.fspath(pretrained))
        state_dict = load_clip_state_dict(path)
        # TorchScript archives also store non-persistent buffers (attn_mask).
        transient = {k for k, _ in model.named_buffers()} - set(
            model.state_dict())
        state_dict = {
            k: v
            for k, v in state_dict.items() if k not in transient
        }
        resize_pos_embed(state_dict, model)
        check_state_dict_shapes(model, state_dict, f'CLIP weights {path}')
        missing, unexpected = model.load_state_dict(state_dict, strict=False)
        if missing or unexpected:
            raise ValueError(
                f'CLIP weights {path} do not fit {arch!r}: missing keys '
                f'{missing[:10]}, unexpected keys {unexpected[:10]}')
        print_log(f'Loaded CLIP weights from {path}', logger='current')
    return model.eval()
