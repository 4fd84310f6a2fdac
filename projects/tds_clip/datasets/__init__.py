from .clip_rand_augment import ClipRandAugment
from .window_sample_frames import WindowSampleFrames

__all__ = ['ClipRandAugment', 'WindowSampleFrames']
