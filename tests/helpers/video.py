"""Video files for tests: real MP4s that decord reads.

    from helpers.video import make_video_dataset
    files = make_video_dataset(tmp_path, num_per_class=2)
    dataset = dict(type='VideoDataset', ann_file=files.ann_file,
                   data_prefix=dict(video=files.data_root), pipeline=...)
"""
from typing import List, NamedTuple, Optional

import numpy as np

from dist_plugin.demo.make_dataset import (CLASS_NAMES, make_clip,
                                           write_class_names, write_split)
from dist_plugin.utils.video_io import read_video, write_video

__all__ = [
    'CLASS_NAMES', 'VideoDatasetFiles', 'make_motion_video',
    'make_random_video', 'make_video_dataset', 'read_video', 'write_video'
]


class VideoDatasetFiles(NamedTuple):
    """Paths of a dataset written by :func:`make_video_dataset`."""
    data_root: str  # use as data_prefix=dict(video=data_root)
    ann_file: str  # "videos_<split>/<name>.mp4 <label>" lines
    class_names_file: str  # one class name per line
    class_names: List[str]
    labels: List[int]  # label of each line of ann_file


def make_video_dataset(root: str,
                       num_per_class: int = 2,
                       num_classes: int = 4,
                       num_frames: int = 16,
                       size: int = 32,
                       seed: int = 0,
                       split: str = 'train') -> VideoDatasetFiles:
    """Write a small motion dataset (demo classes) in VideoDataset format.

    Args:
        root (str): Folder to write into (e.g. pytest's ``tmp_path``).
        num_per_class (int): Videos per class. Defaults to 2.
        num_classes (int): Classes, at most 4 (left->right, right->left,
            top->bottom, bottom->top). Defaults to 4.
        num_frames (int): Frames per video. Defaults to 16.
        size (int): Frame height and width. Defaults to 32.
        seed (int): Seed. Defaults to 0.
        split (str): ``'train'``, ``'val'`` or ``'test'``. Defaults to
            ``'train'``.

    Returns:
        VideoDatasetFiles: The paths, class names and labels.
    """
    root = str(root)
    ann_file = write_split(
        root,
        split,
        num_per_class * num_classes,
        seed=seed,
        num_frames=num_frames,
        size=size,
        num_classes=num_classes)
    names = list(CLASS_NAMES[:num_classes])
    names_file = write_class_names(root, names)
    with open(ann_file, encoding='utf-8') as f:
        labels = [int(line.split()[-1]) for line in f if line.strip()]
    return VideoDatasetFiles(root, ann_file, names_file, names, labels)


def make_motion_video(path: str,
                      label: int = 0,
                      num_frames: int = 16,
                      size: int = 32,
                      seed: int = 0,
                      fps: int = 8) -> np.ndarray:
    """Write one demo-class video to ``path``; return its frames."""
    frames = make_clip(label, np.random.default_rng(seed), num_frames, size)
    write_video(str(path), frames, fps=fps)
    return frames


def make_random_video(path: str,
                      num_frames: int = 16,
                      height: int = 32,
                      width: int = 32,
                      seed: int = 0,
                      fps: int = 8,
                      block: Optional[int] = 4) -> np.ndarray:
    """Write a video of random colour blocks; return its frames.

    Args:
        path (str): Output ``.mp4`` file.
        num_frames (int): Frames. Defaults to 16.
        height (int): Frame height. Defaults to 32.
        width (int): Frame width. Defaults to 32.
        seed (int): Seed. Defaults to 0.
        fps (int): Frame rate. Defaults to 8.
        block (int, optional): Side of the constant-colour blocks in pixels;
            None for per-pixel noise. Defaults to 4.

    Returns:
        np.ndarray: uint8 frames ``[T, H, W, 3]`` that were encoded.
    """
    rng = np.random.default_rng(seed)
    step = block or 1
    small = rng.integers(
        0, 256, size=(num_frames, -(-height // step), -(-width // step), 3))
    frames = small.repeat(step, 1).repeat(step, 2)[:, :height, :width]
    frames = np.ascontiguousarray(frames.astype(np.uint8))
    write_video(str(path), frames, fps=fps)
    return frames
