from .atomic_checkpoint import apply as _apply_atomic_checkpoint
from .checkpoint_keys_hook import CheckpointKeysHook
from .official_checkpoint_hook import OfficialCheckpointHook
from .optim_constructor import TrainableOnlyOptimWrapperConstructor
from .rng_state_hook import ResumeRandomnessHook
from .skip_report_hook import SkipReportHook

# Checkpoint saves become atomic (write to a temporary file, fsync, rename).
_apply_atomic_checkpoint()

__all__ = [
    'CheckpointKeysHook', 'OfficialCheckpointHook', 'ResumeRandomnessHook',
    'SkipReportHook',
    'TrainableOnlyOptimWrapperConstructor'
]
