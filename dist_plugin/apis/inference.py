"""Video inference with a DiST recognizer (mmaction's ``inference_recognizer``
plus class-list replacement, official checkpoints and a result picture)."""
import copy
import os
import os.path as osp
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Union

import numpy as np
import torch
from mmaction.apis import inference_recognizer, init_recognizer
from mmengine.config import Config
from mmengine.dataset import Compose
from mmengine.registry import init_default_scope
from torch import nn

from dist_plugin.models.heads.class_names import ClassNames, load_class_names
from .checkpoint import load_dist_checkpoint

#: File extensions treated as videos when a folder is given.
VIDEO_EXTENSIONS = ('.mp4', '.avi', '.mkv', '.mov', '.webm', '.m4v', '.flv',
                    '.mpg', '.mpeg', '.wmv')
#: Heads whose class list can be replaced without retraining.
OPEN_VOCABULARY_HEADS = ('CLIPTextHead', )

ConfigType = Union[str, Path, Config]


def prepare_config(config: ConfigType,
                   class_names: Optional[ClassNames] = None,
                   cfg_options: Optional[Dict] = None) -> Config:
    """Load a config for inference from a checkpoint.

    The CLIP weights come from the checkpoint, so ``pretrained`` of the
    backbone and the text head is cleared (nothing is downloaded).

    Args:
        config (str | Path | Config): Config file or object (copied).
        class_names (str | Sequence[str], optional): Replace the class list
            (zero-shot): names, a file, a comma-separated string or a
            built-in list name. Defaults to None (the config's classes).
        cfg_options (dict, optional): Overrides merged into the config.
            Defaults to None.

    Returns:
        Config: The prepared copy.
    """
    if isinstance(config, (str, Path)):
        cfg = Config.fromfile(str(config))
    elif isinstance(config, Config):
        cfg = copy.deepcopy(config)
    else:
        raise TypeError(f'config must be a path or a Config, got '
                        f'{type(config)}')
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    model = cfg.model
    for part in ('backbone', 'cls_head'):
        if part in model and model[part].get('pretrained'):
            model[part]['pretrained'] = None
    if class_names is not None:
        head = model.get('cls_head', {})
        names = load_class_names(class_names)
        if not names:
            raise ValueError('The new class list is empty.')
        if head.get('type') in OPEN_VOCABULARY_HEADS:
            head['class_names'] = names
            head['num_classes'] = len(names)
        else:
            _check_display_names(names, head, 'the given labels')
    return cfg


def _check_display_names(names: Sequence[str], head: Dict,
                         source: str) -> None:
    """Display names of a fixed-class head must match its class count."""
    num_classes = head.get('num_classes')
    if num_classes is not None and len(names) != num_classes:
        raise ValueError(
            f'{source} name {len(names)} classes, but the {head.get("type")} '
            f'head has {num_classes} fixed classes. Only an open-vocabulary '
            f'head ({", ".join(OPEN_VOCABULARY_HEADS)}) can take another '
            f'class list; for this head give exactly {num_classes} display '
            f'names in class-index order.')


def config_class_names(cfg: Config,
                       class_names: Optional[ClassNames] = None
                       ) -> Optional[List[str]]:
    """Class names for display, for any head.

    Looked up in this order: ``class_names`` (e.g. ``--labels``), the head's
    own ``class_names`` (CLIP-text heads), the config's
    ``class_names_file`` (the demo's), the test dataset's
    ``metainfo.classes``. Relative file paths are read from the current
    directory, as the config's data paths are.

    Args:
        cfg (Config): A config from :func:`prepare_config`.
        class_names (str | Sequence[str], optional): Explicit names.
            Defaults to None.

    Returns:
        list[str] | None: One name per class, or None when the config names
        none.
    """
    head = cfg.model.get('cls_head', {}) or {}
    if class_names is not None:
        names, source = load_class_names(class_names), 'the given labels'
    elif head.get('class_names'):
        names, source = load_class_names(head['class_names']), \
            'model.cls_head.class_names'
    elif cfg.get('class_names_file'):
        path = cfg.class_names_file
        if not osp.isfile(path):
            raise FileNotFoundError(
                f'class_names_file = {path!r} of the config does not exist '
                f'(relative to {os.getcwd()}); run from the folder the '
                f'config expects, or pass --labels / --cfg-options '
                f'class_names_file=PATH.')
        names, source = load_class_names(path), f'class_names_file {path}'
    else:
        dataset = (cfg.get('test_dataloader') or {}).get('dataset') or {}
        classes = (dataset.get('metainfo') or {}).get('classes')
        if not classes:
            return None
        names, source = [str(c) for c in classes], \
            'test_dataloader.dataset.metainfo.classes'
    _check_display_names(names, head, source)
    return names


def init_dist_recognizer(config: ConfigType,
                         checkpoint: Optional[str] = None,
                         device: Union[str, torch.device] = 'cpu',
                         class_names: Optional[ClassNames] = None,
                         cfg_options: Optional[Dict] = None) -> nn.Module:
    """Build a recognizer with mmaction's ``init_recognizer`` and load a
    checkpoint of any DiST layout (file or URL).

    Args:
        config (str | Path | Config): Model config.
        checkpoint (str, optional): Checkpoint path or URL; official layouts
            are converted. Defaults to None (random weights).
        device (str | torch.device): Device. Defaults to ``'cpu'``.
        class_names (str | Sequence[str], optional): See
            :func:`prepare_config`. Defaults to None.
        cfg_options (dict, optional): Config overrides. Defaults to None.

    Returns:
        nn.Module: The recognizer in eval mode, with ``.cfg`` set.
    """
    cfg = prepare_config(config, class_names, cfg_options)
    names = config_class_names(cfg, class_names)
    model = init_recognizer(cfg, checkpoint=None, device=device)
    if checkpoint:
        load_dist_checkpoint(model, checkpoint, map_location='cpu',
                             strict=True)
        model.to(device)
    if names is not None:
        # mmengine's place for class names (visualizers read it too)
        model.dataset_meta = dict(classes=names)
    return model.eval()


def build_test_pipeline(cfg: Config) -> Compose:
    """The config's ``test_pipeline`` (or its test dataset's pipeline)."""
    init_default_scope(cfg.get('default_scope', 'mmaction'))
    pipeline = cfg.get('test_pipeline')
    if pipeline is None:
        pipeline = cfg.test_dataloader.dataset.pipeline
    return Compose(copy.deepcopy(pipeline))


def model_class_names(model: nn.Module) -> Optional[List[str]]:
    """Class names of the recognizer: its head's (CLIP-text heads), else
    ``model.dataset_meta['classes']`` (set by :func:`init_dist_recognizer`
    from the config)."""
    names = getattr(getattr(model, 'cls_head', None), 'class_names', None)
    if not names:
        names = (getattr(model, 'dataset_meta', None) or {}).get('classes')
    return list(names) if names else None


def predict_video(model: nn.Module,
                  video: str,
                  topk: int = 5,
                  test_pipeline: Optional[Compose] = None,
                  class_names: Optional[Sequence[str]] = None) -> Dict:
    """Classify one video.

    Args:
        model (nn.Module): A recognizer from :func:`init_dist_recognizer`.
        video (str): Video file.
        topk (int): How many classes to return. Defaults to 5.
        test_pipeline (Compose, optional): Defaults to None (the config's).
        class_names (Sequence[str], optional): Label names. Defaults to None
            (the head's class names, else the indices).

    Returns:
        dict: ``video``, ``num_classes`` and ``topk``: a list of
        ``{'index', 'label', 'score'}`` by decreasing score. With
        ``average_clips='prob'`` the scores are probabilities.
    """
    if topk < 1:
        raise ValueError(f'topk must be >= 1, got {topk}')
    with torch.inference_mode():
        result = inference_recognizer(model, video, test_pipeline)
    scores = result.pred_score.detach().float().cpu().flatten()
    names = list(class_names) if class_names else model_class_names(model)
    if names is not None and len(names) != scores.numel():
        raise ValueError(f'{len(names)} class names for {scores.numel()} '
                         'scores')
    values, indices = scores.topk(min(topk, scores.numel()))
    return dict(
        video=video,
        num_classes=int(scores.numel()),
        topk=[
            dict(
                index=int(i),
                label=names[int(i)] if names else str(int(i)),
                score=float(v)) for v, i in zip(values, indices)
        ])


def list_videos(path: str,
                extensions: Sequence[str] = VIDEO_EXTENSIONS) -> List[str]:
    """A video file, or the videos of a folder (recursive, sorted)."""
    if osp.isfile(path):
        return [path]
    if not osp.isdir(path):
        raise FileNotFoundError(f'{path} is neither a file nor a folder')
    videos = []
    for root, _, files in os.walk(path):
        videos.extend(
            osp.join(root, name) for name in files
            if name.lower().endswith(tuple(extensions)))
    return sorted(videos)


def sample_frames(video: str, num_frames: int = 8) -> np.ndarray:
    """``num_frames`` RGB frames spread evenly over ``video``
    ``[N, H, W, 3]`` (decord, else or where it fails PyAV)."""
    try:
        import decord
    except ImportError:
        decord = None
    if decord is not None:
        try:
            reader = decord.VideoReader(video, num_threads=1)
            total = len(reader)
            indices = np.linspace(0, total - 1, min(num_frames, total))
            return reader.get_batch(np.round(indices).astype(int).tolist()
                                    ).asnumpy()
        except decord.DECORDError:
            pass  # e.g. the frame widths of dmlc/decord#336: PyAV below
    from dist_plugin.utils.video_io import read_video
    frames = read_video(video, backend='pyav')
    indices = np.linspace(0, len(frames) - 1, min(num_frames, len(frames)))
    return frames[np.round(indices).astype(int)]


def draw_prediction(frames: np.ndarray,
                    prediction: Dict,
                    out_file: str,
                    title: Optional[str] = None,
                    dpi: int = 100) -> str:
    """Save a strip of frames above a bar chart of the top-k scores.

    Args:
        frames (np.ndarray): RGB frames ``[N, H, W, 3]``.
        prediction (dict): Output of :func:`predict_video`.
        out_file (str): Image file (the extension picks the format).
        title (str, optional): Figure title. Defaults to None (the video's
            file name).
        dpi (int): Resolution. Defaults to 100.

    Returns:
        str: ``out_file``.
    """
    from matplotlib.figure import Figure  # Agg canvas, no GUI backend

    num = max(len(frames), 1)
    topk = prediction['topk']
    frame_height = 1.6
    chart_height = 0.6 + 0.35 * len(topk)
    fig = Figure(figsize=(max(1.6 * num, 6.), frame_height + chart_height),
                 dpi=dpi, layout='constrained')
    # Two sub-figures so the bar labels do not squeeze the frame strip.
    top, bottom = fig.subfigures(
        2, 1, height_ratios=[frame_height, chart_height])
    for idx, ax in enumerate(top.subplots(1, num, squeeze=False)[0]):
        if idx < len(frames):
            ax.imshow(frames[idx])
        ax.set_axis_off()
    ax = bottom.subplots()
    labels = [entry['label'] for entry in topk][::-1]
    scores = [entry['score'] for entry in topk][::-1]
    bars = ax.barh(range(len(topk)), scores, color='tab:blue')
    ax.set_yticks(range(len(topk)), labels)
    ax.set_xlim(0, max(1., max(scores, default=0.) * 1.15))
    ax.bar_label(bars, labels=[f'{s:.3f}' for s in scores], padding=3)
    ax.set_xlabel('score')
    fig.suptitle(title or osp.basename(prediction['video']))
    out_dir = osp.dirname(osp.abspath(out_file))
    os.makedirs(out_dir, exist_ok=True)
    fig.savefig(out_file)
    return out_file
