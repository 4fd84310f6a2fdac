"""Safe checkpoint loading for mmengine 0.10.7 on torch >= 2.6 (item 6).

Upstream defects:
- torch 2.6 made ``torch.load(weights_only=True)`` the default, so
  ``Runner.resume`` / ``load_from`` of any mmengine-saved checkpoint fails
  with ``Unsupported global: ... HistoryBuffer`` (open-mmlab/mmengine issue
  #1655). The upstream PR open-mmlab/mmengine#1650 works around it by
  disabling ``weights_only``, which lets a downloaded checkpoint run code.
- mmengine's ``http(s)://`` scheme downloads through
  ``torch.hub.load_state_dict_from_url``, whose ``weights_only`` defaults to
  False even on torch 2.6+: a URL checkpoint is unpickled without limits.

Fix: :func:`safe_torch_load` always uses ``weights_only=True`` and allows
exactly the extra globals that mmengine checkpoints contain (found by
inspecting real ones: SGD/AdamW, clip_grad, LR schedulers, AMP loss scaler),
only for the duration of the load. ``builtins.getattr`` (HistoryBuffer
pickles its statistic methods through it) is mapped to a stand-in that only
returns HistoryBuffer's own public methods. :func:`apply` makes mmengine's
``CheckpointLoader`` use it: the local scheme and s3/petrel are re-registered
with ``force=True``; ``load_from_http`` (and the ``torchvision://``,
``modelzoo://``, ``mmcls://`` and ``open-mmlab://`` URL schemes built on it)
gets a ``load_url`` that downloads with torch.hub and loads safely; ``pavi://``
and the ``open-mmlab://`` local-file branch run inside the allow-list (their
``torch.load`` uses torch's ``weights_only=True`` default on torch >= 2.6).
"""
import contextlib
import io
import os
import os.path as osp
import pickle
import threading
import types
from typing import Any, Callable, Dict, Iterator, List, Optional, Union

import numpy as np
import torch
from mmengine.logging.history_buffer import HistoryBuffer

try:  # numpy >= 1.26 (and 2.x) exposes the private core as ``numpy._core``
    from numpy._core import multiarray as _multiarray
except ImportError:  # pragma: no cover - older numpy 1.x
    from numpy.core import multiarray as _multiarray

MapLocation = Union[str, torch.device, Callable, Dict, None]

#: Module paths of numpy's multiarray as written by numpy 2 and numpy 1.
NUMPY_MULTIARRAY_PATHS = ('numpy._core.multiarray', 'numpy.core.multiarray')
#: numpy dtypes whose dtype classes may be rebuilt (no object/void/string).
NUMPY_DTYPES = ('bool', 'int8', 'uint8', 'int16', 'uint16', 'int32', 'uint32',
                'int64', 'uint64', 'float16', 'float32', 'float64',
                'longdouble', 'complex64', 'complex128')

#: mmengine loaders replaced or wrapped by :func:`apply`, kept for tests.
ORIGINALS: Dict[str, Optional[Callable]] = {}
_LOCK = threading.RLock()


def history_buffer_getattr(obj: Any, name: str) -> Callable:
    """Restricted stand-in for ``builtins.getattr`` during unpickling.

    Args:
        obj (Any): Must be the ``HistoryBuffer`` class itself.
        name (str): A public method defined by ``HistoryBuffer``.

    Returns:
        Callable: The plain function ``HistoryBuffer.<name>``.
    """
    if (obj is HistoryBuffer and isinstance(name, str)
            and not name.startswith('_')
            and isinstance(vars(HistoryBuffer).get(name), types.FunctionType)):
        return vars(HistoryBuffer)[name]
    raise pickle.UnpicklingError(
        f'checkpoint asks for getattr({obj!r}, {name!r}); only public methods '
        'of mmengine HistoryBuffer are allowed')


def checkpoint_safe_globals() -> List[Any]:
    """The globals an mmengine checkpoint needs beyond torch's defaults.

    Returns:
        list: Objects and ``(object, 'module.name')`` pairs for
        ``torch.serialization.safe_globals``.
    """
    allowed: List[Any] = [
        HistoryBuffer,
        (history_buffer_getattr, 'builtins.getattr'),
        np.ndarray,
        np.dtype,
    ]
    for path in NUMPY_MULTIARRAY_PATHS:
        allowed.append((_multiarray._reconstruct, f'{path}._reconstruct'))
        allowed.append((_multiarray.scalar, f'{path}.scalar'))
    allowed.extend(type(np.dtype(name)) for name in NUMPY_DTYPES)
    return allowed


@contextlib.contextmanager
def allow_checkpoint_globals() -> Iterator[None]:
    """Allow :func:`checkpoint_safe_globals` for ``weights_only`` loads.

    Only the globals not already allowed are added, and they are removed on
    exit; a lock keeps concurrent loads from removing each other's.
    """
    with _LOCK:
        present = set(torch.serialization.get_safe_globals())
        missing = [g for g in checkpoint_safe_globals() if g not in present]
        with torch.serialization.safe_globals(missing):
            yield


def safe_torch_load(path_or_file: Union[str, os.PathLike, io.IOBase],
                    map_location: MapLocation = 'cpu') -> Any:
    """``torch.load`` with ``weights_only=True`` and the mmengine allow-list.

    Args:
        path_or_file (str | os.PathLike | file-like): Checkpoint to read.
        map_location (str | torch.device | callable | dict, optional): As in
            :func:`torch.load`. Defaults to ``'cpu'``.

    Returns:
        Any: The loaded object (usually a dict).
    """
    with allow_checkpoint_globals():
        return torch.load(
            path_or_file, map_location=map_location, weights_only=True)


def safe_load_url(url: str,
                  model_dir: Optional[str] = None,
                  map_location: MapLocation = None,
                  progress: bool = True,
                  check_hash: bool = False,
                  file_name: Optional[str] = None) -> Any:
    """Download with torch.hub (cached) and load with the allow-list.

    Same arguments as mmengine's ``load_url``; the file is never unpickled
    without ``weights_only=True``.
    """
    with allow_checkpoint_globals():
        return torch.hub.load_state_dict_from_url(
            url,
            model_dir=model_dir,
            map_location=map_location,
            progress=progress,
            check_hash=check_hash,
            file_name=file_name,
            weights_only=True)


def safe_load_from_local(filename: str, map_location: MapLocation) -> Any:
    """mmengine local scheme (``''``) through :func:`safe_torch_load`."""
    filename = osp.expanduser(filename)
    if not osp.isfile(filename):
        raise FileNotFoundError(f'{filename} can not be found.')
    return safe_torch_load(filename, map_location=map_location)


def safe_load_from_ceph(filename: str,
                        map_location: MapLocation = None,
                        backend: str = 'petrel') -> Any:
    """mmengine s3/petrel scheme through :func:`safe_torch_load`."""
    from mmengine.fileio import get_file_backend
    file_backend = get_file_backend(
        filename, backend_args={'backend': backend})
    with io.BytesIO(file_backend.get(filename)) as buffer:
        return safe_torch_load(buffer, map_location=map_location)


def _within_allow_list(loader: Callable) -> Callable:
    """Run an mmengine loader inside :func:`allow_checkpoint_globals`."""

    def wrapped(filename: str, map_location: MapLocation = None) -> Any:
        with allow_checkpoint_globals():
            return loader(filename, map_location)

    wrapped.__name__ = loader.__name__
    wrapped.__doc__ = loader.__doc__
    return wrapped


def _scheme_for(checkpoint_module: types.ModuleType, loader_name: str) -> list:
    loader = getattr(checkpoint_module, loader_name)
    return [p for p, f in checkpoint_module.CheckpointLoader._schemes.items()
            if f is loader]


def apply() -> bool:
    """Route mmengine's checkpoint loading through the safe loader.

    Returns:
        bool: True when mmengine's loaders are (now) the safe ones.
    """
    from mmengine.runner import checkpoint as ckpt
    loader_cls = ckpt.CheckpointLoader
    if loader_cls._schemes.get('') is safe_load_from_local:
        return True
    ORIGINALS.update(
        load_url=ckpt.load_url,
        load_from_local=loader_cls._schemes.get(''),
        load_from_http=ckpt.load_from_http)

    # Local files (Runner.resume / load_from with a path).
    loader_cls.register_scheme('', safe_load_from_local, force=True)
    # http(s): mmengine's load_from_http keeps its rank-0-first download and
    # calls the module global ``load_url``, here the safe one.
    ckpt.load_url = safe_load_url
    # s3 / petrel: same bytes, safe unpickling.
    ceph_prefixes = _scheme_for(ckpt, 'load_from_ceph')
    if ceph_prefixes:
        loader_cls.register_scheme(
            ceph_prefixes, safe_load_from_ceph, force=True)
    # Loaders that call torch.load themselves: run them inside the allow-list.
    for name in ('load_from_pavi', 'load_from_openmmlab'):
        prefixes = _scheme_for(ckpt, name)
        if prefixes:
            ORIGINALS[name] = getattr(ckpt, name)
            loader_cls.register_scheme(
                prefixes, _within_allow_list(getattr(ckpt, name)), force=True)
    return True
