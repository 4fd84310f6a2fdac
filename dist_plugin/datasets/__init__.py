"""Datasets and data transforms registered in mmaction2's registries."""
from . import transforms
from .annotation_check import (AnnotationError, check_annotation_file,
                               parse_annotation_lines)
from .robust_video_dataset import BadVideoDataError, RobustVideoDataset
from .transforms import *  # noqa: F401,F403

__all__ = [
    'AnnotationError', 'BadVideoDataError', 'RobustVideoDataset',
    'check_annotation_file', 'parse_annotation_lines'
] + list(transforms.__all__)
