"""Training-step and inference benchmark of DiST against two CLIP baselines.

Three models see the same dense clip ``[B, 3, T, H, W]``:

- ``dist``: DiST (frozen CLIP on the ``T / alpha`` sparse frames, temporal
  stream on all ``T`` frames, integration branch, CLIP text classifier).
- ``full_finetune``: the same CLIP image tower trained end to end on all
  ``T`` frames, frame-averaged embedding, linear classifier.
- ``frozen_linear``: the same CLIP frozen (eval, no autograd) on all ``T``
  frames, frame-averaged embedding, linear classifier.
- ``frozen_linear_sparse``: the same, on the ``T / alpha`` frames DiST gives
  CLIP (frames ``0, alpha, 2 alpha, ...``): the honest floor of DiST's cost.

Weights are random (nothing is downloaded); only speed and memory matter.
"""
import copy
import gc
import json
import os.path as osp
import statistics
import time
from contextlib import nullcontext
from typing import Any, Callable, Dict, List, Optional, Tuple, Union

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .complexity import cache_text_features, count_parameters
from .memory import PeakMemoryMeter

VARIANTS = ('dist', 'full_finetune', 'frozen_linear', 'frozen_linear_sparse',
            'stan')
VARIANT_DESCRIPTIONS = {
    'dist': 'DiST: frozen CLIP on T/alpha sparse frames + temporal and '
    'integration streams (trained), CLIP text classifier',
    'full_finetune': 'CLIP fully fine-tuned on all T frames, frame-averaged '
    'embedding, linear classifier',
    'frozen_linear': 'frozen CLIP (no autograd) on all T frames, '
    'frame-averaged embedding, linear classifier (trained)',
    'frozen_linear_sparse': 'frozen CLIP (no autograd) on the T/alpha frames '
    'DiST gives CLIP, frame-averaged embedding, linear classifier (trained)',
    'stan': 'STAN-self (K=4): CLIP fine-tuned on all T frames + STAN branch '
    '(trained), CLIP text classifier',
}

ArchType = Union[str, Dict]


def load_arch(arch: str) -> ArchType:
    """An open_clip model name, or the dict of a model-config JSON file.

    Args:
        arch (str): ``'ViT-B-16'`` or a path to an open_clip model-config
            JSON (``embed_dim``, ``vision_cfg``, ``text_cfg``).

    Returns:
        str | dict: What ``dist_plugin.models.clip_builder`` accepts.
    """
    if arch.endswith('.json') or osp.isfile(arch):
        with open(arch, encoding='utf-8') as f:
            return json.load(f)
    return arch


class CLIPFrameAverageClassifier(nn.Module):
    """CLIP image tower on every frame, embeddings averaged over time, and a
    linear classifier: the fine-tuning and linear-probe baselines.

    Args:
        arch (str | dict): open_clip model name or model-config dict.
        num_classes (int): Classes of the linear classifier.
        frozen (bool): Freeze the image tower (eval mode, no autograd).
        quick_gelu (bool): QuickGELU as in OpenAI CLIP. Defaults to True.
        frame_stride (int): Only frames ``0, s, 2s, ...`` go through CLIP.
            Defaults to 1 (every frame).
    """

    def __init__(self,
                 arch: ArchType,
                 num_classes: int,
                 frozen: bool,
                 quick_gelu: bool = True,
                 frame_stride: int = 1) -> None:
        super().__init__()
        from dist_plugin.models.clip_builder import build_clip
        clip = build_clip(arch, None, quick_gelu)
        self.visual = clip.visual
        del clip
        self.frozen = frozen
        self.frame_stride = frame_stride
        if frozen:
            self.visual.requires_grad_(False)
        self.fc = nn.Linear(self.visual.proj.shape[1], num_classes)

    def train(self, mode: bool = True) -> 'CLIPFrameAverageClassifier':
        super().train(mode)
        if self.frozen:
            self.visual.eval()
        return self

    def forward(self, inputs: Tensor) -> Tensor:
        """``[N, V, 3, T, H, W]`` -> logits ``[N*V, K]``."""
        clips = inputs.flatten(0, 1)[:, :, ::self.frame_stride]  # [B,3,T,H,W]
        batch, channels, num_frames, height, width = clips.shape
        frames = clips.transpose(1, 2).reshape(batch * num_frames, channels,
                                               height, width)
        grad = torch.is_grad_enabled() and not self.frozen
        with torch.set_grad_enabled(grad):
            embeds = self.visual(frames)  # [B*T, E]
        embeds = embeds.view(batch, num_frames, -1).mean(dim=1)
        return self.fc(embeds)


def dist_model_cfg(arch: ArchType,
                   num_frames: int,
                   alpha: int,
                   num_classes: int,
                   temporal_patch: int = 5,
                   width: int = 384,
                   temporal_width: int = 96,
                   num_pooling_layers: int = 4) -> Dict:
    """Recognizer3D config of DiST with the official widths for ``arch``.

    Args:
        arch (str | dict): open_clip model name or model-config dict.
        num_frames (int): Dense frames ``T``.
        alpha (int): Dense frames per sparse frame.
        num_classes (int): Classes (placeholder names for the text head).
        temporal_patch (int): Temporal size of the temporal-stream stem.
            Defaults to 5.
        width (int): Integration width. Defaults to 384.
        temporal_width (int): Temporal-stream width. Defaults to 96.
        num_pooling_layers (int): Attention-pooling layers. Defaults to 4.

    Returns:
        dict: The model config.
    """
    from dist_plugin.models.clip_builder import get_clip_config
    clip_cfg = get_clip_config(arch)
    vision = clip_cfg['vision_cfg']
    patch = vision['patch_size']
    return dict(
        type='Recognizer3D',
        backbone=dict(
            type='FrozenCLIPViT', arch=copy.deepcopy(arch), pretrained=None,
            alpha=alpha),
        neck=dict(
            type='DiSTIntegrationNeck',
            in_channels=vision['width'],
            embed_dim=clip_cfg['embed_dim'],
            num_layers=vision['layers'],
            num_frames=num_frames // alpha,
            alpha=alpha,
            width=width,
            temporal_encoder=dict(
                type='DiSTTemporalEncoder',
                width=temporal_width,
                patch_size=(temporal_patch, patch, patch)),
            num_pooling_layers=num_pooling_layers),
        cls_head=dict(
            type='CLIPTextHead',
            num_classes=num_classes,
            in_channels=clip_cfg['embed_dim'],
            arch=copy.deepcopy(arch),
            pretrained=None,
            class_names=[f'class {i}' for i in range(num_classes)]))


def stan_model_cfg(arch: ArchType, num_classes: int,
                   num_layers: int = 4,
                   grad_checkpointing: bool = False) -> Dict:
    """``STANRecognizer`` config (STAN-self, CLIP fine-tuned) for ``arch``.

    Args:
        arch (str | dict): open_clip model name or model-config dict.
        num_classes (int): Classes (placeholder names for the text head).
        num_layers (int): STAN depth K (at most the CLIP depth).
            Defaults to 4.
        grad_checkpointing (bool): Recompute CLIP and STAN blocks in the
            backward pass. Defaults to False.

    Returns:
        dict: The model config (needs ``dist_plugin_projects.stan``).
    """
    from dist_plugin.models.clip_builder import get_clip_config
    clip_cfg = get_clip_config(arch)
    vision = clip_cfg['vision_cfg']
    depth = min(num_layers, vision['layers'])
    return dict(
        type='STANRecognizer',
        backbone=dict(
            type='CLIPVideoBackbone', arch=copy.deepcopy(arch),
            pretrained=None, frame_sampling='all', frozen=False,
            grad_checkpointing=grad_checkpointing,
            out_indices=tuple(range(-depth, 0))),
        neck=dict(
            type='STANNeck', in_channels=vision['width'], num_layers=depth,
            num_heads=vision['width'] // vision.get('head_width', 64),
            grad_checkpointing=grad_checkpointing),
        cls_head=dict(
            type='CLIPTextHead',
            num_classes=num_classes,
            in_channels=clip_cfg['embed_dim'],
            arch=copy.deepcopy(arch),
            pretrained=None,
            logit_scale=100.,
            class_names=[f'class {i}' for i in range(num_classes)]))


def build_variant(variant: str,
                  arch: ArchType,
                  num_frames: int,
                  alpha: int,
                  num_classes: int,
                  dist_cfg: Optional[Dict] = None) -> nn.Module:
    """Build one benchmarked model (random weights, CPU, train mode).

    Args:
        variant (str): One of :data:`VARIANTS`.
        arch (str | dict): open_clip model name or model-config dict.
        num_frames (int): Dense frames ``T``.
        alpha (int): DiST's dense frames per sparse frame.
        num_classes (int): Classes.
        dist_cfg (dict, optional): Extra keyword arguments of
            :func:`dist_model_cfg` (widths). Defaults to None (official).
    """
    if variant == 'dist':
        from mmaction.registry import MODELS
        from mmengine.registry import init_default_scope

        import dist_plugin  # noqa: F401  (registers the components)
        init_default_scope('mmaction')
        model = MODELS.build(
            dist_model_cfg(arch, num_frames, alpha, num_classes,
                           **(dist_cfg or {})))
    elif variant == 'stan':
        from mmaction.registry import MODELS
        from mmengine.registry import init_default_scope

        import dist_plugin  # noqa: F401
        import dist_plugin_projects.stan  # noqa: F401
        init_default_scope('mmaction')
        model = MODELS.build(stan_model_cfg(arch, num_classes))
    elif variant in ('full_finetune', 'frozen_linear'):
        model = CLIPFrameAverageClassifier(
            arch, num_classes, frozen=variant == 'frozen_linear')
    elif variant == 'frozen_linear_sparse':
        model = CLIPFrameAverageClassifier(
            arch, num_classes, frozen=True, frame_stride=alpha)
    else:
        raise ValueError(f'Unknown variant {variant!r}; choose from '
                         f'{VARIANTS}')
    return model.train()


def _loss_fn(model: nn.Module, inputs: Tensor,
             labels: Tensor) -> Callable[[], Tensor]:
    """A closure computing the training loss of ``model`` on a batch."""
    if isinstance(model, CLIPFrameAverageClassifier):
        return lambda: F.cross_entropy(model(inputs), labels)
    from mmaction.structures import ActionDataSample
    samples = [ActionDataSample().set_gt_label(label) for label in labels]

    def loss() -> Tensor:
        losses = model(inputs, samples, mode='loss')
        return sum(v for k, v in losses.items() if 'loss' in k)

    return loss


def _infer_fn(model: nn.Module, inputs: Tensor) -> Callable[[], Tensor]:
    """A closure computing inference logits of ``model``."""
    if isinstance(model, CLIPFrameAverageClassifier):
        return lambda: model(inputs)
    return lambda: model.extract_feat(inputs, stage='head')[0]


def _sync(device: torch.device) -> None:
    if device.type == 'cuda':
        torch.cuda.synchronize(device)


def _timed(fn: Callable[[], Any], steps: int, warmup: int,
           device: torch.device) -> List[float]:
    """Run ``fn`` ``warmup + steps`` times; seconds of the timed runs."""
    for _ in range(warmup):
        fn()
    _sync(device)
    times = []
    for _ in range(steps):
        start = time.perf_counter()
        fn()
        _sync(device)
        times.append(time.perf_counter() - start)
    return times


def _train_step_fn(model: nn.Module, optimizer: torch.optim.Optimizer,
                   inputs: Tensor, labels: Tensor, device: torch.device,
                   amp: bool, amp_dtype: Optional[str]
                   ) -> Tuple[Callable[[], None], Callable[[], Any]]:
    """One training step (forward, backward, optimizer step) and the
    autocast context it uses (``nullcontext`` without AMP). fp16 AMP scales
    the loss with a GradScaler; bf16 needs none. ``amp_dtype`` defaults to
    float16 on CUDA and bfloat16 elsewhere."""
    if amp_dtype is None:
        amp_dtype = 'float16' if device.type == 'cuda' else 'bfloat16'
    dtype = getattr(torch, amp_dtype)
    autocast = (lambda: torch.autocast(device.type, dtype=dtype)) if amp \
        else nullcontext
    scaler = torch.amp.GradScaler(device.type) if (
        amp and dtype == torch.float16) else None
    loss_fn = _loss_fn(model, inputs, labels)

    def train_step() -> None:
        with autocast():
            loss = loss_fn()
        optimizer.zero_grad(set_to_none=True)
        if scaler is not None:
            scaler.scale(loss).backward()
            scaler.step(optimizer)
            scaler.update()
        else:
            loss.backward()
            optimizer.step()

    return train_step, autocast


def run_variant(variant: str,
                arch: ArchType,
                num_frames: int = 16,
                alpha: int = 2,
                batch: int = 2,
                steps: int = 3,
                warmup: int = 1,
                device: str = 'cpu',
                amp: bool = False,
                amp_dtype: Optional[str] = None,
                num_classes: int = 400,
                image_size: Optional[int] = None,
                infer: bool = True,
                seed: int = 0,
                dist_cfg: Optional[Dict] = None) -> Dict[str, Any]:
    """Measure the training step and inference of one variant.

    The step is forward, backward and an AdamW step over the trainable
    parameters. Peak memory is measured from the state after building the
    model, its optimizer and the batch (so it includes gradients, optimizer
    states and activations); run each variant in a fresh process on the CPU.
    CPU inference peak memory is measured after training in the same process
    and is a lower bound (freed heap pages may stay resident).

    Args:
        variant (str): One of :data:`VARIANTS`.
        arch (str | dict): open_clip model name or model-config dict.
        num_frames (int): Dense frames ``T``. Defaults to 16.
        alpha (int): DiST's dense frames per sparse frame. Defaults to 2.
        batch (int): Clips per step. Defaults to 2.
        steps (int): Timed steps (median reported). Defaults to 3.
        warmup (int): Untimed steps before. Defaults to 1.
        device (str): ``'cpu'`` or ``'cuda'``. Defaults to ``'cpu'``.
        amp (bool): Autocast the forward. Defaults to False.
        amp_dtype (str, optional): ``'float16'`` or ``'bfloat16'``. Defaults
            to None (float16 on CUDA, with a gradient scaler; bfloat16 on the
            CPU).
        num_classes (int): Classes. Defaults to 400.
        image_size (int, optional): Input size. Defaults to None (the CLIP's).
        infer (bool): Also time inference (``torch.inference_mode``).
            Defaults to True.
        seed (int): Seed of the weights and inputs. Defaults to 0.
        dist_cfg (dict, optional): DiST widths, see :func:`dist_model_cfg`.
            Defaults to None (official).

    Returns:
        dict: Timings (seconds), clips/s, peak memory (MiB), parameters.
    """
    from dist_plugin.models.clip_builder import get_clip_config
    torch.manual_seed(seed)
    dev = torch.device(device)
    if image_size is None:
        size = get_clip_config(arch)['vision_cfg']['image_size']
        image_size = size if isinstance(size, int) else size[0]
    model = build_variant(variant, arch, num_frames, alpha, num_classes,
                          dist_cfg)
    model.to(dev)
    cache_text_features(model)  # the class embeddings are computed once
    params = count_parameters(model)
    trainable = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(trainable, lr=1e-4, weight_decay=1e-4)
    inputs = torch.randn(batch, 1, 3, num_frames, image_size, image_size,
                         device=dev)
    labels = torch.randint(num_classes, (batch, ), device=dev)

    train_step, autocast = _train_step_fn(model, optimizer, inputs, labels,
                                          dev, amp, amp_dtype)

    gc.collect()
    meter = PeakMemoryMeter(dev)
    meter.start()
    model.train()
    train_times = _timed(train_step, steps, warmup, dev)
    train_peak = meter.peak_bytes()
    mib = 2.0**20
    result = dict(
        variant=variant,
        description=VARIANT_DESCRIPTIONS[variant],
        clip_frames=num_frames // alpha if variant in (
            'dist', 'frozen_linear_sparse') else num_frames,
        params_total=params['total'],
        params_frozen=params['frozen'],
        params_trainable=params['trainable'],
        train_step_s=statistics.median(train_times),
        train_step_s_all=train_times,
        train_clips_per_s=batch / statistics.median(train_times),
        train_peak_mem_mib=train_peak / mib,
        memory_method=meter.method,
        infer_s=None,
        infer_clips_per_s=None,
        infer_peak_mem_mib=None)
    if infer:
        optimizer.zero_grad(set_to_none=True)
        del optimizer, train_step  # the step holds the loss closure
        gc.collect()
        model.eval()
        infer_fn = _infer_fn(model, inputs)

        def infer_step() -> None:
            with torch.inference_mode(), autocast():
                infer_fn()

        meter.start()
        infer_times = _timed(infer_step, steps, max(warmup, 1), dev)
        result.update(
            infer_s=statistics.median(infer_times),
            infer_s_all=infer_times,
            infer_clips_per_s=batch / statistics.median(infer_times),
            infer_peak_mem_mib=meter.peak_bytes() / mib)
    return result


# (name, numerator variant, numerator field, denominator variant, field,
#  limit, 'max' if value <= limit is the target, 'min' if >=, 'report' for
#  a ratio reported without a target)
TARGETS = (
    ('dist_vs_full_finetune_train_memory', 'dist', 'train_peak_mem_mib',
     'full_finetune', 'train_peak_mem_mib', 0.30, 'max'),
    ('dist_vs_full_finetune_train_step_time', 'dist', 'train_step_s',
     'full_finetune', 'train_step_s', 0.45, 'max'),
    ('dist_vs_frozen_linear_train_step_time', 'dist', 'train_step_s',
     'frozen_linear', 'train_step_s', 1.4, 'max'),
    ('dist_vs_frozen_linear_sparse_train_step_time', 'dist', 'train_step_s',
     'frozen_linear_sparse', 'train_step_s', None, 'report'),
    ('dist_vs_frozen_linear_infer_clips_per_s', 'dist', 'infer_clips_per_s',
     'frozen_linear', 'infer_clips_per_s', 0.9, 'min'),
)


def check_targets(variants: Dict[str, Dict[str, Any]]) -> Dict[str, Dict]:
    """Ratios of DiST to the baselines against the efficiency targets.

    Args:
        variants (dict): Results of :func:`run_variant` by variant name.

    Returns:
        dict: For each target, ``ratio``, ``limit``, ``kind`` (``'max'``:
        the ratio must not exceed the limit; ``'min'``: must reach it) and
        ``met`` (None when a variant or field is missing).
    """
    out = {}
    for name, num, num_key, den, den_key, limit, kind in TARGETS:
        ratio = met = None
        a = variants.get(num, {}).get(num_key)
        b = variants.get(den, {}).get(den_key)
        if a is not None and b:
            ratio = a / b
            if kind == 'max':
                met = ratio <= limit
            elif kind == 'min':
                met = ratio >= limit
        out[name] = dict(ratio=ratio, limit=limit, kind=kind, met=met)
    return out
