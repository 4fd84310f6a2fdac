"""CheckpointKeysHook: testing a checkpoint that lacks weights of trainable
modules is an error naming them; stray keys are a warning naming them;
training from a partial checkpoint only warns. Real mmengine Runner."""
import logging
import uuid

import pytest
import torch
from mmengine.evaluator import BaseMetric
from mmengine.model import BaseModel
from mmengine.runner import Runner
from torch import nn
from torch.utils.data import Dataset

from dist_plugin.engine import CheckpointKeysHook
from dist_plugin.engine.checkpoint_keys_hook import (CheckpointMismatchError,
                                                     compare_keys)


class FrozenPlusHead(BaseModel):
    """A frozen 'backbone' and a trainable head, like DiST's split."""

    def __init__(self, hidden: int = 4) -> None:
        super().__init__()
        self.backbone = nn.Linear(4, hidden).requires_grad_(False)
        self.head = nn.Linear(hidden, 2)

    def forward(self, inputs, labels=None, mode='tensor'):
        logits = self.head(self.backbone(torch.stack(list(inputs))))
        if mode == 'loss':
            return dict(loss=nn.functional.cross_entropy(
                logits, torch.stack(list(labels))))
        return [dict(pred=int(p)) for p in logits.argmax(-1)]


class Toy(Dataset):

    def __len__(self):
        return 4

    def __getitem__(self, idx):
        return dict(inputs=torch.full((4, ), float(idx)), labels=idx % 2)


class Count(BaseMetric):

    def process(self, data_batch, data_samples):
        self.results.extend(data_samples)

    def compute_metrics(self, results):
        return dict(n=len(results))


def _runner(work_dir, load_from, train=False):
    loader = dict(dataset=Toy(), batch_size=2,
                  sampler=dict(type='DefaultSampler', shuffle=False),
                  collate_fn=dict(type='default_collate'))
    cfg = dict(
        model=FrozenPlusHead(), work_dir=str(work_dir),
        experiment_name=f'keys_{uuid.uuid4().hex[:8]}',
        test_dataloader=loader, test_evaluator=Count(), test_cfg=dict(),
        load_from=load_from, custom_hooks=[CheckpointKeysHook()],
        default_hooks=dict(checkpoint=None), default_scope='mmaction')
    if train:
        cfg.update(train_dataloader=loader,
                   train_cfg=dict(by_epoch=True, max_epochs=1),
                   optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.1)))
    return Runner(**cfg)


def _save(path, state):
    torch.save(dict(state_dict=state, meta=dict()), str(path))
    return str(path)


def test_complete_checkpoint_tests(tmp_path):
    state = FrozenPlusHead().state_dict()
    # only the trainable part is needed: frozen weights come from elsewhere
    del state['backbone.weight'], state['backbone.bias']
    runner = _runner(tmp_path, _save(tmp_path / 'ok.pth', state))
    assert runner.test() == dict(n=4)


def test_missing_trainable_weights_fail_the_test_naming_them(tmp_path):
    state = FrozenPlusHead().state_dict()
    del state['head.weight']
    runner = _runner(tmp_path, _save(tmp_path / 'partial.pth', state))
    with pytest.raises(CheckpointMismatchError,
                       match=r'partial\.pth lacks weights of trainable '
                       r'modules of this model \(1 missing\): head\.weight'):
        runner.test()


def test_wrong_shape_counts_as_missing(tmp_path):
    state = FrozenPlusHead(hidden=8).state_dict()  # head [2, 8], not [2, 4]
    report = compare_keys(FrozenPlusHead(), state)
    assert report.mismatched_trainable == ['head.weight']
    assert report.missing_trainable == [] and report.unexpected == []
    runner = _runner(tmp_path, _save(tmp_path / 'other.pth', state))
    with pytest.raises(CheckpointMismatchError,
                       match=r'\(1 with another shape\): head\.weight'):
        runner.test()


class ListHandler(logging.Handler):

    def __init__(self):
        super().__init__()
        self.messages = []

    def emit(self, record):
        self.messages.append(record.getMessage())


def test_stray_keys_warn_naming_them(tmp_path):
    state = FrozenPlusHead().state_dict()
    state['module.neck.proj'] = torch.zeros(2)  # 'module.' is stripped
    runner = _runner(tmp_path, _save(tmp_path / 'stray.pth', state))
    handler = ListHandler()
    runner.logger.addHandler(handler)  # MMLogger does not propagate
    try:
        assert runner.test() == dict(n=4)
    finally:
        runner.logger.removeHandler(handler)
    assert any('1 key(s) that the model does not have' in m
               and 'neck.proj' in m for m in handler.messages), \
        handler.messages


def test_training_from_a_partial_checkpoint_only_warns(tmp_path):
    state = FrozenPlusHead().state_dict()
    del state['head.bias']
    runner = _runner(tmp_path, _save(tmp_path / 'init.pth', state),
                     train=True)
    runner.train()
    assert runner.epoch == 1
