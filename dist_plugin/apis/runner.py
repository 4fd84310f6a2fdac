"""Runner construction shared by tools/train.py and tools/test.py."""
from mmengine.config import Config
from mmengine.logging import MMLogger
from mmengine.model import is_model_wrapper
from mmengine.runner import Runner
from torch import nn

from dist_plugin.analysis.complexity import count_parameters


def build_runner(cfg: Config) -> Runner:
    """Build mmengine's Runner, or ``cfg.runner_type`` from the registry."""
    if 'runner_type' not in cfg:
        return Runner.from_cfg(cfg)
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
