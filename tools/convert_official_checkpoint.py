"""Convert an official checkpoint (DiST, TDS-CLIP) to dist_plugin's layout.

The method is recognised from the checkpoint's keys
(``dist_plugin.checkpoint.OFFICIAL_CONVERTERS``); ``--method`` refuses a
checkpoint of another method.

Example:
    python tools/convert_official_checkpoint.py dist_k400_b16_8x2.pyth \
        work_dirs/dist_b16_k400.pth \
        --config configs/dist/dist_vit-b16_clip-openai-pre_8xb32-u16-a2_36e_kinetics400-rgb.py
"""
import argparse
import hashlib
import os
import os.path as osp
import sys

import torch

from dist_plugin.checkpoint import (OFFICIAL_CONVERTERS,
                                    convert_official_checkpoint,
                                    detect_official_method)
from dist_plugin.upstream_fixes.safe_checkpoint import safe_torch_load


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Convert an official DiST or TDS-CLIP checkpoint (any '
        'released layout) into a checkpoint for load_from / tools/test.py')
    parser.add_argument('src', help='official checkpoint file')
    parser.add_argument('dst', help='output checkpoint file')
    parser.add_argument(
        '--config',
        help='model config; when given, the converted weights are checked '
        'against the model it builds (missing / unexpected keys, shapes)')
    parser.add_argument(
        '--method',
        choices=sorted(OFFICIAL_CONVERTERS),
        help='refuse a checkpoint of another method (default: detected)')
    return parser.parse_args(argv)


def check_against_config(state_dict: dict, config: str) -> dict:
    """Missing and unexpected keys of ``state_dict`` for ``config``'s model."""
    from mmengine.config import Config
    from mmengine.registry import init_default_scope

    from mmaction.registry import MODELS
    cfg = Config.fromfile(config)
    init_default_scope(cfg.get('default_scope', 'mmaction'))
    model_cfg = cfg.model
    for part in ('backbone', 'cls_head'):  # weights come from the checkpoint
        if part in model_cfg and 'pretrained' in model_cfg[part]:
            model_cfg[part]['pretrained'] = None
    model = MODELS.build(model_cfg)
    missing, unexpected = model.load_state_dict(state_dict, strict=False)
    return dict(missing=list(missing), unexpected=list(unexpected))


def main(argv=None) -> int:
    args = parse_args(argv)
    checkpoint = safe_torch_load(args.src, map_location='cpu')
    if detect_official_method(checkpoint) is None:
        others = ', '.join(f'{name}: {conv.sentinel}'
                           for name, conv in OFFICIAL_CONVERTERS.items()
                           if name != 'DiST')
        print(f'error: {args.src} holds no DiST weights (no dist_net.* or '
              'ladder_net.* keys) and no other known official weights '
              f'({others}); is it an official checkpoint?',
              file=sys.stderr)
        return 1
    try:
        method, state_dict, report = convert_official_checkpoint(
            checkpoint, args.method)
    except ValueError as err:
        print(f'error: {args.src}: {err}', file=sys.stderr)
        return 1
    print(f'official {method} checkpoint')
    print(f'converted {len(state_dict)} tensors from {args.src}')
    for key in report.get('dropped', []):
        print(f'  dropped (never used by the official model): {key}')
    for key in report['unused']:
        print(f'  unused: {key}')
    kept = report.get('kept_from_model', [])
    for key in kept:
        print(f'  not in official files (kept from the pretrained CLIP): '
              f'{key}')
    if args.config:
        try:
            check = check_against_config(state_dict, args.config)
        except ValueError as err:  # e.g. another method's weights
            print(f'error: the {method} weights do not fit {args.config}: '
                  f'{err}', file=sys.stderr)
            return 1
        check['missing'] = [k for k in check['missing'] if k not in kept]
        for key in check['missing']:
            print(f'  missing: {key}')
        for key in check['unexpected']:
            print(f'  unexpected: {key}')
        if check['missing'] or check['unexpected']:
            print(f'error: the weights do not fit {args.config}',
                  file=sys.stderr)
            return 1
    out_dir = osp.dirname(osp.abspath(args.dst))
    os.makedirs(out_dir, exist_ok=True)
    tmp = args.dst + '.tmp'
    torch.save(
        dict(
            state_dict=state_dict,
            meta=dict(
                converted_from=osp.basename(args.src),
                official_method=method,
                kept_from_model=list(kept),
                converter='dist_plugin.checkpoint')), tmp)
    os.replace(tmp, args.dst)
    with open(args.dst, 'rb') as f:
        digest = hashlib.sha256(f.read()).hexdigest()
    print(f'saved {args.dst} (sha256 {digest})')
    return 0


if __name__ == '__main__':
    sys.exit(main())
