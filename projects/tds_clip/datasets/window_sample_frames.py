"""Segment sampling with a window of consecutive frames around each segment
frame (TDS-CLIP's input layout)."""
import numpy as np
from mmaction.registry import TRANSFORMS
from mmcv.transforms import BaseTransform

TEST_POSITIONS = ('fractions', 'linspace')


@TRANSFORMS.register_module()
class WindowSampleFrames(BaseTransform):
    """Pick one frame per segment and the ``window`` consecutive frames
    around it.

    The video is cut into ``num_segments`` equal segments. In each, a centre
    frame ``s`` is chosen; the clip gets frames ``s - window // 2 ...
    s - window // 2 + window - 1`` (clamped to the video, no wrap-around), so
    frame ``window // 2`` of each window is ``s``. ``frame_inds`` is ordered
    (view, segment, frame in window) and ``clip_len = num_segments *
    window``: after ``FormatShape('NCTHW')`` each view is ``[3, T*w, H, W]``
    with time index ``t * w + m``.

    Training: ``s`` is uniform in its segment (TSN-style). Testing
    (``test_mode``), view ``k`` of ``num_clips``: ``s = floor(i * L + o_k)``
    with segment length ``L = n / T`` and ``o_k = L (k + 1) / (num_clips + 1)``
    (``'fractions'``, the official Something-Something rule) or ``o_k =
    linspace(0, L - 1, num_clips)[k]`` (``'linspace'``, the official
    Kinetics rule; one view then takes the first frame of each segment).

    Required keys: ``total_frames``, ``start_index``.
    Added keys: ``frame_inds``, ``clip_len``, ``frame_interval``,
    ``num_clips``.

    Args:
        num_segments (int): Segments ``T``. Defaults to 8.
        window (int): Frames per window ``w``. Defaults to 5.
        num_clips (int): Views per video (test time). Defaults to 1.
        test_mode (bool): Deterministic positions. Defaults to False.
        test_positions (str): ``'fractions'`` or ``'linspace'``.
            Defaults to ``'fractions'``.
    """

    def __init__(self,
                 num_segments: int = 8,
                 window: int = 5,
                 num_clips: int = 1,
                 test_mode: bool = False,
                 test_positions: str = 'fractions') -> None:
        if num_segments < 1 or window < 1 or num_clips < 1:
            raise ValueError('num_segments, window and num_clips must be '
                             f'>= 1, got {num_segments}, {window}, '
                             f'{num_clips}')
        if test_positions not in TEST_POSITIONS:
            raise ValueError(f'test_positions must be one of '
                             f'{TEST_POSITIONS}, got {test_positions!r}')
        self.num_segments = num_segments
        self.window = window
        self.num_clips = num_clips
        self.test_mode = test_mode
        self.test_positions = test_positions

    def centres(self, num_frames: int) -> np.ndarray:
        """Centre frame of each segment, ``[num_clips, num_segments]``."""
        seg_len = num_frames / self.num_segments
        starts = np.arange(self.num_segments) * seg_len
        if not self.test_mode:
            offsets = np.random.uniform(
                0, seg_len, size=(self.num_clips, self.num_segments))
        elif self.test_positions == 'fractions':
            offsets = (np.arange(1, self.num_clips + 1) /
                       (self.num_clips + 1) * seg_len)[:, None]
        else:
            offsets = np.linspace(0, max(seg_len - 1, 0),
                                  self.num_clips)[:, None]
        centres = np.floor(starts[None] + offsets).astype(np.int64)
        return np.clip(centres, 0, num_frames - 1)

    def transform(self, results: dict) -> dict:
        """Add the frame indices of ``num_clips`` windowed clips."""
        num_frames = int(results['total_frames'])
        if num_frames < 1:
            raise ValueError(f'{results.get("filename", "the video")} has no '
                             'frames')
        centres = self.centres(num_frames)  # [K, T]
        offsets = np.arange(self.window) - self.window // 2
        inds = np.clip(centres[..., None] + offsets, 0, num_frames - 1)
        results['frame_inds'] = (inds.reshape(-1) +
                                 results['start_index']).astype(np.int32)
        results['clip_len'] = self.num_segments * self.window
        results['frame_interval'] = 1
        results['num_clips'] = self.num_clips
        return results

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(num_segments={self.num_segments}, '
                f'window={self.window}, num_clips={self.num_clips}, '
                f'test_mode={self.test_mode}, '
                f'test_positions={self.test_positions!r})')
