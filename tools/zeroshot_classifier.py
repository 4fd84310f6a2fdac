"""Class lists and annotation files for zero-shot evaluation.

Examples:
    # (Re)write the class lists the configs in configs/zeroshot/ read
    python tools/zeroshot_classifier.py names

    # Kinetics-600 val videos of the classes Kinetics-400 lacks, relabelled
    # 0..K-1 in the order of dist_plugin/label_maps/kinetics600_new_classes.txt
    python tools/zeroshot_classifier.py filter \
        data/kinetics600/kinetics600_val_list_videos.txt \
        data/kinetics600/kinetics600_new_classes_val_list_videos.txt
"""
import argparse
import sys

from dist_plugin.apis.zeroshot import (filter_annotations,
                                       write_zeroshot_class_lists,
                                       zeroshot_class_file)
from dist_plugin.models.heads.class_names import LABEL_MAP_DIR


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Zero-shot class lists and annotation filtering')
    sub = parser.add_subparsers(dest='command', required=True)
    names = sub.add_parser(
        'names', help='write the zero-shot class lists (UCF101, HMDB51 in '
        'plain words; Kinetics-600 classes absent from Kinetics-400)')
    names.add_argument(
        '--out-dir', default=LABEL_MAP_DIR,
        help='folder to write into (default: dist_plugin/label_maps)')
    filt = sub.add_parser(
        'filter', help='keep the annotation lines of a class subset and '
        'relabel them')
    filt.add_argument('ann_file', help='input list, "<path> <label>" lines')
    filt.add_argument('out_file', help='output list')
    filt.add_argument(
        '--source', default='kinetics600',
        help='class list of ann_file (file, comma list or built-in name; '
        'default: kinetics600)')
    filt.add_argument(
        '--target', default=None,
        help='classes to keep, in new-label order (default: the Kinetics-600 '
        'classes absent from Kinetics-400)')
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.command == 'names':
        for key, path in write_zeroshot_class_lists(args.out_dir).items():
            with open(path, encoding='utf-8') as f:
                count = sum(1 for line in f if line.strip())
            print(f'{key}: {count} classes -> {path}')
        return 0
    target = args.target or zeroshot_class_file('kinetics600_new')
    try:
        kept, dropped = filter_annotations(args.ann_file, args.out_file,
                                           args.source, target)
    except (OSError, ValueError) as err:
        print(f'error: {err}', file=sys.stderr)
        return 1
    print(f'kept {kept} videos, dropped {dropped}; wrote {args.out_file}')
    return 0 if kept else 1


if __name__ == '__main__':
    sys.exit(main())
