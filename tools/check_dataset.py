"""Check a video annotation list and its videos before training on them.

Finds malformed lines, labels outside ``[0, num_classes)``, missing, empty
and unreadable (truncated, corrupt, not a video) files, and videos with fewer
frames than a clip needs. Writes a JSON report and exits with 1 when any
problem was found (0 otherwise), so it can gate a training script.

Example:
    python tools/check_dataset.py data/k400/train.txt \
        --data-prefix data/k400/videos_train --num-classes 400 \
        --min-frames 16 --workers 8 --out work_dirs/k400_train_check.json
"""
import argparse
import json
import multiprocessing
import os
import os.path as osp
import sys
from collections import Counter
from typing import Dict, List, Optional, Sequence

from tqdm import tqdm

from dist_plugin.datasets.annotation_check import (parse_annotation_lines,
                                                   read_annotation_lines)

#: Problem kinds, in report order.
KINDS = ('malformed', 'label_range', 'missing', 'empty', 'unreadable',
         'too_short')
#: Frames decoded per call when every frame is checked.
_CHUNK = 64


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Check an annotation list (FILENAME LABEL lines) and '
        'the videos it names. Exit code 1 when problems were found.')
    parser.add_argument('ann_file', help='annotation list')
    parser.add_argument(
        '--data-prefix', default='',
        help='folder the file names are relative to (the dataset '
        "data_prefix['video'])")
    parser.add_argument('--out', help='write the JSON report here')
    parser.add_argument(
        '--workers', type=int, default=1,
        help='parallel processes for decoding (default: 1)')
    parser.add_argument(
        '--num-classes', type=int,
        help='labels must lie in [0, NUM_CLASSES)')
    parser.add_argument(
        '--min-frames', type=int, default=0,
        help='flag videos with fewer frames (e.g. clip_len * '
        'frame_interval of the training pipeline)')
    parser.add_argument(
        '--backend', choices=('decord', 'pyav', 'opencv'),
        help='decoder; default: decord when installed, else pyav')
    parser.add_argument(
        '--decode', choices=('ends', 'all'), default='ends',
        help="'ends' decodes the first, middle and last frame (fast; "
        "catches truncation), 'all' decodes every frame (default: ends)")
    parser.add_argument('--delimiter', default=' ', help='field delimiter')
    parser.add_argument(
        '--multi-class', action='store_true', help='multi-label lines')
    parser.add_argument(
        '--allow-unlabeled', action='store_true',
        help='accept lines without a label')
    parser.add_argument(
        '--no-progress', action='store_true', help='hide the progress bar')
    return parser.parse_args(argv)


def default_backend() -> str:
    """decord when importable, else PyAV."""
    try:
        import decord  # noqa: F401
        return 'decord'
    except ImportError:
        return 'pyav'


def _count_decord(path: str, decode: str) -> int:
    import decord
    reader = decord.VideoReader(path, num_threads=1)
    num_frames = len(reader)
    if num_frames == 0:
        return 0
    if decode == 'all':
        chunks = [
            list(range(start, min(start + _CHUNK, num_frames)))
            for start in range(0, num_frames, _CHUNK)
        ]
    else:
        chunks = [sorted({0, num_frames // 2, num_frames - 1})]
    for indices in chunks:
        frames = reader.get_batch(indices).asnumpy()
        if frames.shape[0] != len(indices) or frames.size == 0:
            raise RuntimeError(f'decoded {frames.shape[0]} of {len(indices)} '
                               'requested frames')
    return num_frames


def _count_pyav(path: str, decode: str) -> int:
    import av
    with av.open(path) as container:
        if not container.streams.video:
            raise RuntimeError('no video stream')
        stream = container.streams.video[0]
        declared = stream.frames
        decoded = sum(1 for _ in container.decode(stream))
    if declared and decoded < declared:
        raise RuntimeError(f'truncated: decoded {decoded} of {declared} '
                           'frames')
    return decoded


def _count_opencv(path: str, decode: str) -> int:
    import cv2
    capture = cv2.VideoCapture(path)
    try:
        if not capture.isOpened():
            raise RuntimeError('OpenCV cannot open the file')
        declared = int(capture.get(cv2.CAP_PROP_FRAME_COUNT))
        decoded = 0
        while capture.read()[0]:
            decoded += 1
    finally:
        capture.release()
    if declared > 0 and decoded < declared:
        raise RuntimeError(f'truncated: decoded {decoded} of {declared} '
                           'frames')
    return decoded


_COUNTERS = dict(decord=_count_decord, pyav=_count_pyav, opencv=_count_opencv)


def probe_video(task: Dict) -> Dict:
    """Check one video.

    Args:
        task (dict): ``path``, ``filename``, ``line``, ``backend``,
            ``decode`` and ``min_frames``.

    Returns:
        dict: ``line``, ``filename``, ``num_frames`` (or None), ``kind``
        (None when the video is fine) and ``detail``.
    """
    path = task['path']
    result = dict(line=task['line'], filename=task['filename'],
                  num_frames=None, kind=None, detail='')
    if not osp.isfile(path):
        result.update(kind='missing', detail=f'no such file: {path}')
        return result
    if osp.getsize(path) == 0:
        result.update(kind='empty', detail='file has 0 bytes')
        return result
    try:
        num_frames = _COUNTERS[task['backend']](path, task['decode'])
    except Exception as exc:  # decoders raise many unrelated types
        text = ' '.join(str(exc).split())[:300]
        result.update(kind='unreadable', detail=f'{type(exc).__name__}: '
                      f'{text}')
        return result
    result['num_frames'] = num_frames
    if num_frames == 0:
        result.update(kind='unreadable', detail='no frames')
    elif num_frames < task['min_frames']:
        result.update(kind='too_short',
                      detail=f'{num_frames} frames < --min-frames '
                      f'{task["min_frames"]}')
    return result


def check_dataset(args: argparse.Namespace) -> Dict:
    """Run every check; return the report."""
    lines = read_annotation_lines(args.ann_file)
    records, problems = parse_annotation_lines(
        lines,
        num_classes=args.num_classes,
        delimiter=args.delimiter,
        multi_class=args.multi_class,
        allow_unlabeled=args.allow_unlabeled)
    report_problems: List[Dict] = [
        dict(line=p['line'], filename=None, kind=p['kind'],
             detail=p['problem'], text=p['text']) for p in problems
    ]
    backend = args.backend or default_backend()
    tasks = [
        dict(path=osp.join(args.data_prefix, r['filename']),
             filename=r['filename'], line=r['line'], backend=backend,
             decode=args.decode, min_frames=args.min_frames)
        for r in records
    ]
    progress = dict(total=len(tasks), desc='checking videos', unit='video',
                    disable=args.no_progress, file=sys.stderr)
    if args.workers > 1 and len(tasks) > 1:
        with multiprocessing.Pool(min(args.workers, len(tasks))) as pool:
            results = list(tqdm(pool.imap_unordered(probe_video, tasks),
                                **progress))
    else:
        results = [probe_video(task) for task in tqdm(tasks, **progress)]
    results.sort(key=lambda r: r['line'])
    report_problems += [
        dict(line=r['line'], filename=r['filename'], kind=r['kind'],
             detail=r['detail']) for r in results if r['kind']
    ]
    report_problems.sort(key=lambda p: (p['line'], KINDS.index(p['kind'])))
    frames = [r['num_frames'] for r in results if r['num_frames']]
    counts = Counter(p['kind'] for p in report_problems)
    return dict(
        ann_file=args.ann_file,
        data_prefix=args.data_prefix,
        backend=backend,
        decode=args.decode,
        num_classes=args.num_classes,
        min_frames=args.min_frames,
        num_lines=len(records) + len(problems),
        num_videos_checked=len(results),
        num_ok=sum(1 for r in results if r['kind'] is None),
        num_problems=len(report_problems),
        counts={kind: counts.get(kind, 0) for kind in KINDS},
        min_num_frames=min(frames) if frames else None,
        problems=report_problems)


def summarize(report: Dict, max_listed: int = 50) -> str:
    """Human-readable summary of a report."""
    out = [f'{report["ann_file"]}: {report["num_lines"]} entries, '
           f'{report["num_ok"]} videos OK, {report["num_problems"]} '
           'problem(s)']
    out += [f'  {kind}: {n}' for kind, n in report['counts'].items() if n]
    for item in report['problems'][:max_listed]:
        name = item['filename'] or item.get('text', '')
        out.append(f'  line {item["line"]}: [{item["kind"]}] {name}: '
                   f'{item["detail"]}')
    if report['num_problems'] > max_listed:
        out.append(f'  ... and {report["num_problems"] - max_listed} more '
                   '(see the JSON report)')
    return '\n'.join(out)


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = parse_args(argv)
    if args.workers < 1:
        raise SystemExit('--workers must be >= 1')
    report = check_dataset(args)
    if args.out:
        out_dir = osp.dirname(osp.abspath(args.out))
        os.makedirs(out_dir, exist_ok=True)
        with open(args.out, 'w', encoding='utf-8') as f:
            json.dump(report, f, indent=2)
    print(summarize(report))
    if args.out:
        print(f'report written to {args.out}')
    return 1 if report['num_problems'] else 0


if __name__ == '__main__':
    sys.exit(main())
