"""ResumeRandomnessHook's pieces: RNG states survive a weights_only
checkpoint round trip, and worker seeds follow the main process's draw.
(The end-to-end SIGKILL + ``--resume`` run is in test_dist_training.py.)"""
import random
from types import SimpleNamespace

import numpy as np
import torch

from dist_plugin.engine.rng_state_hook import (ResumeRandomnessHook,
                                               capture_rng_state,
                                               restore_rng_state,
                                               resume_exact_worker_init_fn)
from dist_plugin.upstream_fixes.safe_checkpoint import safe_torch_load


def _draw():
    return (random.random(), float(np.random.rand()),
            float(torch.rand(())), float(np.random.randn()))


def test_states_survive_a_weights_only_checkpoint(tmp_path):
    random.seed(1)
    np.random.seed(2)
    torch.manual_seed(3)
    np.random.randn()  # leaves a cached gaussian in numpy's state
    hook = ResumeRandomnessHook()
    hook._gathered = [capture_rng_state()]
    checkpoint = dict(meta=dict(epoch=1))
    hook.before_save_checkpoint(None, checkpoint)
    expected = _draw()
    torch.save(checkpoint, tmp_path / 'ckpt.pth')
    loaded = safe_torch_load(str(tmp_path / 'ckpt.pth'))

    _draw()  # move every generator on
    resumed = ResumeRandomnessHook()
    resumed.after_load_checkpoint(SimpleNamespace(_resume=True), loaded)
    resumed.before_train_epoch(
        SimpleNamespace(train_loop=SimpleNamespace(dataloader=None)))
    assert _draw() == expected


def test_load_from_does_not_touch_the_run_randomness():
    checkpoint = dict(rng_states=dict(world_size=1,
                                      states=[capture_rng_state()]))
    hook = ResumeRandomnessHook()
    hook.after_load_checkpoint(SimpleNamespace(_resume=False), checkpoint)
    assert hook._pending is None


def test_restore_is_exact_for_every_generator():
    state = capture_rng_state()
    first = _draw()
    restore_rng_state(state)
    assert _draw() == first


def _worker_draws(base_seed: int, worker_id: int, rank: int, seed: int):
    torch.manual_seed(base_seed + worker_id)  # what torch does per worker
    resume_exact_worker_init_fn(worker_id, 2, rank, seed)
    return _draw()


def test_worker_seeds_follow_the_main_process_draw():
    same = _worker_draws(1234, 0, 0, 7)
    assert _worker_draws(1234, 0, 0, 7) == same
    # another epoch (another draw), worker, rank or run seed: other numbers
    assert _worker_draws(999, 0, 0, 7) != same
    assert _worker_draws(1234, 1, 0, 7) != same
    assert _worker_draws(1234, 0, 1, 7) != same
    assert _worker_draws(1234, 0, 0, 8) != same
