"""Runner construction shared by tools/train.py and tools/test.py."""
from mmengine.config import Config
from mmengine.runner import Runner


def build_runner(cfg: Config) -> Runner:
    """Build mmengine's Runner, or ``cfg.runner_type`` from the registry."""
    if 'runner_type' not in cfg:
        return Runner.from_cfg(cfg)
    from mmaction.registry import RUNNERS
    return RUNNERS.build(cfg)
