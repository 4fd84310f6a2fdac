"""Convert official DiST checkpoints when the Runner loads them."""
from mmaction.registry import HOOKS
from mmengine.hooks import Hook

from dist_plugin.apis.checkpoint import convert_loaded_checkpoint


@HOOKS.register_module()
class OfficialCheckpointHook(Hook):
    """Let ``load_from`` / ``tools/test.py CONFIG CHECKPOINT`` take official
    DiST checkpoints (any released layout) directly: they are converted to
    our keys after loading and before the weights reach the model."""

    priority = 'VERY_HIGH'

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        convert_loaded_checkpoint(checkpoint)
