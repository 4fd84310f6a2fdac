"""Write and read encoded videos; PyAV decoding where decord fails.

``write_video`` produces a real MP4 file that decord, PyAV and OpenCV decode
to the same frames. With PyAV and ``libx264`` (the default) the stream is
H.264 High 4:4:4 at constant quantiser 0, so the only loss is the RGB <-> YUV
rounding: decoded pixels differ from the input by at most 2.

decord 0.6.0 (no release since 2022) cannot return frames 8, 12, 16, 24, 48
or 72 pixels wide (dmlc/decord#336). :func:`decode_frames_pyav` decodes the
same frame indices with PyAV; ``read_video`` and the ``DecordDecode`` step of
mmaction pipelines (:mod:`dist_plugin.upstream_fixes.decord_pyav_fallback`)
fall back to it when decord raises.
"""
import io
import os
import os.path as osp
from fractions import Fraction
from typing import List, Optional, Sequence, Union

import numpy as np

#: PyAV encoders tried in order by ``codec='auto'``.
PYAV_CODECS = ('libx264', 'mpeg4')


def _check_frames(frames: np.ndarray) -> np.ndarray:
    """Validate a ``[T, H, W, 3]`` uint8 RGB array."""
    frames = np.asarray(frames)
    if frames.ndim != 4 or frames.shape[-1] != 3:
        raise ValueError('frames must have shape [T, H, W, 3], got '
                         f'{tuple(frames.shape)}')
    if frames.shape[0] < 1:
        raise ValueError('frames must hold at least one frame')
    if frames.dtype != np.uint8:
        raise TypeError(f'frames must be uint8, got {frames.dtype}')
    return np.ascontiguousarray(frames)


def _pyav_available_codecs() -> frozenset:
    try:
        import av
    except ImportError:
        return frozenset()
    return frozenset(av.codecs_available)


def _write_pyav(path: str, frames: np.ndarray, fps: int, codec: str,
                crf: int) -> None:
    """Encode ``frames`` with PyAV."""
    import av

    num_frames, height, width = frames.shape[:3]
    if codec != 'libx264' and (height % 2 or width % 2):
        raise ValueError(f'codec {codec!r} needs an even frame size, got '
                         f'{height}x{width}')
    with av.open(path, mode='w') as container:
        stream = container.add_stream(codec, rate=Fraction(fps))
        stream.width = width
        stream.height = height
        if codec == 'libx264':
            # 4:4:4 keeps full colour resolution (tiny frames, sharp edges).
            stream.pix_fmt = 'yuv444p'
            stream.options = {'crf': str(crf)}
        else:
            stream.pix_fmt = 'yuv420p'
            stream.options = {'qscale': '1'}
        for idx in range(num_frames):
            frame = av.VideoFrame.from_ndarray(frames[idx], format='rgb24')
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():  # flush delayed frames
            container.mux(packet)


def _write_opencv(path: str, frames: np.ndarray, fps: int) -> None:
    """Encode ``frames`` with OpenCV's MPEG-4 Part 2 writer (lossy)."""
    import cv2

    num_frames, height, width = frames.shape[:3]
    if height % 2 or width % 2:
        raise ValueError('the OpenCV writer needs an even frame size, got '
                         f'{height}x{width}')
    writer = cv2.VideoWriter(path, cv2.VideoWriter_fourcc(*'mp4v'),
                             float(fps), (width, height))
    if not writer.isOpened():
        raise RuntimeError(f'OpenCV could not open a video writer for {path}')
    try:
        for idx in range(num_frames):
            writer.write(np.ascontiguousarray(frames[idx, :, :, ::-1]))
    finally:
        writer.release()


def write_video(path: str,
                frames: np.ndarray,
                fps: int = 8,
                codec: str = 'auto',
                crf: int = 0) -> str:
    """Encode RGB frames into an MP4 file.

    Args:
        path (str): Output file; parent folders are created.
        frames (np.ndarray): RGB frames, uint8, shape ``[T, H, W, 3]``.
        fps (int): Frame rate written into the stream. Defaults to 8.
        codec (str): ``'libx264'`` or ``'mpeg4'`` (PyAV), ``'opencv'``
            (``cv2.VideoWriter`` with fourcc ``mp4v``), or ``'auto'``: the
            first PyAV codec of :data:`PYAV_CODECS` available, else OpenCV.
            Only ``libx264`` accepts odd frame sizes. Defaults to ``'auto'``.
        crf (int): libx264 constant rate factor; 0 is lossless in YUV.
            Defaults to 0.

    Returns:
        str: ``path``.
    """
    frames = _check_frames(frames)
    if fps <= 0:
        raise ValueError(f'fps must be positive, got {fps}')
    parent = osp.dirname(osp.abspath(path))
    os.makedirs(parent, exist_ok=True)

    if codec == 'auto':
        available = _pyav_available_codecs()
        codec = next((c for c in PYAV_CODECS if c in available), 'opencv')
    if codec == 'opencv':
        _write_opencv(path, frames, fps)
    elif codec in PYAV_CODECS:
        _write_pyav(path, frames, fps, codec, crf)
    else:
        raise ValueError(f'unknown codec {codec!r}; choose one of '
                         f"{PYAV_CODECS + ('opencv', 'auto')}")
    return path


def decode_frames_pyav(source: Union[str, io.IOBase],
                       frame_inds: Sequence[int],
                       name: Optional[str] = None) -> List[np.ndarray]:
    """Decode the frames ``frame_inds`` (0-based, in stream order) with PyAV.

    Args:
        source (str | file-like): Video file or its bytes as a file object.
        frame_inds (Sequence[int]): Frames to return, in the order given
            (repeats allowed).
        name (str, optional): File name for error messages. Defaults to
            ``source`` when it is a path.

    Returns:
        list[np.ndarray]: RGB frames, uint8 ``[H, W, 3]``, one per index.
    """
    import av

    name = name or (source if isinstance(source, str) else '<video bytes>')
    wanted = [int(i) for i in np.asarray(frame_inds).ravel()]
    if not wanted:
        return []
    if min(wanted) < 0:
        raise ValueError(f'{name}: negative frame index {min(wanted)}')
    needed, last = set(wanted), max(wanted)
    decoded = {}
    count = 0
    with av.open(source) as container:
        for frame in container.decode(video=0):
            if count in needed:
                decoded[count] = frame.to_ndarray(format='rgb24')
            count += 1
            if count > last:
                break
    missing = sorted(needed - set(decoded))
    if missing:
        raise ValueError(
            f'{name}: PyAV decoded {count} frames, frame(s) {missing[:5]} '
            'do not exist (truncated or damaged video)')
    return [decoded[i].copy() for i in wanted]


def read_video(path: str, backend: Optional[str] = None) -> np.ndarray:
    """Decode every frame of a video file.

    Args:
        path (str): Video file.
        backend (str, optional): ``'decord'`` or ``'pyav'``. ``None`` uses
            decord when it is installed (PyAV where decord fails, e.g. the
            widths of dmlc/decord#336), else PyAV. Defaults to None.

    Returns:
        np.ndarray: RGB frames, uint8, shape ``[T, H, W, 3]``.
    """
    fallback = backend is None
    if backend is None:
        try:
            import decord  # noqa: F401
            backend = 'decord'
        except ImportError:
            backend = 'pyav'
    if backend == 'decord':
        import decord
        try:
            reader = decord.VideoReader(path, num_threads=1)
            return reader.get_batch(list(range(len(reader)))).asnumpy()
        except decord.DECORDError:
            if not fallback:
                raise
            backend = 'pyav'
    if backend == 'pyav':
        import av
        with av.open(path) as container:
            frames = [
                frame.to_ndarray(format='rgb24')
                for frame in container.decode(video=0)
            ]
        return np.stack(frames)
    raise ValueError(f"unknown backend {backend!r}; use 'decord' or 'pyav'")
