"""Report the videos a robust dataset skipped or could not score.

``RobustVideoDataset`` records, in each training sample's metainfo, the files
it skipped before finding that sample (``skipped_videos``), and flags test
placeholders with ``decode_failed=True``. The records ride along with the
batches, so this hook sees every skip exactly once whatever the number of
dataloader workers. At the end of each epoch (or every ``interval``
iterations) it gathers the counts of all ranks, logs a summary through
MMLogger, stores it in the message hub, and enforces the dataset's abort rule
on the run-wide totals.
"""
from collections import Counter
from typing import Any, Dict, List, Optional, Sequence

from mmaction.registry import HOOKS
from mmengine.dist import all_gather_object, is_distributed
from mmengine.hooks import Hook

from dist_plugin.datasets.robust_video_dataset import BadVideoDataError

__all__ = ['SkipReportHook']


def _data_samples(data_batch: Any) -> Sequence:
    """The data samples of a collated batch, or ``()``."""
    if isinstance(data_batch, dict):
        samples = data_batch.get('data_samples')
        if isinstance(samples, (list, tuple)):
            return samples
    return ()


def _find_dataset_attr(dataset: Any, name: str) -> Any:
    """Look ``name`` up on a dataset or the datasets it wraps."""
    seen = 0
    while dataset is not None and seen < 8:
        if hasattr(dataset, name):
            return getattr(dataset, name)
        inner = getattr(dataset, 'dataset', None)
        if inner is None:
            datasets = getattr(dataset, 'datasets', None)
            inner = datasets[0] if datasets else None
        dataset, seen = inner, seen + 1
    return None


@HOOKS.register_module()
class SkipReportHook(Hook):
    """Count, log and police skipped (train) and unscored (val/test) videos.

    Message hub keys (``runner.message_hub.get_info``):
    ``skip_report/train_skipped`` (failed loads in the last report),
    ``skip_report/train_skipped_files`` (their sorted unique file names),
    ``skip_report/train_skipped_total`` and ``skip_report/train_loaded_total``
    (run totals), ``skip_report/{val,test}_unscored`` and
    ``skip_report/{val,test}_unscored_files``.

    Args:
        interval (int, optional): Also report every ``interval`` training
            iterations (useful with ``IterBasedTrainLoop``, which has a
            single epoch). Defaults to None (epoch ends only).
        max_listed (int): File names listed in a log line. Defaults to 20.
        max_bad_fraction (float, optional): Abort rule threshold on the run
            totals; None takes the training dataset's. Defaults to None.
        min_bad_count (int, optional): Abort rule minimum failures; None
            takes the training dataset's. Defaults to None.
    """

    priority = 'BELOW_NORMAL'

    def __init__(self,
                 interval: Optional[int] = None,
                 max_listed: int = 20,
                 max_bad_fraction: Optional[float] = None,
                 min_bad_count: Optional[int] = None) -> None:
        if interval is not None and interval < 1:
            raise ValueError(f'interval must be positive, got {interval}')
        self.interval = interval
        self.max_listed = max_listed
        self.max_bad_fraction = max_bad_fraction
        self.min_bad_count = min_bad_count
        self._skipped: List[str] = []
        self._loaded = 0
        self._unscored: List[str] = []
        self._scored = 0
        self.total_skipped = 0
        self.total_loaded = 0

    # --------------------------------------------------------------- train
    def before_train_epoch(self, runner) -> None:
        """Start counting a new epoch."""
        self._skipped, self._loaded = [], 0

    def after_train_iter(self,
                         runner,
                         batch_idx: int,
                         data_batch: Any = None,
                         outputs: Optional[dict] = None) -> None:
        """Collect the skip records of one batch."""
        for sample in _data_samples(data_batch):
            meta = getattr(sample, 'metainfo', {})
            self._skipped.extend(meta.get('skipped_videos', ()))
            self._loaded += 1
        if self.interval and self.every_n_train_iters(runner, self.interval):
            self._report_train(runner, f'iter {runner.iter + 1}')

    def after_train_epoch(self, runner) -> None:
        """Report the epoch's skips."""
        self._report_train(runner, f'epoch {runner.epoch + 1}')

    def _report_train(self, runner, where: str) -> None:
        skipped, loaded = self._gather(self._skipped, self._loaded)
        self._skipped, self._loaded = [], 0
        self.total_skipped += len(skipped)
        self.total_loaded += loaded
        hub = runner.message_hub
        hub.update_info('skip_report/train_skipped', len(skipped))
        hub.update_info('skip_report/train_skipped_files',
                        sorted(set(skipped)))
        hub.update_info('skip_report/train_skipped_total', self.total_skipped)
        hub.update_info('skip_report/train_loaded_total', self.total_loaded)
        if skipped:
            attempts = len(skipped) + loaded
            runner.logger.warning(
                f'SkipReportHook ({where}): skipped {len(skipped)} failed '
                f'video loads ({len(set(skipped))} files) out of {attempts} '
                f'({len(skipped) / attempts:.2%}): ' +
                self._describe(skipped))
        else:
            runner.logger.info(
                f'SkipReportHook ({where}): no video skipped ({loaded} '
                'samples loaded)')
        self._check_totals(runner)

    def _check_totals(self, runner) -> None:
        """Apply the abort rule to the run totals."""
        dataset = getattr(runner.train_loop, 'dataloader', None)
        dataset = getattr(dataset, 'dataset', None)
        max_frac = self.max_bad_fraction
        if max_frac is None:
            max_frac = _find_dataset_attr(dataset, 'max_bad_fraction')
        min_count = self.min_bad_count
        if min_count is None:
            min_count = _find_dataset_attr(dataset, 'min_bad_count')
        if max_frac is None or min_count is None:
            return
        bad, total = self.total_skipped, self.total_skipped + self.total_loaded
        if bad >= min_count and bad > max_frac * total:
            last = runner.message_hub.get_info(
                'skip_report/train_skipped_files')
            raise BadVideoDataError(
                f'SkipReportHook: {bad} of {total} video loads failed so far '
                f'({bad / total:.1%}), more than max_bad_fraction='
                f'{max_frac:.1%}. Last files: {self._describe(last)}. Run '
                'tools/check_dataset.py on the annotation list.')

    # ------------------------------------------------------------ val/test
    def before_val_epoch(self, runner) -> None:
        """Start counting unscored validation videos."""
        self._unscored, self._scored = [], 0

    def before_test_epoch(self, runner) -> None:
        """Start counting unscored test videos."""
        self._unscored, self._scored = [], 0

    def after_val_iter(self,
                       runner,
                       batch_idx: int,
                       data_batch: Any = None,
                       outputs: Optional[Sequence] = None) -> None:
        """Collect decode failures of one validation batch."""
        self._collect_unscored(data_batch)

    def after_test_iter(self,
                        runner,
                        batch_idx: int,
                        data_batch: Any = None,
                        outputs: Optional[Sequence] = None) -> None:
        """Collect decode failures of one test batch."""
        self._collect_unscored(data_batch)

    def _collect_unscored(self, data_batch: Any) -> None:
        for sample in _data_samples(data_batch):
            meta = getattr(sample, 'metainfo', {})
            if meta.get('decode_failed', False):
                self._unscored.append(str(meta.get('filename')))
            else:
                self._scored += 1

    def after_val_epoch(self,
                        runner,
                        metrics: Optional[Dict[str, float]] = None) -> None:
        """Report the validation videos that could not be decoded."""
        self._report_eval(runner, 'val')

    def after_test_epoch(self,
                         runner,
                         metrics: Optional[Dict[str, float]] = None) -> None:
        """Report the test videos that could not be decoded."""
        self._report_eval(runner, 'test')

    def _report_eval(self, runner, mode: str) -> None:
        unscored, scored = self._gather(self._unscored, self._scored)
        self._unscored, self._scored = [], 0
        runner.message_hub.update_info(f'skip_report/{mode}_unscored',
                                       len(unscored))
        runner.message_hub.update_info(f'skip_report/{mode}_unscored_files',
                                       sorted(set(unscored)))
        if unscored:
            runner.logger.warning(
                f'SkipReportHook ({mode}): {len(unscored)} of '
                f'{len(unscored) + scored} videos could not be decoded and '
                'were fed as zero inputs (RobustAccMetric counts them as '
                'wrong; distributed padding may repeat a few): ' +
                self._describe(unscored))

    # ------------------------------------------------------------- helpers
    @staticmethod
    def _gather(files: List[str], count: int):
        """Sum file lists and counts over all ranks."""
        if not is_distributed():
            return list(files), count
        parts = all_gather_object(dict(files=list(files), count=count))
        merged: List[str] = []
        for part in parts:
            merged.extend(part['files'])
        return merged, sum(part['count'] for part in parts)

    def _describe(self, files: List[str]) -> str:
        counts = Counter(files)
        items = [
            name if n == 1 else f'{name} (x{n})'
            for name, n in sorted(counts.items())[:self.max_listed]
        ]
        if len(counts) > self.max_listed:
            items.append(f'... and {len(counts) - self.max_listed} more')
        return ', '.join(items)

