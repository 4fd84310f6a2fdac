"""CLIP weights load from every supported source into the frozen towers."""
import open_clip
import pytest
import torch
from helpers.tiny_models import TINY_CLIP
from mmaction.registry import MODELS
from safetensors.torch import save_file


@pytest.fixture(scope='module')
def reference():
    torch.manual_seed(3)
    model = open_clip.CLIP(**TINY_CLIP, quick_gelu=True).eval()
    with torch.no_grad():  # make the weights distinguishable from any init
        for param in model.parameters():
            param.add_(torch.randn_like(param) * 0.1)
    return model


def _files(tmp_path, reference):
    state = reference.state_dict()
    paths = {}
    paths['pth'] = tmp_path / 'clip.pth'
    torch.save(state, paths['pth'])
    paths['nested_ddp'] = tmp_path / 'clip_nested.pth'
    torch.save({'state_dict': {'module.' + k: v
                               for k, v in state.items()}},
               paths['nested_ddp'])
    paths['safetensors'] = tmp_path / 'clip.safetensors'
    save_file({k: v.contiguous() for k, v in state.items()},
              str(paths['safetensors']))
    paths['torchscript'] = tmp_path / 'clip_openai_style.pt'
    torch.jit.script(reference).save(str(paths['torchscript']))
    return paths


@pytest.mark.parametrize(
    'kind', ['pth', 'nested_ddp', 'safetensors', 'torchscript'])
def test_backbone_and_head_load_clip_weights(tmp_path, reference, kind,
                                             monkeypatch):
    path = _files(tmp_path, reference)[kind]
    if kind == 'torchscript':
        # an OpenAI archive is read by torch.jit.load, never unpickled
        def refuse(*args, **kwargs):
            raise AssertionError('torch.load used on a TorchScript archive')
        monkeypatch.setattr(torch, 'load', refuse)
    backbone = MODELS.build(
        dict(type='FrozenCLIPViT', arch=TINY_CLIP, pretrained=str(path)))
    head = MODELS.build(
        dict(
            type='CLIPTextHead',
            num_classes=2,
            in_channels=TINY_CLIP['embed_dim'],
            arch=TINY_CLIP,
            pretrained=str(path),
            class_names=['a', 'b']))
    ref_visual = reference.visual.state_dict()
    for key, value in backbone.visual.state_dict().items():
        assert torch.equal(value, ref_visual[key]), key
    assert torch.equal(head.clip.token_embedding.weight,
                       reference.token_embedding.weight)
    assert torch.equal(head.clip.logit_scale, reference.logit_scale)
    frames = torch.randn(3, 3, 32, 32)
    with torch.no_grad():
        expected = reference.encode_image(frames)
        tokens = backbone.embed(frames)
        for block in backbone.visual.transformer.resblocks:
            tokens = block(tokens)
        got = backbone.frame_embedding(tokens[:, 0])
    torch.testing.assert_close(got, expected)


def test_missing_weights_file_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match='nowhere.pt'):
        MODELS.build(
            dict(
                type='FrozenCLIPViT',
                arch=TINY_CLIP,
                pretrained=str(tmp_path / 'nowhere.pt')))
