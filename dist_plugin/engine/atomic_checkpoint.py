"""Crash-safe checkpoint saving for mmengine (0.10.x) runners.

mmengine writes a checkpoint with a plain ``open(path, 'wb')`` in
``LocalBackend.put`` and its ``CheckpointHook`` deletes the checkpoint that
falls out of ``max_keep_ckpts`` (or the previous best one) *before* saving
the new one, then rewrites ``work_dir/last_checkpoint`` in place. A process
killed while saving (OOM killer, preemption, Ctrl-C twice) can therefore
leave a truncated newest file, no loadable checkpoint at all, and a
``last_checkpoint`` that points at a deleted file, so ``--resume`` fails.

:func:`apply` makes three narrow changes:

1. ``LocalBackend.put`` / ``put_text`` write to a hidden temporary file in the
   same directory, flush, ``fsync``, then ``os.replace`` it over the target
   (and fsync the directory). Readers see the old file or the complete new
   one, never a partial one. Runner.save_checkpoint goes through ``put``.
2. ``CheckpointHook._save_checkpoint_with_step`` and ``_save_best_checkpoint``
   defer the deletions they request until the new checkpoint is on disk.
3. The ``last_checkpoint`` pointer file (written by the hook with ``open``
   after the save returned) is replaced atomically as well.

A save killed midway leaves a hidden ``.NAME.<pid>.<random>.tmp`` file next
to the checkpoints; it is never loaded and is safe to delete.
"""
import builtins
import functools
import os
import os.path as osp
import secrets
from typing import IO, Any, Callable, List, Tuple, Union

from mmengine.fileio.backends import LocalBackend
from mmengine.hooks import checkpoint_hook as _checkpoint_hook_module
from mmengine.hooks.checkpoint_hook import CheckpointHook
from mmengine.utils import mkdir_or_exist

_PATCHED_FLAG = '_dist_plugin_atomic'


def _fsync_dir(dirname: str) -> None:
    """Persist a rename in ``dirname`` (no-op where unsupported)."""
    try:
        fd = os.open(dirname or '.', os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def temp_path_for(filepath: str) -> str:
    """A fresh hidden temporary path beside ``filepath``.

    Args:
        filepath (str): The final file.

    Returns:
        str: ``DIR/.NAME.<pid>.<random>.tmp``.
    """
    dirname, name = osp.split(filepath)
    token = secrets.token_hex(4)
    return osp.join(dirname, f'.{name}.{os.getpid()}.{token}.tmp')


class AtomicFile:
    """A file that appears at ``filepath`` only once closed without error.

    Used as a context manager: ``with AtomicFile(path, 'wb') as f: ...``.
    On success the data is flushed, fsynced and renamed over ``filepath``;
    on an exception the temporary file is removed and ``filepath`` is left
    untouched. A symlink at ``filepath`` is followed (its target replaced).

    Args:
        filepath (str | os.PathLike): The final file.
        mode (str): ``'w'``/``'wb'`` (or with ``'+'``). Defaults to ``'wb'``.
        **open_kwargs: Passed to ``open`` (``encoding``, ...).
    """

    def __init__(self,
                 filepath: Union[str, os.PathLike],
                 mode: str = 'wb',
                 **open_kwargs) -> None:
        if 'w' not in mode:
            raise ValueError(f'AtomicFile writes whole files; got {mode!r}')
        self.filepath = osp.realpath(os.fspath(filepath))
        self.temp_path = temp_path_for(self.filepath)
        self._file: IO = open(self.temp_path, mode.replace('w', 'x'),
                              **open_kwargs)

    def __enter__(self) -> IO:
        return self._file

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        if exc_type is None:
            self.commit()
        else:
            self.discard()

    def commit(self) -> None:
        """Flush, fsync and move the temporary file over the target."""
        try:
            self._file.flush()
            os.fsync(self._file.fileno())
        finally:
            self._file.close()
        os.replace(self.temp_path, self.filepath)
        _fsync_dir(osp.dirname(self.filepath))

    def discard(self) -> None:
        """Close and delete the temporary file."""
        self._file.close()
        try:
            os.remove(self.temp_path)
        except FileNotFoundError:
            pass


def atomic_write(filepath: Union[str, os.PathLike],
                 data: Union[bytes, str],
                 encoding: str = 'utf-8') -> None:
    """Write ``data`` to ``filepath`` so it is either old or complete.

    Args:
        filepath (str | os.PathLike): Target file; its folder is created.
        data (bytes | str): The whole content.
        encoding (str): Encoding of text data. Defaults to ``'utf-8'``.
    """
    filepath = os.fspath(filepath)
    mkdir_or_exist(osp.dirname(osp.abspath(filepath)))
    if isinstance(data, str):
        with AtomicFile(filepath, 'w', encoding=encoding) as f:
            f.write(data)
    else:
        with AtomicFile(filepath, 'wb') as f:
            f.write(data)


def _atomic_put(self: LocalBackend, obj: bytes,
                filepath: Union[str, os.PathLike]) -> None:
    """``LocalBackend.put`` writing through :func:`atomic_write`."""
    atomic_write(filepath, obj)


def _atomic_put_text(self: LocalBackend,
                     obj: str,
                     filepath: Union[str, os.PathLike],
                     encoding: str = 'utf-8') -> None:
    """``LocalBackend.put_text`` writing through :func:`atomic_write`."""
    atomic_write(filepath, obj, encoding=encoding)


def _pointer_open(file: Any, mode: str = 'r', *args, **kwargs) -> IO:
    """``open`` for the checkpoint-hook module: text writes are atomic.

    The module only opens ``work_dir/last_checkpoint`` for writing.
    """
    if 'w' in mode and not args and isinstance(file, (str, os.PathLike)):
        return AtomicFile(file, mode, **kwargs)  # type: ignore[return-value]
    return builtins.open(file, mode, *args, **kwargs)


class _DeferredRemovalBackend:
    """Wrap a file backend; record ``remove``/``rmtree`` instead of doing it.

    Args:
        backend: The hook's file backend.
    """

    def __init__(self, backend: Any) -> None:
        self._backend = backend
        self.pending: List[Tuple[Callable, str]] = []

    def remove(self, filepath: str) -> None:
        self.pending.append((self._backend.remove, filepath))

    def rmtree(self, dir_path: str) -> None:
        self.pending.append((self._backend.rmtree, dir_path))

    def __getattr__(self, name: str) -> Any:
        return getattr(self._backend, name)


def _keep_paths(hook: CheckpointHook) -> set:
    """Checkpoint paths the hook still refers to (never delete them)."""
    keep = {getattr(hook, 'last_ckpt', None),
            getattr(hook, 'best_ckpt_path', None)}
    keep.update((getattr(hook, 'best_ckpt_path_dict', None) or {}).values())
    return {osp.normpath(str(p)) for p in keep if p}


def _defer_removals(method: Callable) -> Callable:
    """Run a CheckpointHook save method, deleting old files only after it."""

    @functools.wraps(method)
    def wrapper(self: CheckpointHook, *args, **kwargs) -> Any:
        backend = self.file_backend
        deferred = _DeferredRemovalBackend(backend)
        self.file_backend = deferred
        try:
            result = method(self, *args, **kwargs)
        finally:
            self.file_backend = backend
        # Reached only when the save succeeded: now drop the old files.
        keep = _keep_paths(self)
        for remove, path in deferred.pending:
            if osp.normpath(str(path)) not in keep:
                remove(path)
        return result

    setattr(wrapper, _PATCHED_FLAG, True)
    return wrapper


def apply() -> None:
    """Make mmengine's checkpoint saving crash-safe (idempotent)."""
    if getattr(LocalBackend.put, _PATCHED_FLAG, False):
        return
    for func in (_atomic_put, _atomic_put_text):
        setattr(func, _PATCHED_FLAG, True)
    LocalBackend.put = _atomic_put
    LocalBackend.put_text = _atomic_put_text
    for name in ('_save_checkpoint_with_step', '_save_best_checkpoint'):
        method = getattr(CheckpointHook, name)
        if not getattr(method, _PATCHED_FLAG, False):
            setattr(CheckpointHook, name, _defer_removals(method))
    _checkpoint_hook_module.open = _pointer_open


def is_applied() -> bool:
    """Whether :func:`apply` has patched mmengine in this process."""
    return bool(getattr(LocalBackend.put, _PATCHED_FLAG, False))
