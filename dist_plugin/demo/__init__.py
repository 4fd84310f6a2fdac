"""Built-in demo: a tiny motion-only video dataset."""
from .make_dataset import (CLASS_NAMES, REVERSED_PAIRS, generate_demo_dataset,
                           make_clip, render_left_to_right, write_class_names,
                           write_split)

__all__ = [
    'CLASS_NAMES', 'REVERSED_PAIRS', 'generate_demo_dataset', 'make_clip',
    'render_left_to_right', 'write_class_names', 'write_split'
]
