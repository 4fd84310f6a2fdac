"""GFLOPs per view and parameter counts of a recognizer config.

FLOPs are fvcore multiply-add counts with handles for the attention ops
fvcore skips (see ``dist_plugin.analysis.flop_handles``). The model is built
with every ``pretrained`` set to None: nothing is downloaded. The CLIP text
tower of a ``CLIPTextHead`` is excluded from the per-view count (class
embeddings are computed once and cached).

Example (DiST ViT-B/16, 8+16 frames, K400):
    python tools/analysis/get_flops.py configs/dist/\
dist_vit-b16_clip-openai-pre_8xb32-u16-a2_36e_kinetics400-rgb.py \
        --json docs/benchmarks/flops_dist_vit-b16_u16-a2_k400.json
"""
import argparse
import json
import os
import os.path as osp
import platform
import sys
from typing import Any, Dict, List, Optional

import torch
from mmengine.config import Config, DictAction
from mmengine.registry import init_default_scope

import dist_plugin  # noqa: F401  (applies upstream fixes, registers modules)
from dist_plugin.analysis import (FLOP_CONVENTION, count_parameters,
                                  infer_input_shape, recognizer_flops,
                                  strip_pretrained)


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Count GFLOPs per view (multiply-adds) and parameters')
    parser.add_argument('config', help='config file')
    parser.add_argument(
        '--shape',
        type=int,
        nargs=3,
        metavar=('T', 'H', 'W'),
        help='one view: frames, height, width (default: from the config)')
    parser.add_argument('--json', help='write the result to this JSON file')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override config entries, xxx=yyy')
    return parser.parse_args(argv)


def get_flops(config: str,
              shape: Optional[List[int]] = None,
              cfg_options: Optional[Dict] = None) -> Dict[str, Any]:
    """Build ``config``'s model without weights and measure it.

    Args:
        config (str): Config file.
        shape (list[int], optional): ``[T, H, W]`` of one view. Defaults to
            None (from the config).
        cfg_options (dict, optional): Config overrides. Defaults to None.

    Returns:
        dict: The JSON-ready result.
    """
    from mmaction.registry import MODELS
    cfg = Config.fromfile(config)
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    init_default_scope(cfg.get('default_scope', 'mmaction'))
    model_cfg = strip_pretrained(cfg.model.to_dict())
    model_cfg.pop('data_preprocessor', None)  # runs outside the model FLOPs
    model = MODELS.build(model_cfg)
    model.eval()
    if shape is None:
        input_shape = infer_input_shape(cfg, model)
    else:
        input_shape = (3, ) + tuple(int(v) for v in shape)
    flops = recognizer_flops(model, input_shape)
    params = count_parameters(model)
    return dict(
        kind='flops',
        config=osp.relpath(config) if not osp.isabs(config) else config,
        cfg_options=dict(cfg_options or {}),
        input_shape_per_view=list(input_shape),
        gflops_per_view=round(flops['gflops'], 3),
        flops_per_view=flops['flops'],
        gflops_by_module={k: round(v / 1e9, 3)
                          for k, v in flops['by_module'].items()},
        flops_by_module=dict(flops['by_module']),
        flop_convention=FLOP_CONVENTION,
        text_tower_excluded=flops['text_cached'],
        uncounted_ops=flops['uncounted_ops'],
        params=params,
        torch=torch.__version__,
        python=platform.python_version())


def format_result(res: Dict[str, Any]) -> str:
    """A few readable lines."""
    params = res['params']
    lines = [
        f"config: {res['config']}",
        f"input per view (C, T, H, W): {tuple(res['input_shape_per_view'])}",
        f"GFLOPs per view: {res['gflops_per_view']:.2f} "
        f"({res['flop_convention']})",
        '  by module: ' + ', '.join(
            f'{k} {v:.2f}' for k, v in res['gflops_by_module'].items()),
        f"  text tower excluded (cached): {res['text_tower_excluded']}",
        f"params: total {params['total'] / 1e6:.2f} M, frozen "
        f"{params['frozen'] / 1e6:.2f} M, trainable "
        f"{params['trainable'] / 1e6:.2f} M",
    ]
    for name, sub in params['by_module'].items():
        lines.append(f"  {name}: frozen {sub['frozen'] / 1e6:.2f} M, "
                     f"trainable {sub['trainable'] / 1e6:.2f} M")
    return '\n'.join(lines)


def main(argv: Optional[List[str]] = None) -> Dict[str, Any]:
    args = parse_args(argv)
    res = get_flops(args.config, args.shape, args.cfg_options)
    print(format_result(res))
    if args.json:
        os.makedirs(osp.dirname(osp.abspath(args.json)), exist_ok=True)
        with open(args.json, 'w', encoding='utf-8') as f:
            json.dump(res, f, indent=2)
            f.write('\n')
    return res


if __name__ == '__main__':
    main(sys.argv[1:])
