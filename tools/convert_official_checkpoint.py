"""Convert an official checkpoint (DiST, EVL or TDS-CLIP) to dist_plugin's
layout.

Examples:
    python tools/convert_official_checkpoint.py dist_k400_b16_8x2.pyth \
        work_dirs/dist_b16_k400.pth \
        --config configs/dist/dist_vit-b16_clip-openai-pre_8xb32-u16-a2_36e_kinetics400-rgb.py
    python tools/convert_official_checkpoint.py evl_k400_b16_8x16.pth \
        work_dirs/evl_b16_8x16.pth \
        --config projects/evl/configs/evl_vit-b16_clip-openai-pre_8xb32-8x16x1_50k_kinetics400-rgb.py
"""
import argparse
import hashlib
import os
import os.path as osp
import sys

import torch

from dist_plugin.checkpoint import (OFFICIAL_FORMATS, check_converted_fits,
                                    convert_official_checkpoint,
                                    detect_official_method)
from dist_plugin.upstream_fixes.safe_checkpoint import safe_torch_load

#: Why a method's converter drops the tensors it lists in ``dropped``.
DROP_REASONS = dict(
    dist='never used by the official model',
    evl='all zeros; the CLIP patch embedding has no bias',
    stan='unused tensors of the CVPR release')


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Convert an official DiST, EVL or TDS-CLIP checkpoint '
        '(any released layout) into a checkpoint for load_from / '
        'tools/test.py')
    parser.add_argument('src', help='official checkpoint file')
    parser.add_argument('dst', help='output checkpoint file')
    parser.add_argument(
        '--config',
        help='model config; when given, the converted weights are checked '
        'against the model it builds (method, keys, shapes)')
    parser.add_argument(
        '--method',
        choices=sorted(OFFICIAL_FORMATS),
        help='refuse a checkpoint of any other method (default: detect)')
    return parser.parse_args(argv)


def build_model_of(config: str):
    """The model of ``config`` without pretrained weights."""
    from mmengine.config import Config
    from mmengine.registry import init_default_scope

    from mmaction.registry import MODELS
    cfg = Config.fromfile(config)
    init_default_scope(cfg.get('default_scope', 'mmaction'))
    model_cfg = cfg.model
    for part in ('backbone', 'cls_head'):  # weights come from the checkpoint
        if part in model_cfg and 'pretrained' in model_cfg[part]:
            model_cfg[part]['pretrained'] = None
    return MODELS.build(model_cfg)


def main(argv=None) -> int:
    args = parse_args(argv)
    checkpoint = safe_torch_load(args.src, map_location='cpu')
    if detect_official_method(checkpoint) is None:
        print(f'error: {args.src} holds no DiST weights (no dist_net.* or '
              'ladder_net.* keys), no EVL weights (no decoder.'
              'decoder_layers.* keys), no STAN weights (no backbone.'
              'STAN_* keys) and no TDS-CLIP weights (no '
              'visual.side_conv1_c5.* keys); is it an official checkpoint?',
              file=sys.stderr)
        return 1
    try:
        method, state_dict, report = convert_official_checkpoint(
            checkpoint, args.method)
    except ValueError as err:
        print(f'error: {args.src}: {err}', file=sys.stderr)
        return 1
    title = OFFICIAL_FORMATS[method].title
    print(f'converted {len(state_dict)} tensors of an official {title} '
          f'checkpoint from {args.src}')
    for key in report['dropped']:
        print(f'  dropped ({DROP_REASONS.get(method, "unused")}): {key}')
    for key in report['unused']:
        print(f'  unused: {key}')
    kept = report.get('kept_from_model', [])
    for key in kept:
        print(f'  not in official files (kept from the pretrained CLIP): '
              f'{key}')
    if args.config:
        try:
            check_converted_fits(
                build_model_of(args.config), state_dict, method)
        except ValueError as err:
            print(f'error: the weights do not fit {args.config}: {err}',
                  file=sys.stderr)
            return 1
    out_dir = osp.dirname(osp.abspath(args.dst))
    os.makedirs(out_dir, exist_ok=True)
    tmp = args.dst + '.tmp'
    torch.save(
        dict(
            state_dict=state_dict,
            meta=dict(
                method=method,
                converted_from=osp.basename(args.src),
                kept_from_model=list(kept),
                converter=OFFICIAL_FORMATS[method].converter)), tmp)
    os.replace(tmp, args.dst)
    with open(args.dst, 'rb') as f:
        digest = hashlib.sha256(f.read()).hexdigest()
    print(f'saved {args.dst} (sha256 {digest})')
    return 0


if __name__ == '__main__':
    sys.exit(main())
