"""A ``VideoDataset`` that survives missing, empty and corrupt video files.

Training: a sample whose pipeline raises (missing file, zero bytes, truncated
or not a video at all, decoder error) or yields an empty or non-finite input
is skipped with a warning naming the file, and another index is drawn, as
mmengine's ``BaseDataset`` does for ``None`` results. The files skipped
before a sample was found are recorded in that sample's metainfo
(``skipped_videos``), so counting works with any number of dataloader worker
processes: the counts travel with the batches to the main process, where
:class:`~dist_plugin.engine.skip_report_hook.SkipReportHook` sums them per
epoch (and across ranks).

Test / validation: nothing is skipped, the denominator never shrinks. A video
that fails yields a placeholder sample with an all-zero input of the right
shape and the metainfo ``decode_failed=True``; ``RobustAccMetric`` counts it
as wrong and lists it.

Abort rule (each process, and globally at epoch end in the hook): raise
:class:`BadVideoDataError` once at least ``min_bad_count`` loads failed and
the failed fraction of all loads exceeds ``max_bad_fraction``. When nothing
loaded yet this fires after exactly ``min_bad_count`` consecutive failures,
and the message points at the data root.
"""
import copy
import logging
from typing import Any, Callable, Dict, List, Optional, Union

import numpy as np
import torch
from mmaction.datasets import VideoDataset
from mmaction.registry import DATASETS
from mmengine.fileio import join_path
from mmengine.logging import print_log

from .annotation_check import check_annotation_file

#: How many failures a process remembers for its error messages.
_MAX_REMEMBERED_FAILURES = 5


class BadVideoDataError(RuntimeError):
    """Too many videos of a dataset could not be loaded."""


def _short_error(exc: BaseException, limit: int = 200) -> str:
    """``Type: message`` on one line, cut to ``limit`` characters."""
    text = ' '.join(part.strip() for part in str(exc).splitlines())
    msg = f'{type(exc).__name__}: {text.strip()}'
    return msg if len(msg) <= limit else msg[:limit - 3] + '...'


def _zeros_like(inputs: Any) -> Any:
    """All-zero copy of a tensor, array, or dict/list of them."""
    if isinstance(inputs, torch.Tensor):
        return torch.zeros_like(inputs)
    if isinstance(inputs, np.ndarray):
        return np.zeros_like(inputs)
    if isinstance(inputs, dict):
        return {key: _zeros_like(value) for key, value in inputs.items()}
    if isinstance(inputs, (list, tuple)):
        return type(inputs)(_zeros_like(value) for value in inputs)
    raise TypeError(f'cannot build a zero input from {type(inputs)}')


def _is_garbage(inputs: Any) -> Optional[str]:
    """Why a decoded input is unusable (empty or non-finite), else None."""
    if isinstance(inputs, dict):
        for value in inputs.values():
            reason = _is_garbage(value)
            if reason:
                return reason
        return None
    if isinstance(inputs, np.ndarray):
        inputs = torch.from_numpy(inputs)
    if not isinstance(inputs, torch.Tensor):
        return None
    if inputs.numel() == 0:
        return f'decoded input is empty (shape {tuple(inputs.shape)})'
    if inputs.is_floating_point() and not bool(torch.isfinite(inputs).all()):
        return 'decoded input holds NaN or Inf values'
    return None


@DATASETS.register_module()
class RobustVideoDataset(VideoDataset):
    """Video dataset that skips (train) or flags (test) unreadable videos.

    Takes every argument of mmaction's ``VideoDataset``; the annotation list
    is validated when the dataset is built (see
    :func:`~dist_plugin.datasets.annotation_check.check_annotation_file`),
    so a bad line or a label ``>= num_classes`` stops the run before
    training with the file name and line number.

    Args:
        ann_file (str): Annotation list, ``FILENAME LABEL`` per line.
        pipeline (list[dict | Callable]): Data transforms.
        data_prefix (dict): ``dict(video=DIR)``, the folder of the videos.
            Defaults to ``dict(video='')``.
        multi_class (bool): Multi-label lines. Defaults to False.
        num_classes (int, optional): Number of classes; labels outside
            ``[0, num_classes)`` are rejected when given. Defaults to None.
        start_index (int): First frame index. Defaults to 0.
        modality (str): ``'RGB'`` or ``'Flow'``. Defaults to ``'RGB'``.
        test_mode (bool): Test / validation dataset. Defaults to False.
        delimiter (str): Field delimiter of the list; ``' '`` splits on any
            run of whitespace. Defaults to ``' '``.
        allow_unlabeled (bool): Accept lines without a label (label ``-1``,
            inference lists). Defaults to False.
        max_bad_fraction (float): Abort when more than this fraction of the
            loads failed (``1.0`` never aborts). Defaults to 0.1.
        min_bad_count (int): The abort rule applies only once this many
            loads failed; with no successful load yet it is the number of
            consecutive failures that stops the run. Defaults to 10.
        **kwargs: Passed to ``VideoDataset`` / ``BaseDataset``
            (``max_refetch``, ``data_root``, ``indices``, ...).
    """

    def __init__(self,
                 ann_file: str,
                 pipeline: List[Union[dict, Callable]],
                 data_prefix: dict = dict(video=''),
                 multi_class: bool = False,
                 num_classes: Optional[int] = None,
                 start_index: int = 0,
                 modality: str = 'RGB',
                 test_mode: bool = False,
                 delimiter: str = ' ',
                 allow_unlabeled: bool = False,
                 max_bad_fraction: float = 0.1,
                 min_bad_count: int = 10,
                 **kwargs) -> None:
        if not 0.0 <= max_bad_fraction <= 1.0:
            raise ValueError('max_bad_fraction must lie in [0, 1], got '
                             f'{max_bad_fraction}')
        if min_bad_count < 1:
            raise ValueError(
                f'min_bad_count must be positive, got {min_bad_count}')
        self.allow_unlabeled = allow_unlabeled
        self.max_bad_fraction = max_bad_fraction
        self.min_bad_count = min_bad_count
        # Per-process state: each dataloader worker has its own copy.
        self._num_loaded = 0
        self._num_failed = 0
        self._warned_files: set = set()
        self._recent_failures: List[str] = []
        self._placeholder: Optional[Dict] = None
        super().__init__(
            ann_file,
            pipeline=pipeline,
            data_prefix=data_prefix,
            multi_class=multi_class,
            num_classes=num_classes,
            start_index=start_index,
            modality=modality,
            test_mode=test_mode,
            delimiter=delimiter,
            **kwargs)

    # ------------------------------------------------------------------ data
    def load_data_list(self) -> List[dict]:
        """Validate the annotation list, then build the data list.

        Raises:
            ValueError: Malformed lines or labels out of range, naming the
                file and each line number.
        """
        records = check_annotation_file(
            self.ann_file,
            num_classes=self.num_classes,
            delimiter=self.delimiter,
            multi_class=self.multi_class,
            allow_unlabeled=self.allow_unlabeled)
        prefix = self.data_prefix.get('video')
        data_list = []
        for record in records:
            filename = record['filename']
            if prefix:
                filename = join_path(prefix, filename)
            data_list.append(dict(filename=filename, label=record['label']))
        return data_list

    @property
    def data_root_hint(self) -> str:
        """The video folder the file names are joined to, for messages."""
        prefix = self.data_prefix.get('video') if isinstance(
            self.data_prefix, dict) else None
        return str(prefix or self.data_root or '(none: paths used as listed)')

    # --------------------------------------------------------------- loading
    def _try_prepare(self, idx: int) -> Dict[str, Any]:
        """Run the pipeline on ``idx``; never raises for bad data.

        Returns:
            dict: ``data`` (the pipeline output or None), ``info`` (the data
            info) and ``error`` (a message, or None on success).
        """
        data_info = self.get_data_info(idx)
        info = copy.copy(data_info)
        try:
            data = self.pipeline(data_info)
        except MemoryError:
            raise
        except Exception as exc:  # decoder errors have no common base class
            return dict(data=None, info=info, error=_short_error(exc))
        if isinstance(data, dict) and 'inputs' in data:
            reason = _is_garbage(data['inputs'])
            if reason is not None:
                return dict(data=None, info=info, error=reason)
        return dict(data=data, info=info, error=None)

    def _record_failure(self, filename: str, error: str) -> None:
        """Count a failed load, warn once per file, apply the abort rule."""
        self._num_failed += 1
        if len(self._recent_failures) < _MAX_REMEMBERED_FAILURES:
            self._recent_failures.append(f'{filename}: {error}')
        if filename not in self._warned_files:
            self._warned_files.add(filename)
            action = ('scored as wrong' if self.test_mode else
                      'skipped, drawing another sample')
            print_log(
                f'{type(self).__name__}: cannot load video {filename} '
                f'({error}); {action}',
                logger='current',
                level=logging.WARNING)
        self.check_bad_fraction(self._num_failed, self._num_loaded)

    def check_bad_fraction(self, num_failed: int, num_loaded: int) -> None:
        """Raise when the failures break the abort rule.

        Args:
            num_failed (int): Failed loads.
            num_loaded (int): Successful loads.

        Raises:
            BadVideoDataError: ``num_failed >= min_bad_count`` and
                ``num_failed / (num_failed + num_loaded) > max_bad_fraction``.
        """
        total = num_failed + num_loaded
        if num_failed < self.min_bad_count:
            return
        if num_failed <= self.max_bad_fraction * total:
            return
        examples = '\n  '.join(self._recent_failures)
        if num_loaded == 0:
            msg = (f'{type(self).__name__}: none of the first {num_failed} '
                   f'videos could be loaded. Is the data root right? '
                   f'videos are looked up under {self.data_root_hint} '
                   f'(ann_file={self.ann_file}). Examples:\n  {examples}')
        else:
            msg = (f'{type(self).__name__}: {num_failed} of {total} video '
                   f'loads failed ({num_failed / total:.1%}), more than '
                   f'max_bad_fraction={self.max_bad_fraction:.1%} '
                   f'(data root {self.data_root_hint}, ann_file='
                   f'{self.ann_file}). Run tools/check_dataset.py on the '
                   f'list. Examples:\n  {examples}')
        raise BadVideoDataError(msg)

    def __getitem__(self, idx: int) -> dict:
        """Load sample ``idx``; skip (train) or flag (test) bad videos."""
        if not self._fully_initialized:
            self.full_init()
        if self.test_mode:
            return self._get_test_item(idx)

        skipped: List[str] = []
        for _ in range(self.max_refetch + 1):
            result = self._try_prepare(idx)
            if result['error'] is not None:
                filename = str(result['info'].get('filename'))
                skipped.append(filename)
                self._record_failure(filename, result['error'])
                idx = self._rand_another()
                continue
            if result['data'] is None:  # the pipeline dropped the sample
                idx = self._rand_another()
                continue
            self._num_loaded += 1
            return self._set_meta(result['data'],
                                  dict(skipped_videos=tuple(skipped)))
        raise BadVideoDataError(
            f'{type(self).__name__}: no usable sample after '
            f'{self.max_refetch} refetches (data root {self.data_root_hint}'
            '). Recent failures:\n  ' + '\n  '.join(self._recent_failures))

    def _set_meta(self, data: Any, meta: Dict) -> Any:
        """Add ``meta`` to the packed data sample's metainfo when present."""
        sample = data.get('data_samples') if isinstance(data, dict) else None
        if sample is not None and hasattr(sample, 'set_metainfo'):
            sample.set_metainfo(meta)
        return data

    # ------------------------------------------------------------------ test
    def _get_test_item(self, idx: int) -> dict:
        """Load a test sample; a failure gives a flagged zero sample."""
        result = self._try_prepare(idx)
        if result['error'] is None:
            if result['data'] is None:
                raise BadVideoDataError(
                    f'the test pipeline returned None for sample {idx} '
                    f'({result["info"].get("filename")})')
            self._num_loaded += 1
            self._remember_placeholder(result['data'])
            return self._set_meta(result['data'], dict(decode_failed=False))
        filename = str(result['info'].get('filename'))
        self._record_failure(filename, result['error'])
        return self._unscorable_sample(idx, result['info'], result['error'])

    def _remember_placeholder(self, data: Any) -> None:
        """Keep the structure of a good sample to build placeholders."""
        if self._placeholder is not None or not isinstance(data, dict):
            return
        sample = data.get('data_samples')
        if 'inputs' not in data or sample is None:
            return
        self._placeholder = dict(
            inputs=_zeros_like(data['inputs']),
            sample_type=type(sample),
            metainfo=dict(sample.metainfo))

    def _find_placeholder(self, idx: int) -> None:
        """Load the samples after ``idx`` until one gives a placeholder."""
        for offset in range(1, min(len(self), self.min_bad_count + 1)):
            result = self._try_prepare((idx + offset) % len(self))
            if result['error'] is None and result['data'] is not None:
                self._remember_placeholder(result['data'])
                if self._placeholder is not None:
                    return
        raise BadVideoDataError(
            f'{type(self).__name__}: video {idx} failed and none of the next '
            f'{self.min_bad_count} videos could be loaded either, so no '
            'placeholder input can be shaped. Is the data root right? '
            f'videos are looked up under {self.data_root_hint} (ann_file='
            f'{self.ann_file}). Recent failures:\n  ' +
            '\n  '.join(self._recent_failures))

    def _unscorable_sample(self, idx: int, info: Dict, error: str) -> dict:
        """A zero-input sample flagged ``decode_failed`` for a failed video.

        Args:
            idx (int): Index of the failed sample.
            info (dict): Its data info (``filename``, ``label``).
            error (str): Why it failed.

        Returns:
            dict: ``inputs`` shaped like a good sample's, all zeros, and
            ``data_samples`` carrying the label and the metainfo
            ``decode_failed=True``, ``filename``, ``decode_error``.
        """
        if self._placeholder is None:
            self._find_placeholder(idx)
        template = self._placeholder
        sample = template['sample_type']()
        if 'label' in info and hasattr(sample, 'set_gt_label'):
            sample.set_gt_label(info['label'])
        meta = dict(template['metainfo'])
        meta.update(
            decode_failed=True,
            filename=str(info.get('filename')),
            decode_error=error,
            sample_idx=info.get('sample_idx', idx))
        sample.set_metainfo(meta)
        inputs = _zeros_like(template['inputs'])
        return dict(inputs=inputs, data_samples=sample)

    # ---------------------------------------------------------------- stats
    def load_stats(self) -> Dict[str, Any]:
        """Loads seen by this process (a worker's own copy in workers).

        Returns:
            dict: ``loaded`` and ``failed`` counts and ``failed_files``.
        """
        return dict(
            loaded=self._num_loaded,
            failed=self._num_failed,
            failed_files=sorted(self._warned_files))
