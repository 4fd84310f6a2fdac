"""Compare DiST, EVL, STAN, TDS-CLIP and two CLIP baselines on identical
work: the same CLIP, the same number of frames through CLIP, the same input
size and batch.

Each method is built from its real config (``pretrained=None``, random
weights) with the CLIP architecture and frame counts overridden:

- ``dist``: ``T = F * alpha`` dense frames; CLIP sees frames
  ``0, alpha, 2 alpha, ...`` (``F`` of them).
- ``evl`` and ``stan``: ``F`` frames, every one through CLIP.
- ``tds_clip``: ``F`` segments of ``window`` frames (``F * window`` dense
  frames); CLIP sees the centre frame of each segment (``F``).
- ``frozen_linear`` / ``full_finetune``: ``F`` frames through a frozen /
  trained CLIP, frame-averaged embedding, linear classifier (the
  baselines of ``tools/analysis/benchmark_train.py``).

The timing and memory of one training step reuse the helpers of
:mod:`dist_plugin.analysis.benchmark`; accuracy trains the built-in demo
configs with mmengine's Runner.
"""
import copy
import gc
import os.path as osp
import statistics
import time
from typing import Any, Dict, List, Optional, Sequence, Tuple

import torch
from torch import nn

from .benchmark import (ArchType, CLIPFrameAverageClassifier, _infer_fn,
                        _timed, _train_step_fn, build_variant)
from .complexity import (cache_text_features, count_parameters, flop_counter,
                         recognizer_flops, strip_pretrained)
from .memory import PeakMemoryMeter

METHODS = ('dist', 'evl', 'stan', 'tds_clip', 'frozen_linear',
           'full_finetune')
LABELS = {
    'dist': 'DiST',
    'evl': 'EVL',
    'stan': 'STAN-self',
    'tds_clip': 'TDS-CLIP',
    'frozen_linear': 'frozen CLIP + linear',
    'full_finetune': 'CLIP fine-tuned + linear',
}
#: The ViT-B/16 Kinetics-400 config each method is built from (timing).
METHOD_CONFIGS = {
    'dist': 'configs/dist_vitb_k400.py',
    'evl': 'projects/evl/configs/'
    'evl_vit-b16_clip-openai-pre_8xb32-8x16x1-50k_kinetics400-rgb.py',
    'stan': 'projects/stan/configs/'
    'stan-self_vit-b16_clip-openai-pre_8xb16-u8_30e_kinetics400-rgb.py',
    'tds_clip': 'projects/tds_clip/configs/'
    'tdsclip_vit-b16_clip-openai-pre_8xb16x2-8x5f_30e_kinetics400-rgb.py',
}
#: The built-in demo config of each method (accuracy). The two baselines
#: derive from the frozen-CLIP demo (see :func:`demo_config`).
DEMO_CONFIGS = {
    'dist': 'configs/demo/dist_tiny_demo.py',
    'evl': 'projects/evl/configs/evl_tiny_demo.py',
    'stan': 'projects/stan/configs/stan_tiny_demo.py',
    'tds_clip': 'projects/tds_clip/configs/tdsclip_tiny_demo.py',
    'frozen_linear': 'configs/demo/frozen_clip_tiny_demo.py',
    'full_finetune': 'configs/demo/frozen_clip_tiny_demo.py',
}

_DIST_SRC = ('DiST paper, ICCV 2023, arXiv 2309.07911 (the figures later '
             'papers quote in their Kinetics-400 tables)')
#: Published cost of ViT-B/16, 8 frames through CLIP, Kinetics-400, per
#: view. None where no figure could be read from a primary source.
PUBLISHED = {
    'dist': dict(
        gflops_per_view=163.0, params_total_m=105.0,
        params_trainable_m=19.0, top1_k400=83.6,
        note='8+16 frames, 3 views; ~19 M new parameters',
        source=_DIST_SRC),
    'evl': dict(
        gflops_per_view=444.0 / 3, params_total_m=177.7,
        params_trainable_m=None, top1_k400=82.9,
        note='444 GFLOPs for 3x1 views',
        source='EVL paper, ECCV 2022, arXiv 2208.03550, Kinetics-400 '
        'results table'),
    'stan': dict(
        gflops_per_view=593.0 / 3, params_total_m=None,
        params_trainable_m=None, top1_k400=84.2,
        note='STAN-self 8f, 593 GFLOPs for 1x3 views',
        source='STAN paper, CVPR 2023, arXiv 2301.11116, Table 4'),
    'tds_clip': dict(
        gflops_per_view=None, params_total_m=None, params_trainable_m=None,
        top1_k400=83.9,
        note='cost tables unreadable here; measured on the official code: '
        '180.6 GMACs/view, 110.1 M total / 24.3 M trainable',
        source='TDS-CLIP README (BBYL9413/TDS-CLIP) and arXiv 2408.10688'),
    'frozen_linear': dict(
        gflops_per_view=None, params_total_m=None, params_trainable_m=None,
        top1_k400=None, note='not published as such', source='-'),
    'full_finetune': dict(
        gflops_per_view=None, params_total_m=None, params_trainable_m=None,
        top1_k400=81.1,
        note='CLIP-B/16 8f fine-tuned, 4x3 views (quoted in STAN)',
        source='STAN paper, CVPR 2023, arXiv 2301.11116, Table 4'),
}

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


def _repo_path(path: str, repo_root: Optional[str]) -> str:
    full = osp.join(repo_root or REPO_ROOT, path)
    if not osp.isfile(full):
        raise FileNotFoundError(
            f'config {full} not found; run from a source checkout or pass '
            '--repo-root')
    return full


def _vision(arch: ArchType) -> Dict[str, Any]:
    from dist_plugin.models.clip_builder import get_clip_config
    clip_cfg = get_clip_config(arch)
    vision = dict(clip_cfg['vision_cfg'])
    size = vision['image_size']
    vision['image_size'] = size if isinstance(size, int) else size[0]
    vision['heads'] = vision['width'] // vision.get('head_width', 64)
    vision['embed_dim'] = clip_cfg['embed_dim']
    vision['grid'] = vision['image_size'] // vision['patch_size']
    return vision


def method_model_cfg(method: str,
                     arch: ArchType,
                     frames: int,
                     alpha: int = 2,
                     window: int = 5,
                     repo_root: Optional[str] = None
                     ) -> Tuple[Dict, Tuple[int, int, int, int]]:
    """The model config of ``method`` from its real config, overridden for
    ``arch`` and ``frames`` frames through CLIP.

    Args:
        method (str): One of ``dist``, ``evl``, ``stan``, ``tds_clip``.
        arch (str | dict): open_clip model name or model-config dict.
        frames (int): Frames through CLIP (``F``).
        alpha (int): DiST's dense frames per CLIP frame. Defaults to 2.
        window (int): TDS-CLIP's frames per segment. Defaults to 5.
        repo_root (str, optional): Where the configs are. Defaults to None
            (this checkout).

    Returns:
        tuple: The model config (no ``pretrained`` weights) and one view's
        input shape ``(3, T, H, W)``.
    """
    from mmengine.config import Config
    if method not in METHOD_CONFIGS:
        raise ValueError(f'unknown method {method!r}; choose from '
                         f'{tuple(METHOD_CONFIGS)}')
    cfg = Config.fromfile(_repo_path(METHOD_CONFIGS[method], repo_root))
    model = strip_pretrained(cfg.model.to_dict())
    model.get('data_preprocessor', {}).pop('blending', None)
    vis = _vision(arch)
    width, layers, patch = vis['width'], vis['layers'], vis['patch_size']
    backbone, neck, head = model['backbone'], model['neck'], model['cls_head']
    backbone['arch'] = copy.deepcopy(arch)
    if 'arch' in head:  # CLIPTextHead: its text tower follows the arch
        head['arch'] = copy.deepcopy(arch)
        head['in_channels'] = vis['embed_dim']
    size = vis['image_size']
    if method == 'dist':
        backbone['alpha'] = alpha
        neck.update(in_channels=width, embed_dim=vis['embed_dim'],
                    num_layers=layers, num_frames=frames, alpha=alpha)
        stem = neck['temporal_encoder']['patch_size']
        neck['temporal_encoder']['patch_size'] = (stem[0], patch, patch)
        dense = frames * alpha
    elif method in ('evl', 'stan'):
        depth = min(len(backbone['out_indices']), layers)
        backbone['out_indices'] = list(range(-depth, 0))
        neck.update(in_channels=width, num_layers=depth)
        if method == 'evl':
            neck.update(num_frames=frames, grid_size=(vis['grid'],) * 2,
                        num_heads=vis['heads'], qkv_dim=width)
            head['in_channels'] = width
        else:
            neck['num_heads'] = vis['heads']
        dense = frames
    else:  # tds_clip
        backbone['window'] = window
        neck.update(clip_width=width, num_layers=layers, patch_size=patch,
                    input_resolution=size, num_segments=frames,
                    window=window)
        dense = frames * window
    return model, (3, dense, size, size)


def build_method(method: str,
                 arch: ArchType,
                 frames: int,
                 alpha: int = 2,
                 window: int = 5,
                 num_classes: int = 400,
                 repo_root: Optional[str] = None
                 ) -> Tuple[nn.Module, Tuple[int, int, int, int]]:
    """Build ``method`` (random weights, train mode) and one view's shape.

    The baselines come from :func:`dist_plugin.analysis.benchmark.
    build_variant` with ``frames`` frames; the others from
    :func:`method_model_cfg`.
    """
    if method in ('frozen_linear', 'full_finetune'):
        model = build_variant(method, arch, frames, 1, num_classes)
        size = _vision(arch)['image_size']
        return model, (3, frames, size, size)
    import importlib

    from mmaction.registry import MODELS
    from mmengine.registry import init_default_scope
    import dist_plugin  # noqa: F401
    if method != 'dist':
        importlib.import_module(f'dist_plugin_projects.{method}')
    init_default_scope('mmaction')
    cfg, shape = method_model_cfg(method, arch, frames, alpha, window,
                                  repo_root)
    return MODELS.build(cfg).train(), shape


def _num_classes(model: nn.Module) -> int:
    head = getattr(model, 'cls_head', None)
    if head is not None:
        return int(head.num_classes)
    return int(model.fc.out_features)


def count_flops(model: nn.Module, shape: Sequence[int]) -> Dict[str, Any]:
    """Multiply-adds of one view (fvcore with the attention handles)."""
    if isinstance(model, CLIPFrameAverageClassifier):
        model.eval()
        param = next(model.parameters())
        inputs = torch.randn((1, 1) + tuple(shape), device=param.device)
        with torch.no_grad():
            analysis = flop_counter(model, (inputs, ))
            total = analysis.total()
        return dict(flops=int(total), gflops=total / 1e9,
                    uncounted_ops=dict(sorted(
                        analysis.unsupported_ops().items())))
    out = recognizer_flops(model, shape)
    return dict(flops=out['flops'], gflops=out['gflops'],
                uncounted_ops=out['uncounted_ops'])


def measure_method(method: str,
                   arch: ArchType,
                   frames: int,
                   batch: int,
                   steps: int,
                   warmup: int = 1,
                   device: str = 'cpu',
                   amp: bool = False,
                   amp_dtype: Optional[str] = None,
                   alpha: int = 2,
                   window: int = 5,
                   infer: bool = True,
                   count: bool = True,
                   seed: int = 0,
                   repo_root: Optional[str] = None) -> Dict[str, Any]:
    """One measured run of ``method`` in this process.

    Training step: forward, backward, AdamW step over the trainable
    parameters; its peak memory is measured above the state after building
    the model, optimizer and batch. Inference: ``torch.inference_mode``.

    Args:
        method (str): One of :data:`METHODS`.
        arch (str | dict): open_clip model name or model-config dict.
        frames (int): Frames through CLIP.
        batch (int): Clips per step.
        steps (int): Timed steps (median reported).
        warmup (int): Untimed steps first. Defaults to 1.
        device (str): ``'cpu'`` or ``'cuda'``. Defaults to ``'cpu'``.
        amp (bool): Autocast. Defaults to False.
        amp_dtype (str, optional): Defaults to None (float16 on CUDA with a
            gradient scaler, bfloat16 on the CPU).
        alpha (int): DiST's stride. Defaults to 2.
        window (int): TDS-CLIP's window. Defaults to 5.
        infer (bool): Also time inference. Defaults to True.
        count (bool): Also count parameters and FLOPs. Defaults to True.
        seed (int): Seed of weights and inputs. Defaults to 0.
        repo_root (str, optional): Where the configs are.

    Returns:
        dict: ``input_shape``, ``clip_frames``, ``train_step_s`` (median),
        ``train_step_s_all``, ``train_peak_mem_mib``, ``infer_clips_per_s``,
        and with ``count`` ``params_*`` and ``gflops``.
    """
    torch.manual_seed(seed)
    dev = torch.device(device)
    model, shape = build_method(method, arch, frames, alpha, window,
                                repo_root=repo_root)
    model.to(dev)
    cache_text_features(model)
    trainable = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(trainable, lr=1e-4, weight_decay=1e-4)
    inputs = torch.randn((batch, 1) + shape, device=dev)
    labels = torch.randint(_num_classes(model), (batch, ), device=dev)
    train_step, autocast = _train_step_fn(model, optimizer, inputs, labels,
                                          dev, amp, amp_dtype)

    gc.collect()
    meter = PeakMemoryMeter(dev)
    meter.start()
    model.train()
    times = _timed(train_step, steps, warmup, dev)
    mib = 2.0**20
    step = statistics.median(times)
    result = dict(
        method=method,
        input_shape=list(shape),
        clip_frames=frames,
        train_step_s=step,
        train_step_s_all=times,
        train_clips_per_s=batch / step,
        train_peak_mem_mib=meter.peak_bytes() / mib,
        memory_method=meter.method,
        infer_clips_per_s=None)
    optimizer.zero_grad(set_to_none=True)
    del optimizer, train_step  # the step holds the loss closure
    gc.collect()
    if infer:
        model.eval()
        infer_fn = _infer_fn(model, inputs)

        def infer_step() -> None:
            with torch.inference_mode(), autocast():
                infer_fn()

        infer_times = _timed(infer_step, steps, max(warmup, 1), dev)
        result.update(
            infer_s_all=infer_times,
            infer_clips_per_s=batch / statistics.median(infer_times))
    if count:
        params = count_parameters(model)
        result.update(
            params_total=params['total'],
            params_trainable=params['trainable'],
            params_frozen=params['frozen'],
            **{k: v for k, v in count_flops(model, shape).items()})
    return result


def mean_std(values: Sequence[float]) -> Dict[str, Any]:
    """Mean, sample standard deviation, min, max and n of ``values``."""
    values = [v for v in values if v is not None]
    if not values:
        return dict(mean=None, std=None, min=None, max=None, n=0)
    std = statistics.stdev(values) if len(values) > 1 else 0.0
    return dict(mean=statistics.fmean(values), std=std, min=min(values),
                max=max(values), n=len(values))


def demo_config(method: str,
                data_root: str,
                work_dir: str,
                epochs: int,
                seed: int,
                repo_root: Optional[str] = None):
    """The demo config of ``method`` for ``epochs`` epochs on ``data_root``
    with ``seed``; no validation during training, loaders in-process.

    ``full_finetune`` is the frozen-CLIP demo with a trained CLIP (same
    frames through CLIP, the DiST demo's learning rate).

    Returns:
        mmengine.Config: Ready for ``Runner.from_cfg``.
    """
    from mmengine.config import Config
    if method not in DEMO_CONFIGS:
        raise ValueError(f'unknown method {method!r}; choose from '
                         f'{tuple(DEMO_CONFIGS)}')
    cfg = Config.fromfile(_repo_path(DEMO_CONFIGS[method], repo_root))
    if method == 'full_finetune':
        arch = copy.deepcopy(cfg.model.backbone.arch)
        cfg.model.backbone = dict(
            type='CLIPVideoBackbone', arch=arch, frame_sampling='stride',
            alpha=cfg.model.backbone.get('alpha', 2), frozen=False)
        cfg.optim_wrapper.optimizer.lr = 5e-4
    for split in ('train', 'test'):
        loader = cfg[f'{split}_dataloader']
        loader.num_workers = 0
        loader.persistent_workers = False
        loader.dataset.ann_file = osp.join(data_root, f'{split}_list.txt'
                                           if split == 'train' else
                                           'val_list.txt')
        loader.dataset.data_prefix = dict(video=data_root)
    cfg.val_dataloader = None
    cfg.val_cfg = None
    cfg.val_evaluator = None
    cfg.train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=epochs)
    for sched in cfg.param_scheduler:
        sched['end'] = min(sched.get('end', epochs), epochs)
        sched['begin'] = min(sched.get('begin', 0), max(epochs - 1, 0))
        if sched['type'] == 'CosineAnnealingLR':
            sched['T_max'] = max(sched['end'] - sched['begin'], 1)
    cfg.default_hooks.checkpoint = dict(
        type='CheckpointHook', interval=epochs, max_keep_ckpts=1,
        save_best=None)
    cfg.randomness = dict(seed=seed)
    cfg.work_dir = work_dir
    cfg.launcher = 'none'
    return cfg


def demo_accuracy(method: str,
                  data_root: str,
                  work_dir: str,
                  epochs: int,
                  seed: int,
                  repo_root: Optional[str] = None) -> Dict[str, Any]:
    """Train ``method``'s demo config and test it (3 clips per video).

    Returns:
        dict: ``top1`` (test top-1), ``seed``, ``epochs``, ``train_s``,
        ``clip_frames`` (frames through CLIP per view) and
        ``params_trainable``.
    """
    from mmengine.runner import Runner
    cfg = demo_config(method, data_root, work_dir, epochs, seed, repo_root)
    runner = Runner.from_cfg(cfg)
    start = time.perf_counter()
    runner.train()
    train_s = time.perf_counter() - start
    metrics = runner.test()
    return dict(
        method=method,
        seed=seed,
        epochs=epochs,
        top1=float(metrics['acc/top1']),
        train_s=train_s,
        clip_frames=_demo_clip_frames(cfg),
        params_trainable=count_parameters(runner.model)['trainable'])


def _demo_clip_frames(cfg: Any) -> int:
    """Frames through CLIP per view of a demo config."""
    backbone = cfg.model.backbone
    sampling = backbone.get('frame_sampling')
    if backbone.type == 'FrozenCLIPViT':
        sampling = 'stride'
    for step in cfg.test_pipeline:
        if 'num_segments' in step and 'window' in step:
            return int(step['num_segments'])
        if 'clip_len' in step:
            clip_len = int(step['clip_len'])
    if sampling == 'stride':
        return clip_len // int(backbone.get('alpha', 2))
    return clip_len
