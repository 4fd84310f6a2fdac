"""Runner construction shared by tools/train.py and tools/test.py."""
import logging
import os.path as osp

from mmengine.config import Config
from mmengine.logging import MMLogger
from mmengine.model import is_model_wrapper
from mmengine.runner import Runner
from torch import nn

from dist_plugin.analysis.complexity import count_parameters


class _HideInfo(logging.Filter):
    """Drops INFO (and lower) records; warnings and errors pass."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno > logging.INFO


class ConsoleSummaryRunner(Runner):
    """mmengine's Runner whose start-up report (system environment, the
    whole config, the hook table: hundreds of lines) goes to the log file
    only; the console gets one line naming that file. Everything else is
    logged as usual. Not registered: :func:`build_runner` uses it directly.
    """

    def __init__(self, *args, **kwargs) -> None:
        self._console_filter = _HideInfo()
        try:
            super().__init__(*args, **kwargs)
        finally:
            for handler in self._console_handlers():
                handler.removeFilter(self._console_filter)
        log_file = osp.join(self.log_dir, f'{self.timestamp}.log')
        self.logger.info(f'Environment, config and hooks: see {log_file}')

    def _console_handlers(self) -> list:
        logger = getattr(self, 'logger', None)
        if logger is None:
            return []
        return [
            h for h in logger.handlers if isinstance(h, logging.StreamHandler)
            and not isinstance(h, logging.FileHandler)
        ]

    def _log_env(self, env_cfg: dict) -> None:
        """From here to the end of ``__init__``, INFO goes to the file."""
        for handler in self._console_handlers():
            handler.addFilter(self._console_filter)
        super()._log_env(env_cfg)


def build_runner(cfg: Config) -> Runner:
    """Build :class:`ConsoleSummaryRunner`, or ``cfg.runner_type`` from the
    registry."""
    if 'runner_type' not in cfg:
        return ConsoleSummaryRunner.from_cfg(cfg)
    from mmaction.registry import RUNNERS
    return RUNNERS.build(cfg)


def log_parameter_counts(model: nn.Module, logger: MMLogger) -> dict:
    """Log the total, trainable and frozen parameters of ``model``.

    Args:
        model (nn.Module): The (possibly DDP-wrapped) model.
        logger (MMLogger): Where to log.

    Returns:
        dict: :func:`count_parameters` of the unwrapped model.
    """
    if is_model_wrapper(model):
        model = model.module
    stats = count_parameters(model)
    logger.info(f"parameters: {stats['total'] / 1e6:.2f} M total, "
                f"{stats['trainable'] / 1e6:.2f} M trainable "
                f"({stats['trainable']:,}), {stats['frozen'] / 1e6:.2f} M "
                'frozen')
    return stats
