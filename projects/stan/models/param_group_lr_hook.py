"""Log the learning rate of each named parameter group."""
from typing import Optional

from mmaction.registry import HOOKS
from mmengine.hooks import Hook


@HOOKS.register_module()
class ParamGroupLrHook(Hook):
    """Logs ``group_<group_name>_lr`` for every distinct ``group_name`` of the
    optimizer's param groups (set by :class:`STANOptimWrapperConstructor`),
    so both STAN's and CLIP's learning rates appear in the training log.
    """

    priority = 'VERY_LOW'

    def before_train_iter(self,
                          runner,
                          batch_idx: int,
                          data_batch: Optional[dict] = None) -> None:
        optimizer = getattr(runner.optim_wrapper, 'optimizer', None)
        if optimizer is None:  # e.g. an OptimWrapperDict: nothing to add
            return
        seen = set()
        for group in optimizer.param_groups:
            name = group.get('group_name')
            if name is None or name in seen:
                continue
            seen.add(name)
            runner.message_hub.update_scalar(f'train/group_{name}_lr',
                                             group['lr'])
