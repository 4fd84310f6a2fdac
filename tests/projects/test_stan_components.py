"""STAN components: official init, the conv cross-frame module, errors."""
import copy

import pytest
import torch
import torch.nn.functional as F
from helpers.tiny_stan import tiny_stan_model
from mmaction.registry import MODELS

import dist_plugin  # noqa: F401
import dist_plugin_projects.stan  # noqa: F401
from dist_plugin.apis.checkpoint import convert_loaded_checkpoint
from dist_plugin.checkpoint.convert_stan import \
    convert_official_stan_state_dict
from dist_plugin_projects.stan.models import STANCrossFrameConv


def _clip(batch=2, frames=4, size=32):
    torch.manual_seed(0)
    return torch.randn(batch, 3, frames, size, size)


def test_intra_frame_blocks_start_as_last_clip_layers():
    model = MODELS.build(tiny_stan_model(num_layers=2))
    model.init_weights()
    blocks = model.backbone.visual.transformer.resblocks
    depth = len(blocks)
    for k, s_layer in enumerate(model.neck.s_layers):
        clip_state = blocks[depth - 2 + k].state_dict()
        for key, value in s_layer.state_dict().items():
            torch.testing.assert_close(value, clip_state[key], rtol=0, atol=0)
    # a different layer's weights differ, so the check can fail
    assert not torch.equal(model.neck.s_layers[0].mlp.c_fc.weight,
                           blocks[depth - 1].mlp.c_fc.weight)
    for t_layer in model.neck.t_layers:
        assert not t_layer.temporal_fc.weight.any()
        assert not t_layer.temporal_fc.bias.any()


def test_zero_cross_frame_modules_are_identity():
    model = MODELS.build(tiny_stan_model(time_module='conv'))
    x = torch.randn(2, 1 + 4 * 3, 64)
    out = model.neck.t_layers[0](x, 3, (2, 2))
    torch.testing.assert_close(out, x)


def test_conv_cross_frame_matches_official_layout():
    """Independent re-derivation of the official STAN-conv (fixture README
    §5.5): patches ``U[:, 1:].view(B, N, T, D)`` as ``[B, D, T, g, g]``."""
    torch.manual_seed(1)
    batch, grid, frames, width = 2, 3, 4, 16
    module = STANCrossFrameConv(width).eval()
    for p in module.parameters():
        torch.nn.init.normal_(p, std=0.2)
    x = torch.randn(batch, 1 + grid * grid * frames, width)
    vol = x[:, 1:].view(batch, grid * grid, frames, width)
    vol = vol.permute(0, 3, 2, 1).reshape(batch, width, frames, grid, grid)
    y = F.conv3d(vol, module.conv.weight, module.conv.bias, padding=1)
    y = y.reshape(batch, width, frames, grid * grid).permute(0, 3, 2, 1)
    y = y.reshape(batch, -1, width) @ module.temporal_fc.weight.t() + \
        module.temporal_fc.bias
    ref = torch.cat([x[:, :1], x[:, 1:] + y], dim=1)
    torch.testing.assert_close(module(x, frames, (grid, grid)), ref)
    # a transposed grid (column-major patches) gives another answer
    wrong = module(x, frames, (grid, grid))
    vol_t = vol.transpose(-1, -2)
    y_t = F.conv3d(vol_t, module.conv.weight, module.conv.bias, padding=1)
    assert not torch.allclose(
        wrong[:, 1:],
        x[:, 1:] + (y_t.transpose(-1, -2).reshape(batch, width, frames, -1)
                    .permute(0, 3, 2, 1).reshape(batch, -1, width)
                    @ module.temporal_fc.weight.t() + module.temporal_fc.bias))


@pytest.mark.parametrize('time_module', ['selfattn', 'conv'])
def test_forward_backward_reaches_clip_and_stan(time_module):
    model = MODELS.build(tiny_stan_model(time_module=time_module))
    model.init_weights()
    model.train()
    for t_layer in model.neck.t_layers:  # leave the identity start
        torch.nn.init.normal_(t_layer.temporal_fc.weight, std=0.02)
    logits = model(_clip()[:, None], mode='tensor', stage='head')
    assert logits.shape == (2, 3)
    logits.logsumexp(-1).sum().backward()
    named = dict(model.named_parameters())
    for name in ('backbone.visual.conv1.weight',
                 'backbone.visual.class_embedding',
                 'backbone.visual.ln_post.weight', 'backbone.visual.proj',
                 'neck.time_embed.weight', 'neck.s_layers.0.mlp.c_fc.weight',
                 'neck.t_layers.1.temporal_fc.weight'):
        assert named[name].grad is not None and named[name].grad.any(), name
    assert all(p.grad is None for n, p in named.items()
               if n.startswith('cls_head.'))


def test_too_many_frames_is_a_clear_error():
    model = MODELS.build(tiny_stan_model(max_frames=4)).eval()
    with torch.no_grad():
        model(_clip(frames=4)[:, None], mode='tensor', stage='head')
        with pytest.raises(ValueError, match='max_frames'):
            model(_clip(frames=5)[:, None], mode='tensor', stage='head')


def test_k_beyond_clip_depth_is_a_clear_error():
    cfg = tiny_stan_model(num_layers=2)
    cfg['neck']['num_layers'] = 3
    with pytest.raises(ValueError, match='exceeds the CLIP depth 2'):
        MODELS.build(cfg)


def test_missing_clip_layers_is_a_clear_error():
    cfg = tiny_stan_model(num_layers=2)
    cfg['backbone']['out_indices'] = (-1, )
    with pytest.raises(ValueError, match='out_indices'):
        MODELS.build(cfg)


def test_dist_checkpoint_is_rejected_by_stan():
    fake_dist = {'model_state': {'dist_net.proj': torch.zeros(2, 2)}}
    with pytest.raises(ValueError, match='official DiST checkpoint'):
        convert_official_stan_state_dict(fake_dist)
    model = MODELS.build(tiny_stan_model())
    state = model.state_dict()
    state['neck.temporal_encoder.stem.weight'] = torch.zeros(1)
    with pytest.raises(ValueError, match='another model'):
        model.load_state_dict(state)


def test_official_stan_file_converts_on_load(tmp_path):
    """Our model -> official names -> the on-the-fly converter -> equal."""
    model = MODELS.build(tiny_stan_model()).eval()
    official = _to_official(model.state_dict())
    checkpoint = {'state_dict': copy.deepcopy(official)}
    assert convert_loaded_checkpoint(checkpoint)
    assert checkpoint['meta']['dropped'] == ['backbone.timesFPN_cls_token']
    other = MODELS.build(tiny_stan_model()).eval()
    missing, unexpected = other.load_state_dict(
        checkpoint['state_dict'], strict=False)
    assert not unexpected
    assert missing and all(k.startswith('cls_head.') for k in missing)
    other.cls_head.load_state_dict(model.cls_head.state_dict())
    x = _clip()[:, None]
    with torch.no_grad():
        torch.testing.assert_close(
            other(x, mode='tensor', stage='head'),
            model(x, mode='tensor', stage='head'))


def _to_official(state):
    """Official names of our vision + STAN weights (the text tower's
    mapping is covered by the parity test)."""
    out = {}
    for key, value in state.items():
        if key.startswith('cls_head.'):
            continue
        name = (key.replace('backbone.visual.transformer.resblocks.',
                            'backbone.layers.')
                .replace('neck.s_layers.', 'backbone.timesFPN_S_layers.')
                .replace('neck.t_layers.', 'backbone.STAN_T_layers.')
                .replace('neck.time_embed.', 'backbone.STAN_time_embed.')
                .replace('.ln_1.', '.layer_norm1.').replace(
                    '.ln_2.', '.layer_norm2.').replace('.mlp.c_fc.',
                                                       '.mlp.fc1.')
                .replace('.mlp.c_proj.', '.mlp.fc2.').replace(
                    '.attn.out_proj.', '.self_attn.out_proj.'))
        if name.endswith(('attn.in_proj_weight', 'attn.in_proj_bias')):
            kind = 'weight' if name.endswith('weight') else 'bias'
            base = name.rsplit('attn.', 1)[0]
            for part, chunk in zip('qkv', value.chunk(3)):
                out[f'{base}self_attn.{part}_proj.{kind}'] = chunk
            continue
        simple = {
            'backbone.visual.class_embedding': 'backbone.class_embedding',
            'backbone.visual.conv1.weight': 'backbone.patch_embedding.weight',
            'backbone.visual.positional_embedding':
            'backbone.position_embedding.weight',
            'backbone.visual.ln_pre.weight': 'backbone.pre_layrnorm.weight',
            'backbone.visual.ln_pre.bias': 'backbone.pre_layrnorm.bias',
            'backbone.visual.ln_post.weight': 'backbone.post_layernorm.weight',
            'backbone.visual.ln_post.bias': 'backbone.post_layernorm.bias',
        }
        if key == 'backbone.visual.proj':
            out['backbone.visual_projection.weight'] = value.t()
        else:
            out[simple.get(key, name)] = value
    # the CVPR release's unused tensors are dropped
    out['backbone.timesFPN_cls_token'] = torch.zeros(1, 1, 64)
    return {'module.' + k: v for k, v in out.items()}


def test_gradient_checkpointing_gives_the_same_gradients():
    grads = []
    for ckpt in (False, True):
        cfg = tiny_stan_model()
        cfg['backbone']['grad_checkpointing'] = ckpt
        cfg['neck']['grad_checkpointing'] = ckpt
        cfg['neck']['drop_path_rate'] = 0.
        torch.manual_seed(0)
        model = MODELS.build(cfg)
        model.train()
        for t_layer in model.neck.t_layers:
            torch.nn.init.normal_(t_layer.temporal_fc.weight, std=0.02)
        model(_clip()[:, None], mode='tensor', stage='head').sum().backward()
        grads.append({n: p.grad.clone() for n, p in model.named_parameters()
                      if p.grad is not None})
    assert grads[0].keys() == grads[1].keys()
    assert 'neck.s_layers.1.attn.in_proj_weight' in grads[0]
    for name, grad in grads[0].items():
        torch.testing.assert_close(grads[1][name], grad, rtol=1e-4,
                                   atol=1e-6, msg=name)


def test_loss_with_one_clip_keeps_training_mode():
    """Two official defects not copied: the loss fails for batch size 1,
    and the first forward leaves the model in eval mode."""
    from mmaction.structures import ActionDataSample
    model = MODELS.build(tiny_stan_model()).train()
    sample = ActionDataSample().set_gt_label(torch.tensor(1))
    losses = model(_clip(batch=1)[:, None], [sample], mode='loss')
    assert torch.isfinite(losses['loss_cls']) and losses['loss_cls'] > 0
    assert model.training and model.backbone.training
    assert model.neck.training and model.neck.s_layers[0].training
    assert not model.cls_head.clip.training  # the text tower never trains
    assert model.train() is model


def test_official_checkpoints_of_other_methods_are_clear_errors():
    """STAN's official weights refused by a DiST model, DiST's by a STAN
    model (the load_from / tools/test.py path)."""
    import os.path as osp
    from helpers.tiny_models import tiny_dist_model

    from dist_plugin.checkpoint.official import detect_official_method
    folder = osp.join(osp.dirname(osp.dirname(__file__)), 'data')
    stan = torch.load(
        osp.join(folder, 'official_stan', 'tiny-a.official_state_dict.pth'),
        weights_only=True)
    assert detect_official_method(stan) == 'stan'
    with pytest.raises(ValueError, match='official STAN checkpoint does not '
                       'fit this model'):
        convert_loaded_checkpoint(dict(stan), MODELS.build(tiny_dist_model()))
    dist = torch.load(
        osp.join(folder, 'official_dist', 'tiny-a.official_state_dict.pth'),
        weights_only=True)
    assert detect_official_method(dist) == 'dist'
    with pytest.raises(ValueError, match='official DiST checkpoint does not '
                       'fit this model'):
        convert_loaded_checkpoint(dict(dist), MODELS.build(tiny_stan_model()))


def test_cli_converts_a_cvpr_release_stan_checkpoint(tmp_path):
    """tools/convert_official_checkpoint.py on the fixture renamed to the
    CVPR release's timesFPN_* names (plus its two unused tensors), wrapped
    and DDP-prefixed: the converted file reproduces the official logits."""
    import os.path as osp
    import subprocess
    import sys

    from dist_plugin_projects.stan.official_config import \
        official_to_model_cfg
    repo = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
    folder = osp.join(repo, 'tests', 'data', 'official_stan')
    official = torch.load(osp.join(folder, 'tiny-a.official_state_dict.pth'),
                          weights_only=True)
    case = torch.load(osp.join(folder, 'tiny-a.case.pth'), weights_only=True)
    legacy = {
        'module.' + k.replace('backbone.STAN_', 'backbone.timesFPN_'): v
        for k, v in official.items()
    }
    legacy['module.backbone.timesFPN_pos_embed.weight'] = torch.zeros(10, 128)
    legacy['module.backbone.timesFPN_cls_token'] = torch.zeros(1, 1, 128)
    src, dst = tmp_path / 'stan_cvpr.pth', tmp_path / 'out' / 'stan.pth'
    torch.save({'state_dict': legacy}, src)
    result = subprocess.run(
        [sys.executable, osp.join(repo, 'tools',
                                  'convert_official_checkpoint.py'),
         str(src), str(dst)],
        capture_output=True, text=True, cwd=repo)
    assert result.returncode == 0, result.stderr[-3000:]
    assert 'official STAN checkpoint' in result.stdout
    assert 'dropped (unused tensors of the CVPR release): ' \
        'backbone.timesFPN_cls_token' in result.stdout
    state = torch.load(dst, weights_only=True)['state_dict']
    ctx = case['config']['text']['context_length']  # official: first rows
    key = 'cls_head.clip.positional_embedding'
    state[key] = state[key][:ctx]
    model = MODELS.build(official_to_model_cfg(case['config']))
    model.load_state_dict(state, strict=True)
    model.cls_head.set_classes(tokens=case['text_tokens'])
    video = case['video'].transpose(1, 2)[:, None]
    with torch.no_grad():
        logits = model.eval()(video, mode='tensor', stage='head')
    torch.testing.assert_close(logits, case['logits'], atol=1e-4, rtol=1e-4)


def test_three_crop_testing_averages_the_scores_of_the_views():
    from mmaction.structures import ActionDataSample
    cfg = tiny_stan_model()
    cfg['cls_head']['average_clips'] = 'score'
    model = MODELS.build(cfg).eval()
    views = torch.stack([_clip(batch=2)[:, None] * s for s in (1., .5, 2.)],
                        dim=2)[:, 0]  # [B=2, V=3, 3, T, H, W]
    samples = [ActionDataSample().set_gt_label(torch.tensor(0))
               for _ in range(2)]
    with torch.no_grad():
        preds = model(views, samples, mode='predict')
        per_view = torch.stack([
            model(views[:, v:v + 1], mode='tensor', stage='head')
            for v in range(3)
        ], dim=1)
    scores = torch.stack([p.pred_score for p in preds])
    torch.testing.assert_close(scores, per_view.mean(1))
