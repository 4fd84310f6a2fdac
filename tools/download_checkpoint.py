"""Download a DiST checkpoint, verify it and convert the official layout.

Examples:
    python tools/download_checkpoint.py --list
    python tools/download_checkpoint.py \
        dist_vit-b16_clip-openai-pre_8xb32-u16-a2_36e_kinetics400-rgb
    python tools/download_checkpoint.py https://host/dist_b16.pth \
        --sha256 <64 hex digits> --out work_dirs/checkpoints
    # a file downloaded by hand (e.g. from Google Drive in a browser)
    python tools/download_checkpoint.py ~/Downloads/k400_b16_8x2.pyth

The cache folder is $DIST_PLUGIN_CACHE or ~/.cache/dist_plugin/checkpoints.
The last line printed is the checkpoint to pass to tools/test.py.
"""
import argparse
import sys

from dist_plugin.checkpoint.download import (DownloadError,
                                             NotACheckpointError,
                                             default_cache_dir,
                                             fetch_checkpoint)
from dist_plugin.checkpoint.model_zoo import load_model_zoo


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Download (resumable), verify and convert a DiST '
        'checkpoint for tools/test.py')
    parser.add_argument(
        'source', nargs='?',
        help='model-zoo name (see --list), http(s) URL or local file')
    parser.add_argument('--sha256', help='expected SHA-256 (hex)')
    parser.add_argument(
        '--out', help=f'cache folder (default: {default_cache_dir()})')
    parser.add_argument(
        '--no-convert', action='store_true',
        help='keep an official checkpoint in its own layout')
    parser.add_argument(
        '--metafile', help='model-zoo metafile (default: '
        'configs/dist/metafile.yml)')
    parser.add_argument(
        '--retries', type=int, default=3,
        help='attempts for an interrupted transfer (default: 3)')
    parser.add_argument(
        '--timeout', type=float, default=60.,
        help='socket timeout in seconds (default: 60)')
    parser.add_argument(
        '--no-progress', action='store_true', help='hide the progress bar')
    parser.add_argument(
        '--list', action='store_true', help='list the model zoo and exit')
    args = parser.parse_args(argv)
    if not args.list and not args.source:
        parser.error('give a model-zoo name, a URL or a file (or --list)')
    return args


def print_zoo(metafile=None) -> None:
    for entry in load_model_zoo(metafile).values():
        print(f'{entry.name}\n    {entry.dataset}: top-1 {entry.top1}, '
              f'top-5 {entry.top5}; sha256 {entry.sha256 or "unpublished"}')


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.list:
        print_zoo(args.metafile)
        return 0
    try:
        result = fetch_checkpoint(
            args.source,
            out_dir=args.out,
            sha256=args.sha256,
            convert=not args.no_convert,
            progress=not args.no_progress,
            metafile=args.metafile,
            max_attempts=args.retries,
            timeout=args.timeout)
    except (DownloadError, NotACheckpointError, KeyError, ValueError,
            FileNotFoundError) as err:
        message = err.args[0] if isinstance(err, KeyError) and err.args \
            else err
        print(f'error: {message}', file=sys.stderr)
        return 1
    print(f'downloaded: {result.downloaded} (sha256 {result.sha256})')
    if result.converted:
        print(f'converted from the official layout: {result.path}')
    config = result.entry.config if result.entry else 'CONFIG'
    print(f'test it with: python tools/test.py {config} {result.path}')
    print(result.path)
    return 0


if __name__ == '__main__':
    sys.exit(main())
