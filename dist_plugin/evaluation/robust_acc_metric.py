"""Accuracy that counts videos which could not be decoded as wrong.

``RobustVideoDataset`` in test mode never drops a sample: a video that fails
to load is fed as an all-zero input whose data sample carries
``decode_failed=True``. Plain ``AccMetric`` would score whatever the model
predicts for that zero input. ``RobustAccMetric`` instead counts every such
sample as wrong (the denominator stays the full test list), reports their
number as ``unscored`` and logs their file names.
"""
import logging
import re
from typing import Any, Dict, List, Sequence

import numpy as np
from mmaction.evaluation import AccMetric
from mmaction.registry import METRICS
from mmengine.logging import print_log

#: File names listed in the log line.
_MAX_LISTED = 20
_TOPK_KEY = re.compile(r'(^|_)top\d+$')


def _get(sample: Any, key: str, default: Any = None) -> Any:
    """Read a field of a data sample given as dict or data element."""
    if isinstance(sample, dict):
        return sample.get(key, default)
    meta = getattr(sample, 'metainfo', {})
    return meta.get(key, getattr(sample, key, default))


def _wrong_scores(pred: Any, label: Any) -> Any:
    """Scores that rank every ground-truth class last (argmax is wrong)."""
    if isinstance(pred, dict):
        return {key: _wrong_scores(val, label) for key, val in pred.items()}
    scores = np.zeros_like(np.asarray(pred, dtype=np.float32))
    if isinstance(label, np.ndarray):  # multi-label one-hot
        scores[label > 0] = -1.0
    elif 0 <= int(label) < scores.shape[-1]:
        scores[int(label)] = -1.0
    return scores


@METRICS.register_module()
class RobustAccMetric(AccMetric):
    """``AccMetric`` that scores undecodable videos as wrong.

    Takes the arguments of mmaction's ``AccMetric``. Adds the metric
    ``unscored`` (number of test videos that could not be decoded). Top-k
    accuracies count those videos as misses for every k; for
    ``mean_class_accuracy`` and the mAP metrics their scores are replaced by
    scores that rank the true class(es) last.
    """

    def process(self, data_batch: Sequence[Any],
                data_samples: Sequence[Any]) -> None:
        """Store predictions plus the ``decode_failed`` flag and file name.

        Args:
            data_batch (Sequence): A batch of data from the dataloader.
            data_samples (Sequence): The model outputs of the batch.
        """
        start = len(self.results)
        super().process(data_batch, data_samples)
        for result, sample in zip(self.results[start:], data_samples):
            failed = bool(_get(sample, 'decode_failed', False))
            result['unscored'] = failed
            if failed:
                result['filename'] = str(_get(sample, 'filename'))

    def compute_metrics(self, results: List[Dict]) -> Dict:
        """Compute ``AccMetric``'s metrics with unscored videos as wrong.

        Args:
            results (list[dict]): Processed results of all ranks.

        Returns:
            dict: ``AccMetric``'s metrics plus ``unscored``.
        """
        unscored = [r for r in results if r.get('unscored', False)]
        if not unscored:
            metrics = super().compute_metrics(results)
            metrics['unscored'] = 0.  # float: LoggerHook drops ints
            return metrics
        forced = [
            dict(r, pred=_wrong_scores(r['pred'], r['label']))
            if r.get('unscored', False) else r for r in results
        ]
        metrics = super().compute_metrics(forced)
        # mmaction's top-k calls a label "hit" when k >= the number of
        # classes; rescale the scored videos' accuracy instead.
        scored = [r for r in results if not r.get('unscored', False)]
        scored_metrics = super().compute_metrics(scored) if scored else {}
        for key in metrics:
            if _TOPK_KEY.search(key):
                metrics[key] = (
                    float(scored_metrics.get(key, 0.0)) * len(scored) /
                    len(results))
        metrics['unscored'] = float(len(unscored))
        names = sorted({r.get('filename', '?') for r in unscored})
        listed = ', '.join(names[:_MAX_LISTED])
        if len(names) > _MAX_LISTED:
            listed += f', ... and {len(names) - _MAX_LISTED} more'
        print_log(
            f'RobustAccMetric: {len(unscored)} of {len(results)} videos '
            f'could not be decoded and count as wrong: {listed}',
            logger='current',
            level=logging.WARNING)
        return metrics
