"""Train a recognizer with dist_plugin components (mmaction2's interface).

Example:
    python tools/train.py CONFIG [--work-dir DIR] [--amp] [--resume [PATH]]
    bash tools/dist_train.sh CONFIG 8 --amp
"""
import argparse
import os
import os.path as osp

from mmengine.config import Config, DictAction

import dist_plugin  # noqa: F401  (applies upstream fixes, registers modules)
from dist_plugin.apis.runner import build_runner, log_parameter_counts
from dist_plugin.upstream_fixes import apply_all, setup_cpu_distributed
from dist_plugin.upstream_fixes.process_group_exit import exit_distributed

#: Wrapper used by ``--amp``: AmpOptimWrapper on GPUs, bf16 autocast on CPU.
AMP_WRAPPER = 'CPUAwareAmpOptimWrapper'
AMP_REPLACEABLE = ('OptimWrapper', 'AmpOptimWrapper', AMP_WRAPPER)


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Train an action recognizer')
    parser.add_argument('config', help='train config file path')
    parser.add_argument('--work-dir', help='the dir to save logs and models')
    parser.add_argument(
        '--resume',
        nargs='?',
        type=str,
        const='auto',
        help='resume from the given checkpoint, or (no value) from the '
        'latest checkpoint in the work directory')
    parser.add_argument(
        '--amp',
        action='store_true',
        help='automatic mixed precision (fp16 on GPU, bf16 on CPU)')
    parser.add_argument(
        '--no-validate',
        action='store_true',
        help='do not evaluate checkpoints during training')
    parser.add_argument(
        '--auto-scale-lr',
        action='store_true',
        help='scale the learning rate by actual / base batch size')
    parser.add_argument('--seed', type=int, default=None, help='random seed')
    parser.add_argument(
        '--diff-rank-seed',
        action='store_true',
        help='use a different seed on each rank')
    parser.add_argument(
        '--deterministic',
        action='store_true',
        help='use deterministic CUDNN algorithms')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override config entries, as key=value pairs '
        '(e.g. train_cfg.max_epochs=2 "optim_wrapper.optimizer.lr=0.1")')
    parser.add_argument(
        '--launcher',
        choices=['none', 'pytorch', 'slurm', 'mpi'],
        default='none',
        help='job launcher')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    args = parser.parse_args(argv)
    if 'LOCAL_RANK' not in os.environ:
        os.environ['LOCAL_RANK'] = str(args.local_rank)
    return args


def merge_args(cfg: Config, args: argparse.Namespace) -> Config:
    """Merge command-line arguments into the config."""
    if args.no_validate:
        cfg.val_cfg = None
        cfg.val_dataloader = None
        cfg.val_evaluator = None
    cfg.launcher = args.launcher
    # work_dir priority: CLI > config > ./work_dirs/<config name>
    if args.work_dir is not None:
        cfg.work_dir = args.work_dir
    elif cfg.get('work_dir', None) is None:
        cfg.work_dir = osp.join('./work_dirs',
                                osp.splitext(osp.basename(args.config))[0])
    if args.amp:
        wrapper_type = cfg.optim_wrapper.get('type', 'OptimWrapper')
        if wrapper_type not in AMP_REPLACEABLE:
            raise ValueError(f'--amp cannot replace the custom optimizer '
                             f'wrapper {wrapper_type!r}')
        cfg.optim_wrapper.type = AMP_WRAPPER
        cfg.optim_wrapper.setdefault('loss_scale', 'dynamic')
    if args.resume == 'auto':
        cfg.resume = True
        cfg.load_from = None
    elif args.resume is not None:
        cfg.resume = True
        cfg.load_from = args.resume
    if args.auto_scale_lr:
        if 'auto_scale_lr' not in cfg:
            raise ValueError('--auto-scale-lr needs `auto_scale_lr = dict('
                             'enable=False, base_batch_size=...)` in the '
                             'config')
        cfg.auto_scale_lr.enable = True
    if cfg.get('randomness', None) is None:
        cfg.randomness = dict(
            seed=args.seed,
            diff_rank_seed=args.diff_rank_seed,
            deterministic=args.deterministic)
    if args.cfg_options is not None:
        cfg.merge_from_dict(args.cfg_options)
    return cfg


def main(argv=None) -> None:
    args = parse_args(argv)
    apply_all()  # idempotent; already done by ``import dist_plugin``
    cfg = merge_args(Config.fromfile(args.config), args)
    setup_cpu_distributed(cfg, args.launcher)  # gloo when there is no CUDA
    runner = build_runner(cfg)
    log_parameter_counts(runner.model, runner.logger)
    runner.train()


if __name__ == '__main__':
    main()
    exit_distributed(0)  # pytorch/pytorch#190489
