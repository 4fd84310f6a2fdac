from .window_sample_frames import WindowSampleFrames

__all__ = ['WindowSampleFrames']
