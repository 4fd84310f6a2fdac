"""Video writing and the motion-only demo dataset."""
import json
import os
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from dist_plugin.demo.make_dataset import (CLASS_NAMES, MARKER_FILE,
                                           generate_demo_dataset, make_clip)
from dist_plugin.utils.video_io import read_video, write_video
from helpers.video import make_random_video, make_video_dataset

REPO_ROOT = Path(__file__).resolve().parents[2]
DEMO_DATA_CONFIG = REPO_ROOT / 'configs' / 'demo' / '_demo_data.py'


def _max_abs_diff(a: np.ndarray, b: np.ndarray) -> int:
    return int(np.abs(a.astype(np.int16) - b.astype(np.int16)).max())


# ---------------------------------------------------------------- video_io
def test_write_video_roundtrip_decord_and_pyav(tmp_path):
    # odd size on purpose: libx264 4:4:4 accepts it
    frames = make_random_video(
        tmp_path / 'v.mp4', num_frames=12, height=33, width=31, block=None)
    by_decord = read_video(str(tmp_path / 'v.mp4'), backend='decord')
    by_pyav = read_video(str(tmp_path / 'v.mp4'), backend='pyav')
    assert by_decord.shape == (12, 33, 31, 3)
    assert by_decord.dtype == np.uint8
    # near-lossless: only RGB <-> YUV rounding, even on per-pixel noise
    assert _max_abs_diff(by_decord, frames) <= 3
    np.testing.assert_array_equal(by_decord, by_pyav)


def test_write_video_single_frame_and_opencv_fallback(tmp_path):
    one = make_random_video(tmp_path / 'one.mp4', num_frames=1)
    assert read_video(str(tmp_path / 'one.mp4')).shape == (1, 32, 32, 3)
    assert _max_abs_diff(read_video(str(tmp_path / 'one.mp4')), one) <= 3

    rng = np.random.default_rng(0)
    blocks = rng.integers(0, 256, (10, 4, 4, 3)).astype(np.uint8)
    smooth = blocks.repeat(8, 1).repeat(8, 2)  # [10, 32, 32, 3]
    path = write_video(str(tmp_path / 'cv.mp4'), smooth, codec='opencv')
    decoded = read_video(path)
    assert decoded.shape == smooth.shape
    # lossy MPEG-4 part 2, but close on average
    err = np.abs(decoded.astype(np.float64) - smooth).mean()
    assert err < 12, err


def test_write_video_rejects_bad_input(tmp_path):
    with pytest.raises(TypeError):
        write_video(str(tmp_path / 'a.mp4'), np.zeros((2, 8, 8, 3)))
    with pytest.raises(ValueError):
        write_video(str(tmp_path / 'a.mp4'), np.zeros((8, 8, 3), np.uint8))
    with pytest.raises(ValueError):
        write_video(
            str(tmp_path / 'a.mp4'), np.zeros((2, 8, 8, 3), np.uint8),
            codec='h265')


# ------------------------------------------------------------- clip design
@pytest.mark.parametrize('seed', [0, 1, 7])
def test_reversed_and_transposed_pairs(seed):
    clips = [
        make_clip(label, np.random.default_rng(seed), num_frames=16, size=32)
        for label in range(4)
    ]
    for clip in clips:
        assert clip.shape == (16, 32, 32, 3) and clip.dtype == np.uint8
    # a clip played backwards is the opposite class
    np.testing.assert_array_equal(clips[0][::-1], clips[1])
    np.testing.assert_array_equal(clips[2][::-1], clips[3])
    # vertical classes are the horizontal ones with x and y swapped
    np.testing.assert_array_equal(clips[0].transpose(0, 2, 1, 3), clips[2])
    # and the object does move: first and last frames differ
    assert _max_abs_diff(clips[0][0], clips[0][-1]) > 0


def _motion_slopes(clip: np.ndarray):
    """Slope over time of the x / y centroid of frame differences."""
    diff = np.abs(np.diff(clip.astype(np.int16), axis=0)).sum(-1)
    ys, xs = np.mgrid[:clip.shape[1], :clip.shape[2]]
    times, cx, cy = [], [], []
    for t, d in enumerate(diff):
        if d.sum() > 0:
            times.append(t)
            cx.append((d * xs).sum() / d.sum())
            cy.append((d * ys).sum() / d.sum())
    return np.polyfit(times, cx, 1)[0], np.polyfit(times, cy, 1)[0]


def _predict_from_motion(clip: np.ndarray) -> int:
    sx, sy = _motion_slopes(clip)
    if abs(sx) >= abs(sy):
        return 0 if sx > 0 else 1
    return 2 if sy > 0 else 3


def _frame_stats(frame: np.ndarray) -> np.ndarray:
    gray = frame.astype(np.float64).mean(-1)
    ys, xs = np.mgrid[:gray.shape[0], :gray.shape[1]]
    dev = np.abs(gray - np.median(gray))
    return np.array([
        gray.mean(),
        np.abs(np.diff(gray, axis=1)).mean(),  # horizontal edge energy
        np.abs(np.diff(gray, axis=0)).mean(),  # vertical edge energy
        (dev * xs).sum() / dev.sum(),  # salient-x centroid
        (dev * ys).sum() / dev.sum(),  # salient-y centroid
    ])


def test_single_frames_do_not_tell_the_class_but_motion_does():
    num_per_class = 150
    frame_rng = np.random.default_rng(123)
    stats = {label: [] for label in range(4)}
    for label in range(4):
        for idx in range(num_per_class):
            clip = make_clip(label, np.random.default_rng([label, idx]))
            assert _predict_from_motion(clip) == label
            # one random frame per (independent) clip
            frame = clip[frame_rng.integers(len(clip))]
            stats[label].append(_frame_stats(frame))
    # every per-frame statistic has the same distribution in every class
    # (two-sample Kolmogorov-Smirnov; y fixed mid-frame instead of following
    # x's law gives p ~ 1e-8 on the centroids)
    from scipy.stats import ks_2samp
    all_stats = {k: np.stack(v) for k, v in stats.items()}
    for a in range(4):
        for b in range(a + 1, 4):
            for j in range(all_stats[a].shape[1]):
                p_value = ks_2samp(all_stats[a][:, j],
                                   all_stats[b][:, j]).pvalue
                assert p_value > 1e-3, (a, b, j, p_value)


# ------------------------------------------------------------------ dataset
def test_generate_demo_dataset_files(tmp_path):
    out = tmp_path / 'demo'
    info = generate_demo_dataset(
        str(out), seed=3, num_train=8, num_val=4, num_frames=16, size=32)
    assert info['generated']
    assert (out / 'classnames.txt').read_text().splitlines() == list(
        CLASS_NAMES)
    for split, num in (('train', 8), ('val', 4)):
        lines = (out / f'{split}_list.txt').read_text().splitlines()
        assert len(lines) == num
        labels = [int(line.split()[1]) for line in lines]
        assert Counter(labels) == {k: num // 4 for k in range(4)}
        for line in lines:
            rel, label = line.split()
            assert rel.startswith(f'videos_{split}/')
            frames = read_video(str(out / rel), backend='decord')
            assert frames.shape == (16, 32, 32, 3)
            assert _predict_from_motion(frames) == int(label)
    # deterministic: the first training video is make_clip with its seed
    first = read_video(str(out / 'videos_train/train_00000.mp4'))
    expected = make_clip(0, np.random.default_rng([3, 0, 0]), 16, 32)
    assert _max_abs_diff(first, expected) <= 3
    # train and val clips are different draws
    val_first = read_video(str(out / 'videos_val/val_00000.mp4'))
    assert _max_abs_diff(first, val_first) > 10


def test_generate_demo_dataset_runs_once(tmp_path):
    out = tmp_path / 'demo'
    kwargs = dict(seed=0, num_train=4, num_val=4)
    generate_demo_dataset(str(out), **kwargs)
    marker = json.loads((out / MARKER_FILE).read_text())
    assert marker['num_train'] == 4 and marker['seed'] == 0
    video = out / 'videos_train' / 'train_00000.mp4'
    os.utime(video, (1, 1))
    again = generate_demo_dataset(str(out), **kwargs)
    assert not again['generated']
    assert video.stat().st_mtime == 1  # untouched
    # other settings regenerate
    bigger = generate_demo_dataset(str(out), seed=0, num_train=8, num_val=4)
    assert bigger['generated']
    assert len((out / 'train_list.txt').read_text().splitlines()) == 8
    assert video.stat().st_mtime != 1


def test_make_video_dataset_helper(tmp_path):
    files = make_video_dataset(tmp_path, num_per_class=2, num_classes=2)
    assert files.labels == [0, 1, 0, 1]
    assert files.class_names == list(CLASS_NAMES[:2])
    with open(files.ann_file) as f:
        paths = [line.split()[0] for line in f]
    assert all(
        read_video(os.path.join(files.data_root, p)).shape == (16, 32, 32, 3)
        for p in paths)


# ------------------------------------------------- demo data config + mmaction
def _build_dataset(cfg_dataset: dict, files, pipeline_override=None):
    from mmengine.registry import init_default_scope

    import dist_plugin.datasets.transforms  # noqa: F401  registers
    import mmaction.datasets  # noqa: F401
    from mmaction.registry import DATASETS
    init_default_scope('mmaction')
    cfg = dict(cfg_dataset)
    cfg['ann_file'] = files.ann_file
    cfg['data_prefix'] = dict(video=files.data_root)
    pipeline = [dict(step) for step in cfg['pipeline']]
    for step in pipeline:
        if step['type'] == 'FlipWithLabelSwap':
            step['class_names'] = files.class_names_file
            step.update(pipeline_override or {})
    cfg['pipeline'] = pipeline
    return DATASETS.build(cfg)


def test_demo_data_config_pipelines(tmp_path):
    from mmengine.config import Config
    cfg = Config.fromfile(str(DEMO_DATA_CONFIG))
    assert cfg.data_root == 'data/demo'
    assert cfg.num_classes == len(CLASS_NAMES)
    # No flip at all: a mirrored clip has its shading on the wrong side,
    # and a plain Flip would also turn class 0 into class 1.
    types = [step['type'] for step in cfg.train_dataloader.dataset.pipeline]
    assert 'Flip' not in types and 'FlipWithLabelSwap' not in types

    files = make_video_dataset(tmp_path, num_per_class=1, seed=5)
    test_set = _build_dataset(cfg.test_dataloader.dataset, files)
    sample = test_set[0]
    assert tuple(sample['inputs'].shape) == (3, 3, 8, 32, 32)  # views,C,T,H,W
    assert int(sample['data_samples'].gt_label) == 0

    val_set = _build_dataset(cfg.val_dataloader.dataset, files)
    assert tuple(val_set[1]['inputs'].shape) == (1, 3, 8, 32, 32)

    train_set = _build_dataset(cfg.train_dataloader.dataset, files)
    assert [int(train_set[i]['data_samples'].gt_label)
            for i in range(4)] == [0, 1, 2, 3]
