"""Resume a training run with the random numbers it would have drawn.

mmengine checkpoints hold no random-number-generator state, so a run
resumed with ``--resume`` draws other random numbers than the run it
replaces (frame sampling, crops, flips, mixup/cutmix): the weights diverge.
:class:`ResumeRandomnessHook` makes a resumed run repeat an uninterrupted
one bit for bit:

- At the end of each training epoch (and of each iteration at which an
  iteration-based ``CheckpointHook`` saves), before ``CheckpointHook`` runs,
  every rank's python, numpy, torch (and CUDA) RNG states are gathered;
  ``before_save_checkpoint`` (called on rank 0 only: mmengine's
  ``Runner.save_checkpoint`` is ``master_only``) stores them under
  ``checkpoint['rng_states']`` (plain tensors, ints and lists, so
  ``weights_only=True`` reads them). ``after_load_checkpoint`` picks this
  rank's states; they are restored when the next training epoch starts.
- Validation and testing leave the training RNG states as they found them
  (their dataloader iterator draws a seed from the torch RNG), so the state
  saved at the end of an epoch is the state the next epoch starts with.
- Dataloader workers are seeded from the seed the main process draws for
  each new iterator (``torch.initial_seed()`` of the worker), the run's
  seed, the rank and the worker id (:func:`resume_exact_worker_init_fn`).
  mmengine's own ``worker_init_fn`` ignores the draw and gives every epoch
  the same worker streams. Persistent workers are restarted at each epoch
  start, so each epoch's workers depend only on the main-process state at
  that point, which the checkpoint restores.

Each sample's randomness is then fixed by (run seed, RNG state at the
epoch's start, rank, worker, position in the epoch), the same in a resumed
epoch as in an uninterrupted one. Resuming from a checkpoint written in the
middle of an epoch (iteration-based loops) restores the states too, but the
workers of that partial epoch start afresh.
"""
import logging
import random
from functools import partial
from typing import Any, Dict, List, Optional

import numpy as np
import torch
from mmaction.registry import FUNCTION, HOOKS
from mmengine.dist import all_gather_object, get_dist_info
from mmengine.hooks import CheckpointHook, Hook
from mmengine.logging import print_log

__all__ = [
    'ResumeRandomnessHook', 'capture_rng_state', 'restore_rng_state',
    'resume_exact_worker_init_fn'
]

#: Key of the per-rank states in an mmengine checkpoint dict.
CHECKPOINT_KEY = 'rng_states'


def capture_rng_state() -> Dict[str, Any]:
    """This process's RNG states as tensors, ints and lists."""
    py_version, py_state, py_gauss = random.getstate()
    np_kind, np_keys, np_pos, np_has_gauss, np_gauss = np.random.get_state()
    state = dict(
        python=dict(
            version=py_version,
            state=torch.tensor(py_state, dtype=torch.int64),
            gauss=py_gauss),
        numpy=dict(
            kind=str(np_kind),
            keys=torch.from_numpy(np_keys.astype(np.int64)),
            pos=int(np_pos),
            has_gauss=int(np_has_gauss),
            gauss=float(np_gauss)),
        torch=torch.get_rng_state())
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state['cuda'] = torch.cuda.get_rng_state_all()
    return state


def restore_rng_state(state: Dict[str, Any]) -> None:
    """Inverse of :func:`capture_rng_state`."""
    py = state['python']
    random.setstate((py['version'], tuple(int(v) for v in py['state']),
                     py['gauss']))
    npy = state['numpy']
    np.random.set_state((npy['kind'], npy['keys'].numpy().astype(np.uint32),
                         npy['pos'], npy['has_gauss'], npy['gauss']))
    torch.set_rng_state(state['torch'])
    cuda = state.get('cuda')
    if cuda and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(cuda[:torch.cuda.device_count()])


@FUNCTION.register_module()
def resume_exact_worker_init_fn(worker_id: int, num_workers: int, rank: int,
                                seed: Optional[int]) -> None:
    """Seed a dataloader worker from the main process's draw.

    torch gives worker ``i`` the torch seed ``base + i``, where ``base`` is
    drawn from the main process's torch RNG when the iterator is created;
    python, numpy and torch are seeded from it, the run seed and the rank.

    Args:
        worker_id (int): Worker index.
        num_workers (int): Workers per rank.
        rank (int): Process rank.
        seed (int, optional): The run's seed (``randomness.seed``).
    """
    base = torch.initial_seed()  # base + worker_id, < 2**64
    entropy = [base & 0xFFFFFFFF, base >> 32, worker_id, num_workers, rank]
    if seed is not None:
        entropy.append(int(seed) & 0xFFFFFFFF)
    words = np.random.SeedSequence(entropy).generate_state(4, dtype=np.uint32)
    np.random.seed(words[:2])
    random.seed(int(words[2]))
    torch.manual_seed(int(words[2]) << 32 | int(words[3]))


@HOOKS.register_module()
class ResumeRandomnessHook(Hook):
    """Save and restore RNG states so that ``--resume`` is exact.

    Args:
        seed_workers (bool): Replace mmengine's default ``worker_init_fn`` of
            the training dataloader with :func:`resume_exact_worker_init_fn`
            (a ``worker_init_fn`` set in the config is kept) and restart
            persistent workers at each epoch. Defaults to True.
    """

    # before CheckpointHook (VERY_LOW), so that a checkpoint saved after
    # validation (save_best) sees the restored training state
    priority = 'NORMAL'

    def __init__(self, seed_workers: bool = True) -> None:
        self.seed_workers = seed_workers
        self._pending: Optional[Dict[str, Any]] = None
        self._eval_state: Optional[Dict[str, Any]] = None
        self._gathered: Optional[List[Dict[str, Any]]] = None

    # ----------------------------------------------------------- checkpoint
    def _gather(self) -> None:
        """Collect every rank's states (collective: all ranks call it)."""
        self._gathered = all_gather_object(capture_rng_state())

    def after_train_epoch(self, runner) -> None:
        checkpoint_hooks = [
            h for h in runner.hooks if isinstance(h, CheckpointHook)
        ]
        if any(h.by_epoch for h in checkpoint_hooks):
            self._gather()

    def after_train_iter(self, runner, batch_idx: int, data_batch=None,
                         outputs=None) -> None:
        for hook in runner.hooks:
            if isinstance(hook, CheckpointHook) and not hook.by_epoch and (
                    self.every_n_train_iters(runner, hook.interval) or
                    (hook.save_last and self.is_last_train_iter(runner))):
                self._gather()
                return

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        """Store the states gathered for this checkpoint (rank 0 only)."""
        states = self._gathered
        if states is None and get_dist_info()[1] == 1:
            states = [capture_rng_state()]
        if states is None:
            print_log(
                'No RNG states were gathered for this checkpoint; a run '
                'resumed from it will not repeat the original.',
                logger='current', level=logging.WARNING)
            return
        checkpoint[CHECKPOINT_KEY] = dict(
            world_size=len(states), states=states)

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        """Pick this rank's states; they are restored when training starts.

        Only when resuming: ``load_from`` and testing keep the run's own
        randomness.
        """
        saved = checkpoint.get(CHECKPOINT_KEY)
        if not saved or not getattr(runner, '_resume', False):
            return
        rank, world_size = get_dist_info()
        if saved['world_size'] != world_size:
            print_log(
                f'The checkpoint holds RNG states of {saved["world_size"]} '
                f'ranks, this run has {world_size}: random numbers are not '
                'restored (the resumed run will not repeat the original).',
                logger='current', level=logging.WARNING)
            return
        self._pending = saved['states'][rank]

    # ---------------------------------------------------------------- train
    def before_train(self, runner) -> None:
        """Seed the training dataloader's workers from the main process."""
        loader = getattr(runner.train_loop, 'dataloader', None)
        if not self.seed_workers or loader is None or \
                loader.num_workers == 0:
            return
        init_fn = loader.worker_init_fn
        from mmengine.dataset import worker_init_fn as mmengine_init_fn
        if init_fn is None or (isinstance(init_fn, partial)
                               and init_fn.func is mmengine_init_fn):
            loader.worker_init_fn = partial(
                resume_exact_worker_init_fn,
                num_workers=loader.num_workers,
                rank=get_dist_info()[0],
                seed=runner.seed)

    def before_train_epoch(self, runner) -> None:
        """Restore the loaded states; restart persistent workers."""
        self._gathered = None
        if self._pending is not None:
            restore_rng_state(self._pending)
            self._pending = None
        loader = getattr(runner.train_loop, 'dataloader', None)
        iterator = getattr(loader, '_iterator', None)
        if self.seed_workers and iterator is not None:
            # persistent workers carry their RNG across epochs; new ones are
            # seeded from this epoch's draw (what a resumed run does)
            iterator._shutdown_workers()
            loader._iterator = None

    # ------------------------------------------------ validation and test
    def before_val_epoch(self, runner) -> None:
        self._eval_state = capture_rng_state()

    def after_val_epoch(self, runner, metrics=None) -> None:
        if self._eval_state is not None:
            restore_rng_state(self._eval_state)
            self._eval_state = None

    def before_test_epoch(self, runner) -> None:
        self._eval_state = capture_rng_state()

    def after_test_epoch(self, runner, metrics=None) -> None:
        self.after_val_epoch(runner, metrics)
