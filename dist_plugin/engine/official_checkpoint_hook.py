"""Convert official checkpoints (DiST, EVL) when the Runner loads them."""
from mmaction.registry import HOOKS
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper

from dist_plugin.apis.checkpoint import convert_loaded_checkpoint


@HOOKS.register_module()
class OfficialCheckpointHook(Hook):
    """Let ``load_from`` / ``tools/test.py CONFIG CHECKPOINT`` take official
    checkpoints (DiST, EVL; any released layout) directly: they are
    converted to our keys after loading and before the weights reach the
    model. Weights of another method or size are refused with a clear error
    (mmengine itself would only log the mismatch)."""

    priority = 'VERY_HIGH'

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        model = getattr(runner, 'model', None)
        if is_model_wrapper(model):
            model = model.module
        convert_loaded_checkpoint(checkpoint, model)
