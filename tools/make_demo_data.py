"""Generate the built-in demo video dataset (skipped when already complete).

Example:
    python tools/make_demo_data.py data/demo --seed 0
"""
import argparse
import os.path as osp
import sys

# Run from a checkout without installing the package.
sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

from dist_plugin.demo.make_dataset import generate_demo_dataset  # noqa: E402


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Write the motion-only demo dataset in mmaction2 '
        'VideoDataset format.')
    parser.add_argument('out_dir', help='dataset root, e.g. data/demo')
    parser.add_argument('--seed', type=int, default=0, help='dataset seed')
    parser.add_argument(
        '--num-train', type=int, default=320, help='training videos')
    parser.add_argument(
        '--num-val', type=int, default=80, help='validation videos')
    parser.add_argument(
        '--num-frames', type=int, default=16, help='frames per video')
    parser.add_argument(
        '--size', type=int, default=32, help='frame height and width')
    parser.add_argument(
        '--force', action='store_true', help='regenerate even if complete')
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    info = generate_demo_dataset(
        args.out_dir,
        seed=args.seed,
        num_train=args.num_train,
        num_val=args.num_val,
        num_frames=args.num_frames,
        size=args.size,
        force=args.force)
    state = (f'generated in {info["seconds"]:.1f} s'
             if info['generated'] else 'already complete')
    print(f'demo dataset {args.out_dir}: {info["num_train"]} train / '
          f'{info["num_val"]} val videos, {state}')


if __name__ == '__main__':
    main()
