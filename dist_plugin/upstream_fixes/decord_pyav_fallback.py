"""decord cannot decode frames 8, 12, 16, 24, 48 or 72 pixels wide.

Upstream defect: decord 0.6.0 (the latest release, 2022) hands back a padded
buffer for these widths and ``get_batch`` fails with
``DECORDArrayCopyFromTo: The size must exactly match`` (dmlc/decord#336, any
codec, any height). mmaction2's ``DecordInit`` / ``DecordDecode`` pipeline
steps then fail, so such videos are skipped in training and scored as wrong
in testing.

Fix (narrowest): inside the same ``DecordDecode`` step, when decord raises
``DECORDError``, the same frame indices are decoded with PyAV
(:func:`dist_plugin.utils.video_io.decode_frames_pyav`) from the same file,
read again through ``DecordInit``'s own file client. ``DecordInit`` only
records on the reader where the bytes came from; the classes, their registry
entries and every other behaviour stay upstream's. If PyAV fails too, the
error names the file and both decoders' messages.
"""
import io
from typing import Any, Callable, Dict, List, Optional

import numpy as np

#: Attribute set on decord readers: a callable returning the file's bytes.
SOURCE_ATTR = '_dist_plugin_video_source'
#: Upstream methods, kept for tests and for reverting.
ORIGINALS: Dict[str, Optional[Callable]] = {}


def _decord_init_transform(self, results: Dict) -> Dict:
    """Upstream ``DecordInit.transform``; the reader remembers its file."""
    results = ORIGINALS['init_transform'](self, results)
    reader = results['video_reader']
    client, filename = self.file_client, results['filename']
    setattr(reader, SOURCE_ATTR, lambda: (client.get(filename), filename))
    return results


def _decord_load_frames(self, container: Any,
                        frame_inds: np.ndarray) -> List[np.ndarray]:
    """Upstream ``DecordDecode._decord_load_frames``, PyAV where it fails."""
    from decord import DECORDError
    try:
        return ORIGINALS['load_frames'](self, container, frame_inds)
    except DECORDError as decord_error:
        source = getattr(container, SOURCE_ATTR, None)
        if source is None:
            raise
        from dist_plugin.utils.video_io import decode_frames_pyav
        data, filename = source()
        try:
            return decode_frames_pyav(
                io.BytesIO(data), frame_inds, name=str(filename))
        except Exception as pyav_error:
            raise RuntimeError(
                f'{filename}: decord failed ({decord_error}) and PyAV failed '
                f'too ({pyav_error}).') from pyav_error


def apply() -> bool:
    """Install the PyAV fallback into mmaction's decord pipeline steps.

    Returns:
        bool: True when installed; False when decord or PyAV is missing.
    """
    try:
        import av  # noqa: F401
        import decord  # noqa: F401
    except ImportError:
        return False
    from mmaction.datasets.transforms.loading import DecordDecode, DecordInit
    if DecordDecode._decord_load_frames is _decord_load_frames:
        return True
    ORIGINALS['init_transform'] = DecordInit.transform
    ORIGINALS['load_frames'] = DecordDecode._decord_load_frames
    DecordInit.transform = _decord_init_transform
    DecordDecode._decord_load_frames = _decord_load_frames
    return True
