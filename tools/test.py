"""Test (and evaluate) a recognizer with dist_plugin components.

Example:
    python tools/test.py CONFIG CHECKPOINT [--dump results.pkl]
    bash tools/dist_test.sh CONFIG https://host/ckpt.pth 8

CHECKPOINT may be a local path or a URL (http, https, ...); either way it is
loaded with ``weights_only=True`` and dist_plugin's allow-list.
"""
import argparse
import os
import os.path as osp
import sys

import torch
from mmengine.config import Config, DictAction

import dist_plugin  # noqa: F401  (applies upstream fixes, registers modules)
from dist_plugin.apis.runner import build_runner
from dist_plugin.engine.checkpoint_keys_hook import CheckpointMismatchError
from dist_plugin.upstream_fixes import apply_all, setup_cpu_distributed
from dist_plugin.upstream_fixes.process_group_exit import exit_distributed


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Test (and evaluate) an action recognizer')
    parser.add_argument('config', help='test config file path')
    parser.add_argument('checkpoint', help='checkpoint file path or URL')
    parser.add_argument(
        '--work-dir', help='the dir to save the evaluation metrics')
    parser.add_argument(
        '--dump', type=str, help='dump predictions to a .pkl file')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override config entries, as key=value pairs')
    parser.add_argument(
        '--show-dir', help='directory to save visualised samples in')
    parser.add_argument(
        '--show', action='store_true', help='display visualised samples')
    parser.add_argument(
        '--interval', type=int, default=1, help='visualise every N samples')
    parser.add_argument(
        '--wait-time', type=float, default=2, help='display time (s)')
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
    if args.show or args.show_dir is not None:
        if 'visualization' not in cfg.get('default_hooks', {}):
            raise ValueError('--show/--show-dir need a VisualizationHook in '
                             '`default_hooks.visualization`')
        vis = cfg.default_hooks.visualization
        vis.enable = True
        vis.show = args.show
        vis.wait_time = args.wait_time
        vis.out_dir = args.show_dir
        vis.interval = args.interval
    if args.dump is not None:
        if not args.dump.endswith(('.pkl', '.pickle')):
            raise ValueError('--dump must name a .pkl or .pickle file')
        dump_metric = dict(type='DumpResults', out_file_path=args.dump)
        if isinstance(cfg.test_evaluator, (list, tuple)):
            cfg.test_evaluator = [*cfg.test_evaluator, dump_metric]
        else:
            cfg.test_evaluator = [cfg.test_evaluator, dump_metric]
    cfg.launcher = args.launcher
    if args.cfg_options is not None:
        cfg.merge_from_dict(args.cfg_options)
    # work_dir priority: CLI > config > ./work_dirs/<config name>
    if args.work_dir is not None:
        cfg.work_dir = args.work_dir
    elif cfg.get('work_dir', None) is None:
        cfg.work_dir = osp.join('./work_dirs',
                                osp.splitext(osp.basename(args.config))[0])
    cfg.load_from = args.checkpoint
    return cfg


def main(argv=None) -> int:
    args = parse_args(argv)
    apply_all()  # idempotent; already done by ``import dist_plugin``
    cfg = merge_args(Config.fromfile(args.config), args)
    setup_cpu_distributed(cfg, args.launcher)  # gloo when there is no CUDA
    runner = build_runner(cfg)
    # No autograd bookkeeping at all while testing (stricter than no_grad).
    try:
        with torch.inference_mode():
            runner.test()
    except CheckpointMismatchError as err:  # from CheckpointKeysHook
        print(f'error: {err}', file=sys.stderr)
        return 1
    return 0


if __name__ == '__main__':
    status = main()
    exit_distributed(status or 0)  # pytorch/pytorch#190489
    sys.exit(status)
