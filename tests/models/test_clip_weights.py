"""CLIP weights load from every supported source into the frozen towers.

TorchScript archives (OpenAI's release format) are read as data: the tensors
must equal what ``torch.jit.load(...).state_dict()`` (open_clip's OpenAI
path) gives, and neither ``torch.jit.load`` nor ``torch.load`` may run.
"""
import collections
import pickle
import zipfile

import open_clip
import pytest
import torch
from helpers.tiny_models import TINY_CLIP
from mmaction.registry import MODELS
from safetensors.torch import save_file

from dist_plugin.models.clip_builder import load_clip_state_dict
from dist_plugin.models.torchscript_weights import read_torchscript_state_dict


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
    paths['torchscript_traced'] = tmp_path / 'clip_traced.pt'
    traced_inputs = (torch.randn(1, 3, 32, 32),
                     torch.zeros(1, 16, dtype=torch.long))
    torch.jit.trace(reference, traced_inputs,
                    check_trace=False).save(str(paths['torchscript_traced']))
    return paths


def _refuse_code_execution(monkeypatch):
    """Make torch.jit.load and torch.load fail if anything calls them."""

    def refuse(*args, **kwargs):
        raise AssertionError('torch.load / torch.jit.load used on a '
                             'TorchScript archive')

    monkeypatch.setattr(torch, 'load', refuse)
    monkeypatch.setattr(torch.jit, 'load', refuse)


@pytest.mark.parametrize('kind', ['torchscript', 'torchscript_traced'])
def test_torchscript_archive_reads_the_tensors_jit_load_gives(
        tmp_path, reference, kind, monkeypatch):
    path = str(_files(tmp_path, reference)[kind])
    # the reference: open_clip's OpenAI path does
    # torch.jit.load(file).state_dict() (used here only, as the oracle)
    expected = torch.jit.load(path, map_location='cpu').state_dict()
    _refuse_code_execution(monkeypatch)
    got = read_torchscript_state_dict(path)
    assert list(got) == list(expected)  # same keys, same order
    assert 'attn_mask' in got  # a buffer, read like the parameters
    for key, value in expected.items():
        assert got[key].dtype == value.dtype, key
        assert torch.equal(got[key], value), key
    # what build_clip loads (archive-only entries dropped later)
    cleaned = load_clip_state_dict(path)
    assert set(cleaned) == set(expected)
    assert all(torch.equal(cleaned[k], v) for k, v in expected.items())


def _rewrite_archive(src: str, dst: str, replace: dict) -> None:
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, 'w') as zout:
        for info in zin.infolist():
            data = zin.read(info.filename)
            for suffix, new in replace.items():
                if info.filename.endswith(suffix):
                    data = new
            zout.writestr(info, data)


def test_torchscript_reader_refuses_foreign_globals(tmp_path, reference):
    path = str(_files(tmp_path, reference)['torchscript'])
    bad = str(tmp_path / 'foreign.pt')
    payload = pickle.dumps(collections.Counter(a=1), protocol=2)
    _rewrite_archive(path, bad, {'/data.pkl': payload})
    with pytest.raises(pickle.UnpicklingError,
                       match=r'foreign\.pt.*collections\.Counter'):
        read_torchscript_state_dict(bad)
    # a tensor record shorter than its declared size is refused
    short = str(tmp_path / 'short.pt')
    _rewrite_archive(path, short, {'/data/0': b'1234'})
    with pytest.raises(pickle.UnpicklingError, match='data/0 holds 4 bytes'):
        read_torchscript_state_dict(short)


@pytest.mark.parametrize(
    'kind', ['pth', 'nested_ddp', 'safetensors', 'torchscript',
             'torchscript_traced'])
def test_backbone_and_head_load_clip_weights(tmp_path, reference, kind,
                                             monkeypatch):
    path = _files(tmp_path, reference)[kind]
    if kind.startswith('torchscript'):
        # an OpenAI archive is read as data: its code never runs
        _refuse_code_execution(monkeypatch)
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
