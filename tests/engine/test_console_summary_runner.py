"""tools/train.py and tools/test.py print a short console: the start-up
report (environment, whole config, hook table) goes to the log file only."""
import uuid

import torch
from mmengine.config import Config
from mmengine.model import BaseModel
from torch import nn

from dist_plugin.apis.runner import ConsoleSummaryRunner


class Tiny(BaseModel):

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(2, 2)

    def forward(self, inputs, data_samples=None, mode='tensor'):
        return self.fc(torch.as_tensor(inputs))


def test_startup_report_goes_to_the_log_file_only(tmp_path, capsys):
    cfg = Config(dict(marker_key_of_this_test=12345))
    runner = ConsoleSummaryRunner(
        model=Tiny(), work_dir=str(tmp_path), cfg=cfg,
        experiment_name=f'summary_{uuid.uuid4().hex[:8]}',
        default_scope='mmengine')
    runner.logger.info('after construction')
    runner.logger.warning('a warning')
    console = capsys.readouterr().out
    log_file = tmp_path / runner.timestamp / f'{runner.timestamp}.log'
    log = log_file.read_text()
    for report in ('System environment', 'marker_key_of_this_test',
                   'Hooks will be executed'):
        assert report in log and report not in console, report
    assert f'Environment, config and hooks: see {log_file}' in console
    # only the start-up report is kept off the console
    assert 'after construction' in console and 'a warning' in console
