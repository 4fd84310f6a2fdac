"""A tiny DiST through mmengine's real Runner: train + val + test on
generated video files decoded by decord."""
import json
import os.path as osp

import pytest
import torch
from helpers.tiny_models import tiny_dist_model
from helpers.video import make_video_dataset
from mmengine.config import Config
from mmengine.runner import Runner


def _pipeline(num_clips: int, test_mode: bool):
    return [
        dict(type='DecordInit'),
        dict(type='UniformSample', clip_len=8, num_clips=num_clips,
             test_mode=test_mode),
        dict(type='DecordDecode'),
        dict(type='Resize', scale=(32, 32), keep_ratio=False),
        dict(type='FormatShape', input_format='NCTHW'),
        dict(type='PackActionInputs')
    ]


def _loader(files, pipeline, test_mode, batch_size=4):
    return dict(
        batch_size=batch_size,
        num_workers=0,
        sampler=dict(type='DefaultSampler', shuffle=not test_mode),
        dataset=dict(
            type='RobustVideoDataset',
            ann_file=files.ann_file,
            data_prefix=dict(video=files.data_root),
            num_classes=len(files.class_names),
            pipeline=pipeline,
            test_mode=test_mode))


def tiny_runner_cfg(tmp_path, train, val, max_epochs=2):
    model = tiny_dist_model(
        num_classes=len(train.class_names), class_names=train.class_names)
    return Config(
        dict(
            default_scope='mmaction',
            custom_imports=dict(imports=['dist_plugin']),
            model=model,
            work_dir=str(tmp_path / 'work'),
            train_dataloader=_loader(train, _pipeline(1, False), False),
            val_dataloader=_loader(val, _pipeline(1, True), True),
            test_dataloader=_loader(val, _pipeline(3, True), True, 2),
            train_cfg=dict(
                type='EpochBasedTrainLoop', max_epochs=max_epochs,
                val_interval=1),
            val_cfg=dict(type='ValLoop'),
            test_cfg=dict(type='TestLoop'),
            val_evaluator=dict(
                type='AccMetric',
                metric_list=('top_k_accuracy', 'mean_class_accuracy')),
            test_evaluator=dict(
                type='AccMetric',
                metric_list=('top_k_accuracy', 'mean_class_accuracy')),
            optim_wrapper=dict(
                constructor='TrainableOnlyOptimWrapperConstructor',
                optimizer=dict(type='AdamW', lr=1e-3, weight_decay=1e-4)),
            param_scheduler=[
                dict(type='LinearLR', start_factor=0.1, by_epoch=True,
                     begin=0, end=1, convert_to_iter_based=True)
            ],
            default_hooks=dict(
                checkpoint=dict(type='CheckpointHook', interval=1),
                logger=dict(type='LoggerHook', interval=1)),
            env_cfg=dict(dist_cfg=dict(backend='gloo')),
            randomness=dict(seed=0),
            log_level='WARNING'))


@pytest.fixture(scope='module')
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp('videos')
    train = make_video_dataset(str(root), num_per_class=3, num_classes=2,
                               split='train', seed=1)
    val = make_video_dataset(str(root), num_per_class=2, num_classes=2,
                             split='val', seed=2)
    return train, val


def test_train_val_test(tmp_path, data):
    train, val = data
    cfg = tiny_runner_cfg(tmp_path, train, val)
    runner = Runner.from_cfg(cfg)
    clip_before = {
        k: v.clone()
        for k, v in runner.model.backbone.state_dict().items()
    }
    neck_before = runner.model.neck.proj.detach().clone()
    runner.train()
    work = tmp_path / 'work'
    assert osp.isfile(work / 'epoch_2.pth')
    assert (work / 'last_checkpoint').read_text().strip().endswith(
        'epoch_2.pth')
    # CLIP did not move, the new modules did
    for k, v in runner.model.backbone.state_dict().items():
        assert torch.equal(v, clip_before[k]), k
    assert not torch.equal(runner.model.neck.proj, neck_before)
    scalars = [
        json.loads(line) for line in open(
            next(work.glob('*/vis_data/scalars.json')), encoding='utf-8')
    ]
    losses = [s['loss'] for s in scalars if 'loss' in s]
    assert len(losses) == 4 and all(0 < l < 10 for l in losses)
    val_rows = [s for s in scalars if 'acc/top1' in s]
    assert len(val_rows) == 2
    assert all(0 <= r['acc/top1'] <= 1 for r in val_rows)

    test_cfg = tiny_runner_cfg(tmp_path / 'test', train, val)
    test_cfg.load_from = str(work / 'epoch_2.pth')
    tester = Runner.from_cfg(test_cfg)
    metrics = tester.test()
    assert set(metrics) >= {'acc/top1', 'acc/top5', 'acc/mean1'}
    assert metrics['acc/top5'] == 1.0  # 2 classes
    # the loaded weights are the trained ones
    torch.testing.assert_close(tester.model.neck.proj,
                               runner.model.neck.proj)
