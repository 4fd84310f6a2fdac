"""A tiny video dataset whose classes differ only in motion direction.

Every clip shows one textured square gliding over a static textured
background. The class is the direction of travel:

==  ====================================
0   Moving something from left to right
1   Moving something from right to left
2   Moving something from top to bottom
3   Moving something from bottom to top
==  ====================================

Each clip is rendered as a left-to-right clip from parameters that do not
depend on the label; class 1 plays those frames backwards, classes 2 and 3
transpose them (swap x and y) and class 3 also plays them backwards. The
object's second coordinate follows the same distribution as the first one at
a uniformly random time, and textures are i.i.d. per cell, so the
distribution of a single frame is the same for all four classes: no single
frame tells the class, and a model that ignores frame order cannot separate
class 0 from 1 (or 2 from 3). A horizontal flip maps class 0 to 1 and keeps
classes 2 and 3.

The files follow mmaction2's ``VideoDataset`` layout::

    OUT_DIR/
        classnames.txt       one class name per line, label order
        train_list.txt       "videos_train/train_00000.mp4 <label>" lines
        val_list.txt         "videos_val/val_00000.mp4 <label>" lines
        videos_train/*.mp4
        videos_val/*.mp4
        .demo_dataset_complete   marker: JSON of the generation settings
"""
import json
import os
import os.path as osp
import time
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
from mmengine.logging import print_log

from dist_plugin.utils.video_io import write_video

CLASS_NAMES: Tuple[str, ...] = (
    'Moving something from left to right',
    'Moving something from right to left',
    'Moving something from top to bottom',
    'Moving something from bottom to top',
)
#: Labels whose frames are the time-reversal of another label's frames.
REVERSED_PAIRS: Tuple[Tuple[int, int], ...] = ((0, 1), (2, 3))
MARKER_FILE = '.demo_dataset_complete'
FORMAT_VERSION = 1
# Independent random streams per split, so train and val never share clips.
_SPLIT_STREAM = {'train': 0, 'val': 1, 'test': 2}


def _sample_span(rng: np.random.Generator, span: int,
                 min_travel: int) -> Tuple[int, int]:
    """Two sorted integer positions in ``[0, span]`` at least
    ``min_travel`` apart, drawn by rejection from i.i.d. uniforms."""
    while True:
        a, b = rng.integers(0, span + 1, size=2)
        if abs(int(b) - int(a)) >= min_travel:
            return int(min(a, b)), int(max(a, b))


def _cell_texture(rng: np.random.Generator, size: int, cells: int,
                  low: int, high: int) -> np.ndarray:
    """A ``[size, size, 3]`` uint8 texture of ``cells x cells`` i.i.d.
    colour blocks (nearest-neighbour upsampling)."""
    colours = rng.integers(low, high + 1, size=(cells, cells, 3))
    idx = (np.arange(size) * cells) // size
    return colours[idx][:, idx].astype(np.uint8)


def render_left_to_right(rng: np.random.Generator,
                         num_frames: int = 16,
                         size: int = 32) -> np.ndarray:
    """Render one left-to-right clip with random appearance and speed.

    Args:
        rng (np.random.Generator): Source of every random choice.
        num_frames (int): Frames per clip. Defaults to 16.
        size (int): Frame height and width in pixels. Defaults to 32.

    Returns:
        np.ndarray: uint8 frames ``[T, size, size, 3]``.
    """
    if num_frames < 2:
        raise ValueError(f'num_frames must be >= 2, got {num_frames}')
    if size < 8:
        raise ValueError(f'size must be >= 8, got {size}')
    # Static background: a low-contrast colour-block texture.
    base = rng.integers(40, 216, size=3)
    contrast = int(rng.integers(0, 6))
    background = _cell_texture(rng, size, int(rng.integers(2, 9)),
                               0, 2 * contrast).astype(np.int16)
    background = np.clip(background - contrast + base, 0, 255).astype(
        np.uint8)
    # Object: a high-contrast textured square with a black or white rim.
    obj_size = int(rng.integers(size // 3, size // 2 + 1))
    obj = _cell_texture(rng, obj_size, int(rng.integers(2, 5)), 0, 255)
    # A dark-to-bright ramp towards the bottom-right corner: the leading edge
    # of a left-to-right (or top-to-bottom) move is its bright side, so the
    # order in which a pixel sees dark and bright tells the direction. The
    # ramp is symmetric under swapping x and y, so single frames of all four
    # classes still look alike.
    ramp = np.add.outer(np.arange(obj_size), np.arange(obj_size))
    ramp = ramp / max(1, 2 * (obj_size - 1))
    obj = (0.35 * obj + 0.65 * 255 * ramp[..., None]).astype(np.uint8)
    rim = 0 if rng.random() < 0.5 else 255
    obj[0, :] = obj[-1, :] = obj[:, 0] = obj[:, -1] = rim

    span = size - obj_size
    min_travel = max(1, span // 2)
    x_start, x_end = _sample_span(rng, span, min_travel)
    # y: same law as x at a uniformly random time, so (x, y) of a random
    # frame is symmetric under swapping the axes.
    y_low, y_high = _sample_span(rng, span, min_travel)
    steps = num_frames - 1
    y = int(round(y_low + (y_high - y_low) * rng.integers(0, steps + 1) /
                  steps))

    frames = np.repeat(background[None], num_frames, axis=0)
    for t in range(num_frames):
        x = int(round(x_start + (x_end - x_start) * t / steps))
        frames[t, y:y + obj_size, x:x + obj_size] = obj
    return frames


def make_clip(label: int,
              rng: np.random.Generator,
              num_frames: int = 16,
              size: int = 32) -> np.ndarray:
    """Render a clip of class ``label``.

    The random draws do not depend on ``label``: with equally seeded
    generators, the clip of label 1 is the clip of label 0 played backwards,
    and label 2 is label 0 with x and y swapped.

    Args:
        label (int): Class index in ``[0, len(CLASS_NAMES))``.
        rng (np.random.Generator): Source of every random choice.
        num_frames (int): Frames per clip. Defaults to 16.
        size (int): Frame height and width in pixels. Defaults to 32.

    Returns:
        np.ndarray: uint8 frames ``[T, size, size, 3]``.
    """
    if not 0 <= label < len(CLASS_NAMES):
        raise ValueError(f'label must be in [0, {len(CLASS_NAMES)}), '
                         f'got {label}')
    frames = render_left_to_right(rng, num_frames, size)
    if label in (1, 3):
        frames = frames[::-1]
    if label in (2, 3):
        frames = frames.transpose(0, 2, 1, 3)  # [T, W, H, 3]
    return np.ascontiguousarray(frames)


def split_labels(num_videos: int, num_classes: int) -> List[int]:
    """Balanced labels ``0, 1, ..., K-1, 0, 1, ...`` for one split."""
    return [idx % num_classes for idx in range(num_videos)]


def write_split(out_dir: str,
                split: str,
                num_videos: int,
                seed: int = 0,
                num_frames: int = 16,
                size: int = 32,
                fps: int = 8,
                num_classes: int = len(CLASS_NAMES)) -> str:
    """Write one split's videos and its annotation list.

    Video ``i`` of a split is drawn from its own generator seeded with
    ``(seed, split, i)``, so a split is reproducible on its own.

    Args:
        out_dir (str): Dataset root.
        split (str): ``'train'``, ``'val'`` or ``'test'``.
        num_videos (int): Videos in the split.
        seed (int): Dataset seed. Defaults to 0.
        num_frames (int): Frames per video. Defaults to 16.
        size (int): Frame height and width. Defaults to 32.
        fps (int): Frame rate of the files. Defaults to 8.
        num_classes (int): Use the first ``num_classes`` classes.
            Defaults to 4.

    Returns:
        str: Path of the annotation list ``{split}_list.txt``.
    """
    if split not in _SPLIT_STREAM:
        raise ValueError(f'split must be one of {list(_SPLIT_STREAM)}')
    if not 1 <= num_classes <= len(CLASS_NAMES):
        raise ValueError(f'num_classes must be in [1, {len(CLASS_NAMES)}]')
    video_dir = f'videos_{split}'
    lines = []
    for idx, label in enumerate(split_labels(num_videos, num_classes)):
        rng = np.random.default_rng([seed, _SPLIT_STREAM[split], idx])
        rel_path = f'{video_dir}/{split}_{idx:05d}.mp4'
        write_video(
            osp.join(out_dir, rel_path),
            make_clip(label, rng, num_frames, size),
            fps=fps)
        lines.append(f'{rel_path} {label}\n')
    ann_file = osp.join(out_dir, f'{split}_list.txt')
    with open(ann_file, 'w', encoding='utf-8') as f:
        f.writelines(lines)
    return ann_file


def write_class_names(out_dir: str,
                      class_names: Sequence[str] = CLASS_NAMES) -> str:
    """Write ``classnames.txt`` (one name per line) and return its path."""
    os.makedirs(out_dir, exist_ok=True)
    path = osp.join(out_dir, 'classnames.txt')
    with open(path, 'w', encoding='utf-8') as f:
        f.writelines(f'{name}\n' for name in class_names)
    return path


def _read_marker(out_dir: str) -> Optional[Dict]:
    path = osp.join(out_dir, MARKER_FILE)
    if not osp.isfile(path):
        return None
    try:
        with open(path, encoding='utf-8') as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def generate_demo_dataset(out_dir: str,
                          seed: int = 0,
                          num_train: int = 320,
                          num_val: int = 80,
                          num_frames: int = 16,
                          size: int = 32,
                          fps: int = 8,
                          force: bool = False) -> Dict:
    """Generate the demo dataset once.

    A marker file holding the settings is written last; when it exists with
    the same settings, nothing is done. Different settings (or ``force``)
    regenerate the dataset in place.

    Args:
        out_dir (str): Dataset root, e.g. ``data/demo``.
        seed (int): Dataset seed. Defaults to 0.
        num_train (int): Training videos (balanced over classes).
            Defaults to 320.
        num_val (int): Validation videos. Defaults to 80.
        num_frames (int): Frames per video. Defaults to 16.
        size (int): Frame height and width in pixels. Defaults to 32.
        fps (int): Frame rate of the files. Defaults to 8.
        force (bool): Regenerate even when complete. Defaults to False.

    Returns:
        dict: The settings, plus ``generated`` (bool) and ``seconds``.
    """
    settings = dict(
        format_version=FORMAT_VERSION,
        seed=seed,
        num_train=num_train,
        num_val=num_val,
        num_frames=num_frames,
        size=size,
        fps=fps,
        class_names=list(CLASS_NAMES))
    marker = _read_marker(out_dir)
    if not force and marker == settings:
        print_log(f'demo dataset already complete in {out_dir}',
                  logger='current')
        return dict(settings, generated=False, seconds=0.0)

    start = time.perf_counter()
    marker_path = osp.join(out_dir, MARKER_FILE)
    if osp.exists(marker_path):
        os.remove(marker_path)
    write_class_names(out_dir)
    for split, num in (('train', num_train), ('val', num_val)):
        write_split(out_dir, split, num, seed, num_frames, size, fps)
    with open(marker_path, 'w', encoding='utf-8') as f:
        json.dump(settings, f, indent=1)
    seconds = time.perf_counter() - start
    print_log(
        f'wrote demo dataset to {out_dir}: {num_train} train / {num_val} '
        f'val videos of {num_frames}x{size}x{size} in {seconds:.1f} s',
        logger='current')
    return dict(settings, generated=True, seconds=seconds)
