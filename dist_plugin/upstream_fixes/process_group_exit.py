"""Destroy the default process group before the interpreter shuts down.

Upstream defect (torch 2.14, gloo): a process that exits without
``torch.distributed.destroy_process_group()`` can abort with "terminate
called without an active exception" (SIGABRT) while the interpreter is torn
down, after all its work succeeded (pytorch/pytorch#190489; the atexit
handler proposed upstream in pytorch/pytorch PR #179291 was abandoned).
mmengine's runners and mmaction's tools never destroy the group, so
``torchrun`` reports a failed rank for a finished run.

Fix: an ``atexit`` handler that destroys the default group while the
interpreter is still alive; a no-op when no group exists or the program
already destroyed it.
"""
import atexit

import torch.distributed as dist

_REGISTERED = []


def destroy_default_group() -> None:
    """Destroy the default process group if one is initialised."""
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def apply() -> bool:
    """Register :func:`destroy_default_group` to run at exit (once)."""
    if not _REGISTERED:
        atexit.register(destroy_default_group)
        _REGISTERED.append(True)
    return True
