"""Small utilities (video files)."""
from .video_io import read_video, write_video

__all__ = ['read_video', 'write_video']
