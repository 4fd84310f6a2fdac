"""Classify videos with a DiST recognizer and draw the top-k classes.

Examples:
    python tools/infer.py demo.mp4 \
        configs/dist/dist_vit-b16_clip-openai-pre_8xb32-u16-a2_36e_kinetics400-rgb.py \
        ~/.cache/dist_plugin/checkpoints/<name>_converted.pth \
        --out-json pred.json --out-image pred.png
    # class names come from the config (head, class_names_file, dataset);
    # zero-shot: any class list (file, comma-separated names or built-in)
    python tools/infer.py videos/ CONFIG CHECKPOINT \
        --labels "juggling balls,riding a unicycle,playing chess" --topk 3

CHECKPOINT may be a file or a URL, in our layout or an official one.
For a folder, --out-image names a folder that receives one PNG per video.
"""
import argparse
import json
import os
import os.path as osp
import sys

import torch
from mmengine.config import DictAction
from tqdm import tqdm

from dist_plugin.apis.inference import (build_test_pipeline, draw_prediction,
                                        init_dist_recognizer, list_videos,
                                        model_class_names, predict_video,
                                        sample_frames)


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Run a DiST recognizer on a video or a folder of videos')
    parser.add_argument('video', help='video file or folder of videos')
    parser.add_argument('config', help='model config file')
    parser.add_argument('checkpoint', help='checkpoint file or URL')
    parser.add_argument(
        '--labels',
        help='class names: a file with one name per line, comma-separated '
        'names, or a built-in list (ucf101, ...). A CLIP-text head takes any '
        'list (zero-shot); a linear head takes exactly its number of classes '
        'as display names. Default: the names the config gives '
        '(the head, class_names_file or the dataset metainfo)')
    parser.add_argument(
        '--topk', type=int, default=5, help='classes to report (default 5)')
    parser.add_argument('--out-json', help='write the predictions here')
    parser.add_argument(
        '--out-image',
        help='PNG of sampled frames and the top-k bar chart (a folder when '
        'VIDEO is a folder)')
    parser.add_argument(
        '--num-frames-shown', type=int, default=8,
        help='frames in the picture (default 8)')
    parser.add_argument(
        '--device', default=None,
        help='cpu, cuda or cuda:N (default: cuda when available)')
    parser.add_argument(
        '--cfg-options', nargs='+', action=DictAction,
        help='override config entries, as key=value pairs')
    args = parser.parse_args(argv)
    if args.topk < 1:
        parser.error('--topk must be >= 1')
    if args.device is None:
        args.device = 'cuda' if torch.cuda.is_available() else 'cpu'
    if args.device.startswith('cuda') and not torch.cuda.is_available():
        parser.error(f'--device {args.device}: CUDA is not available')
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    try:
        videos = list_videos(args.video)
    except FileNotFoundError as err:
        print(f'error: {err}', file=sys.stderr)
        return 1
    if not videos:
        print(f'error: no video files in {args.video}', file=sys.stderr)
        return 1
    is_folder = osp.isdir(args.video)

    try:
        model = init_dist_recognizer(
            args.config,
            args.checkpoint,
            device=args.device,
            class_names=args.labels,
            cfg_options=args.cfg_options)
    except (FileNotFoundError, ValueError) as err:
        print(f'error: {err}', file=sys.stderr)
        return 1
    pipeline = build_test_pipeline(model.cfg)
    names = model_class_names(model)

    results, failed = [], 0
    for video in tqdm(videos, desc='videos', disable=not is_folder):
        try:
            prediction = predict_video(model, video, args.topk, pipeline)
        except Exception as err:  # keep going through a folder
            failed += 1
            print(f'error: {video}: {type(err).__name__}: {err}',
                  file=sys.stderr)
            results.append(dict(video=video, error=str(err)))
            continue
        results.append(prediction)
        lines = [f'{video}:'] + [
            f'  {rank}. {entry["label"]}  {entry["score"]:.4f}'
            for rank, entry in enumerate(prediction['topk'], 1)
        ]
        tqdm.write('\n'.join(lines))
        if args.out_image:
            out = args.out_image
            if is_folder:
                stem = osp.splitext(osp.relpath(video, args.video))[0]
                out = osp.join(args.out_image,
                               stem.replace(os.sep, '__') + '.png')
            draw_prediction(
                sample_frames(video, args.num_frames_shown), prediction, out)

    if args.out_json:
        report = dict(
            config=args.config,
            checkpoint=args.checkpoint,
            labels=args.labels,
            class_names=names,
            topk=args.topk,
            results=results)
        os.makedirs(osp.dirname(osp.abspath(args.out_json)), exist_ok=True)
        with open(args.out_json, 'w', encoding='utf-8') as f:
            json.dump(report, f, indent=2)
    return 1 if failed else 0


if __name__ == '__main__':
    sys.exit(main())
