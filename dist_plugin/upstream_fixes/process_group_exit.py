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
import logging
import os
import sys

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


def exit_distributed(code: int = 0) -> None:
    """End a finished torchrun rank without interpreter finalization.

    The atexit handler above is not always enough: gloo ranks of a finished
    run were still seen aborting during finalization (pytorch/pytorch#190489).
    Our ``tools/train.py`` / ``tools/test.py`` therefore wait for every rank,
    destroy the group, flush logs and streams, and leave with ``os._exit``.
    A process without a process group returns (normal exit).

    Args:
        code (int): The exit status.
    """
    if not (dist.is_available() and dist.is_initialized()):
        return
    dist.barrier()
    dist.destroy_process_group()
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
