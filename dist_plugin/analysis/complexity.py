"""Parameter and FLOP counting of MMAction2 recognizers (fvcore based)."""
import copy
from collections import OrderedDict
from typing import Any, Dict, Optional, Sequence, Tuple

import torch
from fvcore.nn import FlopCountAnalysis
from torch import Tensor, nn

from .flop_handles import ATTENTION_FLOP_HANDLES


def count_parameters(model: nn.Module) -> Dict[str, Any]:
    """Count parameters, split into frozen and trainable.

    Args:
        model (nn.Module): Any module. Shared tensors are counted once.

    Returns:
        dict: ``total``, ``frozen``, ``trainable`` and ``by_module`` (the same
        split for each direct child).
    """

    def split(module: nn.Module) -> Dict[str, int]:
        frozen = trainable = 0
        for param in module.parameters():  # deduplicated by nn.Module
            if param.requires_grad:
                trainable += param.numel()
            else:
                frozen += param.numel()
        return dict(total=frozen + trainable, frozen=frozen,
                    trainable=trainable)

    stats = split(model)
    stats['by_module'] = OrderedDict(
        (name, split(child)) for name, child in model.named_children()
        if any(True for _ in child.parameters()))
    return stats


def flop_counter(model: nn.Module, inputs: Tuple[Any, ...]
                 ) -> FlopCountAnalysis:
    """An fvcore ``FlopCountAnalysis`` that also counts attention ops.

    Args:
        model (nn.Module): The module to trace.
        inputs (tuple): Positional inputs of ``model.forward``.

    Returns:
        FlopCountAnalysis: With the handles of
        :data:`ATTENTION_FLOP_HANDLES` registered and warnings silenced (read
        ``unsupported_ops()`` instead).
    """
    analysis = FlopCountAnalysis(model, inputs)
    analysis.set_op_handle(**ATTENTION_FLOP_HANDLES)
    analysis.unsupported_ops_warnings(False)
    analysis.uncalled_modules_warnings(False)
    analysis.tracer_warnings('none')
    return analysis


class RecognizerLogits(nn.Module):
    """Expose ``recognizer.extract_feat(..., stage='head')`` as ``forward``
    so that a tracer sees backbone, neck and head.

    Args:
        recognizer (nn.Module): An MMAction2 recognizer.
    """

    def __init__(self, recognizer: nn.Module) -> None:
        super().__init__()
        self.recognizer = recognizer

    def forward(self, inputs: Tensor) -> Tensor:
        """``[N, V, C, T, H, W]`` -> logits ``[N*V, K]``."""
        return self.recognizer.extract_feat(inputs, stage='head')[0]


def cache_text_features(recognizer: nn.Module) -> bool:
    """Embed the class names once so that tracing skips the text tower.

    Args:
        recognizer (nn.Module): A recognizer whose head may have a cached
            ``text_features()`` (e.g. ``CLIPTextHead``).

    Returns:
        bool: Whether a text tower was found and its output cached.
    """
    head = getattr(recognizer, 'cls_head', None)
    if head is None or not callable(getattr(head, 'text_features', None)):
        return False
    with torch.no_grad():
        head.text_features()
    return True


def recognizer_flops(recognizer: nn.Module,
                     input_shape: Sequence[int]) -> Dict[str, Any]:
    """Multiply-adds of one view through backbone, neck and head.

    The text tower of a CLIP text head is excluded: class embeddings are
    computed once and cached, not per view.

    Args:
        recognizer (nn.Module): An MMAction2 recognizer (eval mode is set).
        input_shape (Sequence[int]): One view, ``(C, T, H, W)``.

    Returns:
        dict: ``flops`` (total multiply-adds), ``gflops``, ``by_module``
        (multiply-adds per direct child of the recognizer), ``text_cached``
        and ``uncounted_ops`` (op name -> calls fvcore has no handle for,
        mostly element-wise ops that the convention leaves out).
    """
    recognizer.eval()
    text_cached = cache_text_features(recognizer)
    param = next(recognizer.parameters())
    inputs = torch.randn((1, 1) + tuple(input_shape), device=param.device)
    with torch.no_grad():
        analysis = flop_counter(RecognizerLogits(recognizer), (inputs, ))
        total = analysis.total()
        by_module = analysis.by_module()
    children = OrderedDict()
    for name, _ in recognizer.named_children():
        key = f'recognizer.{name}'
        if by_module.get(key, 0) > 0:
            children[name] = int(by_module[key])
    return dict(
        flops=int(total),
        gflops=total / 1e9,
        by_module=children,
        text_cached=text_cached,
        uncounted_ops=dict(sorted(analysis.unsupported_ops().items())))


def strip_pretrained(cfg: Any) -> Any:
    """Copy of a model config with every ``pretrained`` set to None and every
    ``init_cfg`` of type ``'Pretrained'`` removed (no downloads).

    Args:
        cfg (Any): A (nested) dict / list config.

    Returns:
        Any: The cleaned copy.
    """
    if isinstance(cfg, dict):
        out = dict()
        for key, value in cfg.items():
            if key == 'pretrained':
                out[key] = None
            elif key == 'init_cfg' and isinstance(value, dict) and \
                    value.get('type') == 'Pretrained':
                out[key] = None
            else:
                out[key] = strip_pretrained(value)
        return out
    if isinstance(cfg, (list, tuple)):
        return type(cfg)(strip_pretrained(v) for v in cfg)
    return copy.deepcopy(cfg)


def _find_clip_len(pipeline: Optional[Sequence[Dict]]) -> Optional[int]:
    for step in pipeline or []:
        if isinstance(step, dict) and 'clip_len' in step:
            return int(step['clip_len'])
        if isinstance(step, dict) and 'num_segments' in step and \
                'window' in step:  # windowed sampling (WindowSampleFrames)
            return int(step['num_segments']) * int(step['window'])
    return None


def infer_input_shape(cfg: Any, recognizer: nn.Module) -> Tuple[int, ...]:
    """Guess one view's ``(C, T, H, W)`` from a config and its model.

    ``T`` is the test pipeline's ``clip_len`` (or ``num_segments * window``
    of a windowed sampler; else the neck's
    ``num_frames * alpha``); ``H = W`` is the CLIP input size.

    Args:
        cfg (mmengine.Config): The full config.
        recognizer (nn.Module): The built model.

    Returns:
        tuple: ``(3, T, H, W)``.
    """
    num_frames = None
    for key in ('test_pipeline', 'val_pipeline', 'train_pipeline'):
        num_frames = _find_clip_len(cfg.get(key))
        if num_frames:
            break
    if num_frames is None:
        neck = cfg.model.get('neck') or {}
        if 'num_frames' in neck:
            num_frames = int(neck['num_frames']) * int(neck.get('alpha', 1))
    if num_frames is None:
        raise ValueError('Cannot infer the clip length; pass --shape T H W.')
    backbone = getattr(recognizer, 'backbone', None)
    visual = getattr(backbone, 'visual', None)
    size = getattr(visual, 'image_size', None)
    if size is None:
        raise ValueError('Cannot infer the input size; pass --shape T H W.')
    height, width = (size, size) if isinstance(size, int) else size
    return (3, num_frames, int(height), int(width))
