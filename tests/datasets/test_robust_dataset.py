"""RobustVideoDataset, SkipReportHook and RobustAccMetric on real broken files.

Each test writes good MP4s (constant grey frames whose level encodes the
label) next to a truncated MP4, an empty file, a text file named ``.mp4`` and
a missing entry.
"""
import logging
from collections import Counter

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from helpers.video import write_video
from mmaction.structures import ActionDataSample
from mmengine.dataset import pseudo_collate
from mmengine.logging import MMLogger
from mmengine.model import BaseModel
from mmengine.registry import init_default_scope
from mmengine.runner import Runner
from torch import nn
from torch.utils.data import DataLoader

from dist_plugin.datasets import (AnnotationError, BadVideoDataError,
                                  RobustVideoDataset)
from dist_plugin.engine.skip_report_hook import SkipReportHook
from dist_plugin.evaluation import RobustAccMetric

NUM_CLASSES = 3
BAD = ('trunc.mp4', 'empty.mp4', 'text.mp4', 'missing.mp4')
PIPELINE = [
    dict(type='DecordInit', num_threads=1),
    dict(type='SampleFrames', clip_len=4, frame_interval=1, num_clips=1),
    dict(type='DecordDecode'),
    dict(type='CenterCrop', crop_size=32),
    dict(type='FormatShape', input_format='NCTHW'),
    dict(type='PackActionInputs'),
]


def grey_level(label: int) -> int:
    return 40 + 80 * label


def write_dataset(root, num_good: int = 6, bad=BAD, bad_first: bool = False):
    """Write good and broken videos; return (ann_file, video_dir)."""
    video_dir = root / 'videos'
    video_dir.mkdir(exist_ok=True)
    lines = []
    for i in range(num_good):
        label = i % NUM_CLASSES
        frames = np.full((16, 32, 32, 3), grey_level(label), np.uint8)
        write_video(str(video_dir / f'good{i}.mp4'), frames, fps=8)
        lines.append(f'good{i}.mp4 {label}')
    long = np.full((48, 32, 32, 3), 90, np.uint8)
    write_video(str(video_dir / 'long.mp4'), long, fps=8)
    data = (video_dir / 'long.mp4').read_bytes()
    (video_dir / 'long.mp4').unlink()
    broken = {
        'trunc.mp4': data[:len(data) // 2],
        'empty.mp4': b'',
        'text.mp4': b'this is a text file, not a video\n' * 4,
    }
    bad_lines = []
    for i, name in enumerate(bad):
        if name in broken:
            (video_dir / name).write_bytes(broken[name])
        bad_lines.append(f'{name} {i % NUM_CLASSES}')
    lines = bad_lines + lines if bad_first else lines + bad_lines
    ann = root / 'ann.txt'
    ann.write_text('\n'.join(lines) + '\n')
    return str(ann), str(video_dir)


class FirstIndexRedraw(RobustVideoDataset):
    """Redraw deterministically (``redraw_index``) to make counts exact."""

    redraw_index = 0

    def _rand_another(self) -> int:
        return self.redraw_index


class MeanModel(BaseModel):
    """Logits from the mean grey level; trains with cross-entropy."""

    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(1, NUM_CLASSES)

    def forward(self, inputs, data_samples=None, mode='tensor'):
        x = torch.stack([i.float().mean().reshape(1) / 255 for i in inputs])
        logits = self.fc(x)
        if mode == 'loss':
            labels = torch.cat([s.gt_label for s in data_samples])
            return dict(loss=F.cross_entropy(logits, labels))
        return logits


class OracleModel(BaseModel):
    """Predicts the label encoded in the grey level (zero input -> 0)."""

    def forward(self, inputs, data_samples=None, mode='tensor'):
        outputs = []
        for x, sample in zip(inputs, data_samples):
            level = float(x.float().mean())
            pred = min(max(round((level - 40) / 80), 0), NUM_CLASSES - 1)
            sample.set_pred_score(F.one_hot(torch.tensor(pred),
                                            NUM_CLASSES).float())
            outputs.append(sample)
        return outputs


@pytest.fixture
def log_records():
    """Messages logged through the current MMLogger."""
    records = []

    class ListHandler(logging.Handler):

        def emit(self, record):
            records.append(record.getMessage())

    logger = MMLogger.get_current_instance()
    handler = ListHandler(level=logging.WARNING)
    logger.addHandler(handler)
    yield records
    logger.removeHandler(handler)


def skipped_of(sample):
    return sample['data_samples'].metainfo['skipped_videos']


def test_train_skips_bad_videos_with_warning(tmp_path, log_records):
    ann, video_dir = write_dataset(tmp_path)
    dataset = FirstIndexRedraw(
        ann, PIPELINE, data_prefix=dict(video=video_dir),
        num_classes=NUM_CLASSES)
    assert len(dataset) == 10
    samples = [dataset[i] for i in range(len(dataset))]
    # Good entries load themselves; each bad entry is replaced by entry 0.
    levels = [float(s['inputs'].float().mean()) for s in samples]
    labels = [int(s['data_samples'].gt_label) for s in samples]
    assert labels == [0, 1, 2, 0, 1, 2, 0, 0, 0, 0]
    for level, label in zip(levels, labels):
        assert abs(level - grey_level(label)) < 3
    assert [skipped_of(s) for s in samples] == [()] * 6 + [
        (f'{video_dir}/{name}', ) for name in BAD]
    for name in BAD:
        assert any(f'{video_dir}/{name}' in m and 'skipped' in m
                   for m in log_records)
    assert dataset.load_stats()['loaded'] == 10
    assert dataset.load_stats()['failed'] == 4


def test_random_redraw_never_returns_a_bad_video(tmp_path):
    ann, video_dir = write_dataset(tmp_path)
    dataset = RobustVideoDataset(
        ann, PIPELINE, data_prefix=dict(video=video_dir),
        num_classes=NUM_CLASSES, max_bad_fraction=0.9)
    np.random.seed(1)
    skipped = []
    for i in range(len(dataset)):
        sample = dataset[i]
        label = int(sample['data_samples'].gt_label)
        level = float(sample['inputs'].float().mean())
        assert abs(level - grey_level(label)) < 3
        skipped.extend(skipped_of(sample))
    assert set(skipped) == {f'{video_dir}/{name}' for name in BAD}
    assert len(skipped) == dataset.load_stats()['failed']


def test_skip_counts_survive_dataloader_workers(tmp_path):
    ann, video_dir = write_dataset(tmp_path)
    dataset = FirstIndexRedraw(
        ann, PIPELINE, data_prefix=dict(video=video_dir),
        num_classes=NUM_CLASSES)
    loader = DataLoader(
        dataset, batch_size=2, num_workers=2, collate_fn=pseudo_collate)
    skipped, labels = [], []
    for batch in loader:
        for sample in batch['data_samples']:
            skipped.extend(sample.metainfo['skipped_videos'])
            labels.append(int(sample.gt_label))
    assert Counter(skipped) == Counter(f'{video_dir}/{n}' for n in BAD)
    assert labels == [0, 1, 2, 0, 1, 2, 0, 0, 0, 0]
    # The workers counted, not the main process's copy.
    assert dataset.load_stats() == dict(
        loaded=0, failed=0, failed_files=[])


def test_wrong_data_root_fails_fast_naming_it(tmp_path):
    ann, _ = write_dataset(tmp_path)
    wrong_root = str(tmp_path / 'no_such_dir')
    dataset = RobustVideoDataset(
        ann, PIPELINE, data_prefix=dict(video=wrong_root),
        num_classes=NUM_CLASSES, min_bad_count=5)
    with pytest.raises(BadVideoDataError) as info:
        dataset[0]
    message = str(info.value)
    assert 'none of the first 5 videos could be loaded' in message
    assert wrong_root in message
    assert dataset.load_stats()['failed'] == 5
    # Same error, same message, out of a dataloader worker.
    loader = DataLoader(dataset, batch_size=2, num_workers=1,
                        collate_fn=pseudo_collate)
    with pytest.raises(BadVideoDataError, match='Is the data root right'):
        next(iter(loader))


def test_fraction_rule_counts_after_min_bad_count(tmp_path):
    ann, video_dir = write_dataset(
        tmp_path, num_good=4,
        bad=('m1.mp4', 'm2.mp4', 'm3.mp4', 'm4.mp4', 'm5.mp4'))
    dataset = FirstIndexRedraw(
        ann, PIPELINE, data_prefix=dict(video=video_dir),
        num_classes=NUM_CLASSES, max_bad_fraction=0.3, min_bad_count=3)
    # 4 loads succeed; then each bad entry fails before its redraw loads:
    # 1 of 5, 2 of 7 (below min_bad_count), 3 of 9 = 33% > 30% raises.
    for i in range(6):
        dataset[i]
    assert dataset.load_stats()['failed'] == 2
    with pytest.raises(BadVideoDataError, match='3 of 9 video loads'):
        dataset[6]


def test_garbage_input_is_skipped(tmp_path):
    ann, video_dir = write_dataset(tmp_path, num_good=3, bad=())

    def poison(results):
        if results['filename'].endswith('good1.mp4'):
            results['imgs'] = [
                frame.astype(np.float32) * np.nan for frame in results['imgs']
            ]
        return results

    pipeline = PIPELINE[:3] + [poison] + PIPELINE[3:]
    dataset = FirstIndexRedraw(
        ann, pipeline, data_prefix=dict(video=video_dir),
        num_classes=NUM_CLASSES, max_bad_fraction=0.9)
    sample = dataset[1]
    assert skipped_of(sample) == (f'{video_dir}/good1.mp4', )
    assert int(sample['data_samples'].gt_label) == 0


def test_annotation_errors_stop_the_build(tmp_path):
    ann, video_dir = write_dataset(tmp_path, num_good=3, bad=())
    with open(ann, 'a') as f:
        f.write('good0.mp4 3\n')
    init_default_scope('mmaction')
    from mmaction.registry import DATASETS
    cfg = dict(type='RobustVideoDataset', ann_file=ann, pipeline=PIPELINE,
               data_prefix=dict(video=video_dir), num_classes=NUM_CLASSES)
    with pytest.raises(AnnotationError) as info:
        DATASETS.build(cfg)
    assert f'{ann}:4: label 3 is out of range (must be [0, 3))' in str(
        info.value)


def test_test_mode_flags_failed_videos_keeps_length(tmp_path):
    ann, video_dir = write_dataset(tmp_path, bad_first=True)
    dataset = RobustVideoDataset(
        ann, PIPELINE, data_prefix=dict(video=video_dir),
        num_classes=NUM_CLASSES, test_mode=True, max_bad_fraction=0.9)
    samples = [dataset[i] for i in range(len(dataset))]
    assert len(samples) == 10
    flags = [s['data_samples'].metainfo['decode_failed'] for s in samples]
    assert flags == [True] * 4 + [False] * 6
    for sample, name, label in zip(samples, BAD, [0, 1, 2, 0]):
        assert sample['inputs'].shape == samples[-1]['inputs'].shape
        assert int(sample['inputs'].abs().sum()) == 0
        assert sample['data_samples'].metainfo['filename'] == (
            f'{video_dir}/{name}')
        assert int(sample['data_samples'].gt_label) == label


def test_robust_acc_metric_counts_unscored_as_wrong(tmp_path, log_records):
    metric = RobustAccMetric(metric_list=('top_k_accuracy',
                                          'mean_class_accuracy'),
                             metric_options=dict(
                                 top_k_accuracy=dict(topk=(1, 3))))
    samples = []
    # 6 scored (5 right, 1 wrong) and 2 unscored whose "prediction" is right.
    for i, (label, pred, failed) in enumerate([(0, 0, 0), (1, 1, 0),
                                              (2, 2, 0), (0, 0, 0),
                                              (1, 1, 0), (2, 0, 0),
                                              (0, 0, 1), (1, 1, 1)]):
        sample = ActionDataSample().set_gt_label(label)
        sample.set_pred_score(F.one_hot(torch.tensor(pred), 3).float())
        sample.set_metainfo(dict(decode_failed=bool(failed),
                                 filename=f'v{i}.mp4'))
        samples.append(sample.to_dict())
    metric.process({}, samples)
    metrics = metric.compute_metrics(metric.results)
    assert metrics['top1'] == pytest.approx(5 / 8)
    assert metrics['top3'] == pytest.approx(6 / 8)  # not 1.0 with K=3
    assert metrics['mean1'] == pytest.approx(np.mean([2 / 3, 2 / 3, 1 / 2]))
    assert metrics['unscored'] == 2
    assert any('2 of 8 videos could not be decoded' in m and 'v6.mp4' in m
               and 'v7.mp4' in m for m in log_records)


def _runner(tmp_path, model, **kwargs):
    return Runner(
        model=model,
        work_dir=str(tmp_path / 'work'),
        default_scope='mmaction',
        default_hooks=dict(logger=dict(type='LoggerHook', interval=1),
                           checkpoint=None),
        custom_hooks=[dict(type='SkipReportHook')],
        env_cfg=dict(dist_cfg=dict(backend='gloo')),
        **kwargs)


def test_runner_reports_skips_per_epoch_with_workers(tmp_path):
    ann, video_dir = write_dataset(tmp_path)
    dataset = FirstIndexRedraw(
        ann, PIPELINE, data_prefix=dict(video=video_dir),
        num_classes=NUM_CLASSES)
    loader = DataLoader(dataset, batch_size=2, num_workers=2,
                        collate_fn=pseudo_collate, persistent_workers=True)
    runner = _runner(
        tmp_path, MeanModel(), train_dataloader=loader,
        train_cfg=dict(by_epoch=True, max_epochs=2),
        optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.1)))
    runner.train()
    hub = runner.message_hub
    assert hub.get_info('skip_report/train_skipped') == 4
    assert hub.get_info('skip_report/train_skipped_files') == sorted(
        f'{video_dir}/{n}' for n in BAD)
    assert hub.get_info('skip_report/train_skipped_total') == 8
    assert hub.get_info('skip_report/train_loaded_total') == 20
    log_file = next(h.baseFilename for h in runner.logger.handlers
                    if isinstance(h, logging.FileHandler))
    log = open(log_file).read()
    assert log.count('SkipReportHook (epoch 2): skipped 4 failed video '
                     'loads (4 files) out of 14 (28.57%)') == 1


def test_hook_enforces_fraction_over_all_workers(tmp_path):
    # Bad entries 0 and 2 land in different workers (batches of 2
    # alternate), so no worker alone reaches min_bad_count=2.
    ann, video_dir = write_dataset(
        tmp_path, num_good=8, bad=('m1.mp4', 'm2.mp4'), bad_first=True)
    lines = open(ann).read().split('\n')
    lines[1], lines[2] = lines[2], lines[1]
    open(ann, 'w').write('\n'.join(lines))
    dataset = FirstIndexRedraw(
        ann, PIPELINE, data_prefix=dict(video=video_dir),
        num_classes=NUM_CLASSES, max_bad_fraction=0.1, min_bad_count=2)
    dataset.redraw_index = 9
    loader = DataLoader(dataset, batch_size=2, num_workers=2,
                        collate_fn=pseudo_collate)
    runner = _runner(
        tmp_path, MeanModel(), train_dataloader=loader,
        train_cfg=dict(by_epoch=True, max_epochs=1),
        optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.1)))
    with pytest.raises(BadVideoDataError,
                       match=r'SkipReportHook: 2 of 12 video loads failed'):
        runner.train()


def test_runner_test_counts_unscored_and_keeps_denominator(tmp_path):
    ann, video_dir = write_dataset(tmp_path)
    dataset = RobustVideoDataset(
        ann, PIPELINE, data_prefix=dict(video=video_dir),
        num_classes=NUM_CLASSES, test_mode=True, max_bad_fraction=0.9)
    loader = DataLoader(dataset, batch_size=2, num_workers=2,
                        collate_fn=pseudo_collate)
    runner = _runner(
        tmp_path, OracleModel(), test_dataloader=loader,
        test_cfg=dict(type='TestLoop'),
        test_evaluator=[
            dict(type='RobustAccMetric', metric_options=dict(
                top_k_accuracy=dict(topk=(1, ))), prefix='robust'),
            dict(type='AccMetric', metric_options=dict(
                top_k_accuracy=dict(topk=(1, ))), prefix='plain')
        ])
    metrics = runner.test()
    # The oracle is right on the 6 good videos; plain AccMetric also credits
    # the zero inputs of the two bad videos labelled 0.
    assert metrics['robust/top1'] == pytest.approx(6 / 10)
    assert metrics['robust/unscored'] == 4
    assert metrics['plain/top1'] == pytest.approx(8 / 10)
    assert runner.message_hub.get_info('skip_report/test_unscored') == 4
    assert runner.message_hub.get_info(
        'skip_report/test_unscored_files') == sorted(
            f'{video_dir}/{n}' for n in BAD)


def _gather_on_rank(rank: int, init_file: str, queue) -> None:
    import torch.distributed as dist
    dist.init_process_group(
        'gloo', init_method=f'file://{init_file}', rank=rank, world_size=2)
    merged, count = SkipReportHook._gather([f'r{rank}.mp4'] * (rank + 1),
                                           10 + rank)
    queue.put((rank, sorted(merged), count))
    dist.destroy_process_group()


def test_hook_sums_counts_over_ranks(tmp_path):
    import multiprocessing
    ctx = multiprocessing.get_context('fork')
    queue = ctx.Queue()
    init_file = str(tmp_path / 'dist_init')
    procs = [
        ctx.Process(target=_gather_on_rank, args=(rank, init_file, queue))
        for rank in range(2)
    ]
    for proc in procs:
        proc.start()
    results = sorted(queue.get(timeout=60) for _ in procs)
    for proc in procs:
        proc.join(timeout=60)
        assert proc.exitcode == 0
    expected = (['r0.mp4', 'r1.mp4', 'r1.mp4'], 21)
    assert [(merged, count) for _, merged, count in results] == [expected] * 2
