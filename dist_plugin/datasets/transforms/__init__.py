"""Data transforms registered in mmaction2's ``TRANSFORMS``."""
from .ssv2_flip import (FlipWithLabelSwap, build_mirror_label_map,
                        load_class_names, mirror_class_name)

__all__ = [
    'FlipWithLabelSwap', 'build_mirror_label_map',
    'load_class_names', 'mirror_class_name'
]
