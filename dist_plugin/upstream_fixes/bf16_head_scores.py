"""bf16: ``BaseHead`` turns bfloat16 scores into numpy (item 4).

Upstream defect: mmaction2 1.2.0 ``mmaction/models/heads/base.py``.
``loss_by_feat`` calls ``cls_scores.detach().cpu().numpy()`` for the top-k
accuracy, and ``predict_by_feat`` stores the scores that ``AccMetric`` later
turns into numpy. numpy has no bfloat16, so bf16 training or testing (CPU
autocast, or ``AmpOptimWrapper(dtype='bfloat16')`` on GPU) fails with
``TypeError: Got unsupported ScalarType BFloat16``. No upstream fix exists.

Fix (narrowest): wrap the two ``BaseHead`` methods so that bfloat16 scores
are cast to float32 before upstream's code runs; any other dtype passes
through unchanged. Subclasses that inherit the methods get the fix.
"""
import functools
from typing import Callable, Dict, Optional

import torch

#: Upstream methods, kept for tests and for reverting.
ORIGINALS: Dict[str, Optional[Callable]] = {
    'loss_by_feat': None,
    'predict_by_feat': None
}
_PATCH_MARK = '_dist_plugin_bf16_fix'


def numpy_compatible(scores):
    """Cast bfloat16 scores to float32; return anything else unchanged.

    Args:
        scores (torch.Tensor | Any): Class scores [B, K] or other input.

    Returns:
        torch.Tensor | Any: Scores numpy can represent.
    """
    if isinstance(scores, torch.Tensor) and scores.dtype == torch.bfloat16:
        return scores.float()
    return scores


def _wrap(method: Callable) -> Callable:

    @functools.wraps(method)
    def wrapper(self, cls_scores, data_samples, *args, **kwargs):
        return method(self, numpy_compatible(cls_scores), data_samples, *args,
                      **kwargs)

    setattr(wrapper, _PATCH_MARK, True)
    return wrapper


def apply() -> bool:
    """Wrap ``BaseHead.loss_by_feat`` and ``BaseHead.predict_by_feat``.

    Returns:
        bool: True when both methods are wrapped.
    """
    from mmaction.models.heads.base import BaseHead
    for name in ORIGINALS:
        method = BaseHead.__dict__[name]
        if getattr(method, _PATCH_MARK, False):
            continue
        ORIGINALS[name] = method
        setattr(BaseHead, name, _wrap(method))
    return True
