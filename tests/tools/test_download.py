"""Checkpoint download: resume, hashes, refusals and conversion, against an
HTTP server on 127.0.0.1 that the tests start; the model zoo; safe loading
of URLs (``load_from``) and of mismatched CLIP weights."""
import hashlib
import http.server
import importlib.util
import io
import os
import os.path as osp
import re
import threading

import open_clip
import pytest
import torch
import yaml
from helpers.tiny_models import TINY_CLIP
from mmaction.registry import MODELS
from mmengine.hooks import Hook
from mmengine.runner import Runner

from dist_plugin.apis import convert_loaded_checkpoint, load_dist_checkpoint
from dist_plugin.checkpoint import (convert_official_state_dict,
                                    official_to_model_cfg)
from dist_plugin.checkpoint.download import (CACHE_ENV, ChecksumError,
                                             DownloadError,
                                             NotACheckpointError,
                                             default_cache_dir,
                                             download_file, fetch_checkpoint)
from dist_plugin.checkpoint.model_zoo import (direct_download_url,
                                              load_model_zoo, resolve_model)
from dist_plugin.models.backbones import FrozenCLIPViT
from dist_plugin.upstream_fixes.safe_checkpoint import safe_torch_load

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
FIXTURES = osp.join(REPO, 'tests', 'data', 'official_dist')

# Official zoo (README of alibaba-mmai-research/DiST): top-1, top-5.
OFFICIAL_RESULTS = {
    'dist_vit-b16_clip-openai-pre_8xb32-u16-a2_36e_sthv2-rgb': (68.7, 91.1),
    'dist_vit-b16_clip-openai-pre_8xb32-u32-a2_36e_sthv2-rgb': (70.2, 92.0),
    'dist_vit-b16_clip-openai-pre_8xb32-u64-a2_36e_sthv2-rgb': (70.9, 92.1),
    'dist_vit-l14_clip-openai-pre_8xb32-u64-a2_36e_sthv2-rgb': (73.1, 93.2),
    'dist_vit-b16_clip-openai-pre_8xb32-u16-a2_36e_kinetics400-rgb':
    (83.6, 96.3),
    'dist_vit-b16_clip-openai-pre_8xb32-u32-a2_36e_kinetics400-rgb':
    (84.4, 96.7),
    'dist_vit-b16_clip-openai-pre_8xb32-u64-a2_36e_kinetics400-rgb':
    (85.0, 97.0),
    'dist_vit-l14_clip-openai-pre_8xb32-u64-a2_36e_kinetics400-rgb':
    (88.0, 97.9),
    'dist_vit-l14_clip-openai-k710-pre_8xb32-u64-a2_36e_kinetics400-rgb':
    (89.6, 98.4),
}


def _load_tool(name):
    spec = importlib.util.spec_from_file_location(
        name, osp.join(REPO, 'tools', name + '.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class _Handler(http.server.BaseHTTPRequestHandler):
    """Serves ``server.files``; behaviour set by ``server`` attributes."""

    def log_message(self, *args):
        pass

    def do_GET(self):
        srv = self.server
        path = self.path.split('?')[0]
        srv.requests.append((path, self.headers.get('Range')))
        if path in srv.errors:
            self.send_error(srv.errors[path])
            return
        if path not in srv.files:
            self.send_error(404)
            return
        data = srv.files[path]
        match = re.fullmatch(r'bytes=(\d+)-', self.headers.get('Range') or '')
        if match and srv.ranges:
            start = int(match.group(1))
            self.send_response(206)
            self.send_header('Content-Range',
                             f'bytes {start}-{len(data) - 1}/{len(data)}')
            body = data[start:]
        else:
            self.send_response(200)
            body = data
        self.send_header('Content-Type', 'application/octet-stream')
        self.send_header('Content-Length', str(len(body)))
        self.end_headers()
        if srv.truncate.get(path, 0) > 0:
            srv.truncate[path] -= 1
            # Promise the whole body, send half of it, hang up.
            self.wfile.write(body[:len(body) // 2])
            self.wfile.flush()
            self.close_connection = True
            return
        self.wfile.write(body)


@pytest.fixture
def server():
    srv = http.server.ThreadingHTTPServer(('127.0.0.1', 0), _Handler)
    srv.files, srv.errors, srv.truncate = {}, {}, {}
    srv.requests, srv.ranges = [], True
    srv.url = f'http://127.0.0.1:{srv.server_address[1]}'
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield srv
    srv.shutdown()
    srv.server_close()


@pytest.fixture(scope='module')
def official():
    return torch.load(
        osp.join(FIXTURES, 'tiny-a.official_state_dict.pth'),
        weights_only=True)


def _released_bytes(official):
    """The official state dict in the released ``model_state`` layout."""
    buffer = io.BytesIO()
    torch.save(
        {
            'model_state': {
                'module.backbone.base_encoder.' + k: v
                for k, v in official.items()
            }
        }, buffer)
    return buffer.getvalue()


def _sha(data):
    return hashlib.sha256(data).hexdigest()


def test_good_file_is_verified_and_converted(server, official, tmp_path,
                                             capsys):
    data = _released_bytes(official)
    server.files['/dist_official.pyth'] = data
    out = tmp_path / 'cache'
    tool = _load_tool('download_checkpoint')
    code = tool.main([
        server.url + '/dist_official.pyth', '--sha256',
        _sha(data).upper(), '--out',
        str(out)
    ])
    assert code == 0
    stdout = capsys.readouterr().out.strip().splitlines()
    converted = str(out / 'dist_official_converted.pth')
    assert stdout[-1] == converted
    assert f'sha256 {_sha(data)}' in stdout[0]
    assert sorted(os.listdir(out)) == [
        'dist_official.pyth', 'dist_official.pyth.sha256',
        'dist_official_converted.pth'
    ]
    assert (out / 'dist_official.pyth').read_bytes() == data
    assert (out / 'dist_official.pyth.sha256').read_text() == \
        f'{_sha(data)}  dist_official.pyth\n'

    saved = safe_torch_load(converted)
    assert set(saved) == {'state_dict', 'meta'}
    assert saved['meta']['source_sha256'] == _sha(data)
    assert saved['meta']['dropped'] == [
        'dist_net.integration2temporal_nets.2.linear_fuse.weight',
        'dist_net.integration2temporal_nets.2.linear_fuse.bias'
    ]
    reference, _ = convert_official_state_dict(official)
    assert saved['state_dict'].keys() == reference.keys()
    for key, value in reference.items():
        assert torch.equal(saved['state_dict'][key], value), key

    # The converted file loads strictly into the matching model.
    case = torch.load(
        osp.join(FIXTURES, 'tiny-a.case.pth'), weights_only=True)
    model = MODELS.build(official_to_model_cfg(case['config']))
    load_dist_checkpoint(model, converted, strict=True)
    assert torch.equal(model.neck.video_query, reference['neck.video_query'])

    # A second run uses the cache instead of downloading again.
    server.requests.clear()
    again = fetch_checkpoint(
        server.url + '/dist_official.pyth', out_dir=str(out),
        sha256=_sha(data), progress=False)
    assert server.requests == []
    assert again.path == converted and again.converted


def test_truncated_transfer_is_resumed_with_range(server, tmp_path):
    data = os.urandom(300_001)
    server.files['/blob.bin'] = data
    server.truncate['/blob.bin'] = 1
    dst = str(tmp_path / 'blob.bin')
    download_file(server.url + '/blob.bin', dst, sha256=_sha(data),
                  progress=False)
    half = (len(data)) // 2
    assert server.requests == [('/blob.bin', None),
                               ('/blob.bin', f'bytes={half}-')]
    with open(dst, 'rb') as f:
        assert f.read() == data
    assert os.listdir(tmp_path) == ['blob.bin']


def test_truncated_transfer_restarts_without_range_support(server, tmp_path):
    data = os.urandom(200_000)
    server.files['/blob.bin'] = data
    server.truncate['/blob.bin'] = 1
    server.ranges = False
    dst = str(tmp_path / 'blob.bin')
    download_file(server.url + '/blob.bin', dst, sha256=_sha(data),
                  progress=True)
    # The second request asked to resume; the server sent everything again.
    assert [r[1] for r in server.requests] == [None, 'bytes=100000-']
    with open(dst, 'rb') as f:
        assert f.read() == data  # not the first half twice
    assert os.listdir(tmp_path) == ['blob.bin']


def test_interrupted_run_keeps_part_and_next_run_resumes(server, tmp_path):
    data = os.urandom(100_000)
    server.files['/blob.bin'] = data
    server.truncate['/blob.bin'] = 1
    dst = str(tmp_path / 'blob.bin')
    with pytest.raises(DownloadError, match='next run resumes'):
        download_file(server.url + '/blob.bin', dst, progress=False,
                      max_attempts=1)
    assert not osp.exists(dst)  # never a partial file at the final path
    assert osp.getsize(dst + '.part') == 50_000
    download_file(server.url + '/blob.bin', dst, sha256=_sha(data),
                  progress=False, max_attempts=1)
    assert server.requests[-1] == ('/blob.bin', 'bytes=50000-')
    with open(dst, 'rb') as f:
        assert f.read() == data
    assert not osp.exists(dst + '.part')


def test_wrong_hash_deletes_the_file(server, tmp_path):
    data = os.urandom(10_000)
    server.files['/blob.bin'] = data
    expected = 'ab' * 32
    with pytest.raises(ChecksumError) as err:
        fetch_checkpoint(server.url + '/blob.bin', out_dir=str(tmp_path),
                         sha256=expected, progress=False)
    assert expected in str(err.value) and _sha(data) in str(err.value)
    assert os.listdir(tmp_path) == []


def test_server_error_leaves_no_file(server, tmp_path):
    server.errors['/broken.pth'] = 500
    tool = _load_tool('download_checkpoint')
    with pytest.raises(
            DownloadError,
            match=r'HTTP 500 Internal Server Error .*/broken\.pth'):
        fetch_checkpoint(server.url + '/broken.pth', out_dir=str(tmp_path),
                         progress=False)
    assert tool.main([server.url + '/broken.pth', '--out',
                      str(tmp_path)]) == 1
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize('body,hint', [
    (b'\x00garbage, not a zip or a pickle' * 100, None),
    (b'<!DOCTYPE html><html><body>Quota exceeded</body></html>',
     'Google Drive'),
])
def test_not_a_checkpoint_is_refused_and_removed(server, tmp_path, body,
                                                 hint):
    server.files['/model.pth'] = body
    with pytest.raises(NotACheckpointError,
                       match='not a loadable PyTorch checkpoint') as err:
        fetch_checkpoint(server.url + '/model.pth', out_dir=str(tmp_path),
                         progress=False)
    if hint:
        assert hint in str(err.value)
    assert os.listdir(tmp_path) == []


def test_pickled_code_is_refused(server, tmp_path):
    buffer = io.BytesIO()
    torch.save({'state_dict': {}, 'hook': Hook()}, buffer)
    server.files['/evil.pth'] = buffer.getvalue()
    with pytest.raises(NotACheckpointError, match='weights_only=True'):
        fetch_checkpoint(server.url + '/evil.pth', out_dir=str(tmp_path),
                         progress=False)
    assert os.listdir(tmp_path) == []


def test_cache_dir_from_environment(monkeypatch, tmp_path):
    monkeypatch.setenv(CACHE_ENV, str(tmp_path))
    assert default_cache_dir() == str(tmp_path)
    monkeypatch.delenv(CACHE_ENV)
    assert default_cache_dir().endswith(
        osp.join('.cache', 'dist_plugin', 'checkpoints'))


def test_model_zoo_rows():
    zoo = load_model_zoo()
    assert {n: (e.top1, e.top5) for n, e in zoo.items()} == OFFICIAL_RESULTS
    for name, entry in zoo.items():
        assert osp.isfile(entry.config)
        assert osp.splitext(osp.basename(entry.config))[0] == name
        assert re.fullmatch(
            r'https://drive\.google\.com/file/d/[\w-]{25,}/view\?usp=sharing',
            entry.url), entry.url
        assert entry.sha256 is None and entry.layout == 'official'
    assert len({e.url for e in zoo.values()}) == 9
    name = 'dist_vit-b16_clip-openai-pre_8xb32-u16-a2_36e_kinetics400-rgb'
    assert zoo[name].url == ('https://drive.google.com/file/d/'
                             '1NNgk8wf4-OCrw5d9Mjce232uvDSPJsw1/view?'
                             'usp=sharing')
    assert resolve_model(name) == zoo[name]
    assert resolve_model(zoo[name].config) == zoo[name]
    with pytest.raises(KeyError, match='did you mean'):
        resolve_model('kinetics400-rgb')
    assert direct_download_url(zoo[name].url) == (
        'https://drive.usercontent.google.com/download?id='
        '1NNgk8wf4-OCrw5d9Mjce232uvDSPJsw1&export=download&confirm=t')
    assert direct_download_url('http://a/b.pth') == 'http://a/b.pth'


def test_zoo_name_uses_the_metafile_hash(server, official, tmp_path,
                                         monkeypatch):
    data = _released_bytes(official)
    server.files['/k400.pyth'] = data
    configs = tmp_path / 'repo' / 'configs' / 'dist'
    configs.mkdir(parents=True)
    (configs / 'tiny.py').write_text('model = dict()\n')
    rows = dict(Models=[
        dict(Name='tiny', Config='configs/dist/tiny.py',
             Weights=server.url + '/k400.pyth', SHA256=_sha(data)),
        dict(Name='tiny-bad', Config='configs/dist/tiny.py',
             Weights=server.url + '/k400.pyth', SHA256='0' * 64),
    ])
    metafile = configs / 'metafile.yml'
    metafile.write_text(yaml.safe_dump(rows))
    monkeypatch.setenv('DIST_PLUGIN_METAFILE', str(metafile))
    result = fetch_checkpoint('tiny', out_dir=str(tmp_path / 'c'),
                              progress=False)
    assert result.converted and result.sha256 == _sha(data)
    assert result.entry.config == str(configs / 'tiny.py')
    assert osp.basename(result.path) == 'tiny_converted.pth'
    with pytest.raises(ChecksumError, match='0' * 64):
        fetch_checkpoint('tiny-bad', out_dir=str(tmp_path / 'c'),
                         progress=False)
    assert not osp.exists(tmp_path / 'c' / 'tiny-bad.pth')


class _ConvertOfficialHook(Hook):
    """What the lead's hook does: convert at ``after_load_checkpoint``."""

    def after_load_checkpoint(self, runner, checkpoint):
        convert_loaded_checkpoint(checkpoint)


def _serve_zoo_without_hashes(server, data, tmp_path, monkeypatch):
    """A one-row model zoo whose SHA256 is null (as every official row)."""
    server.files['/k400.pyth'] = data
    configs = tmp_path / 'repo' / 'configs' / 'dist'
    configs.mkdir(parents=True)
    (configs / 'tiny.py').write_text('model = dict()\n')
    rows = dict(Models=[
        dict(Name='tiny', Config='configs/dist/tiny.py',
             Weights=server.url + '/k400.pyth', SHA256=None)
    ])
    metafile = configs / 'metafile.yml'
    metafile.write_text(yaml.safe_dump(rows))
    monkeypatch.setenv('DIST_PLUGIN_METAFILE', str(metafile))
    return tmp_path / 'cache'


def test_first_verified_download_pins_the_file(server, official, tmp_path,
                                               monkeypatch):
    """No published hash: the first download that loads is recorded next to
    the cache; a later change of the cached file is refused."""
    data = _released_bytes(official)
    cache = _serve_zoo_without_hashes(server, data, tmp_path, monkeypatch)
    first = fetch_checkpoint('tiny', out_dir=str(cache), progress=False)
    record = cache / 'tiny.pth.sha256'
    assert record.read_text() == f'{_sha(data)}  tiny.pth\n'
    assert first.sha256 == _sha(data)
    # unchanged cache: reused without a request
    server.requests.clear()
    again = fetch_checkpoint('tiny', out_dir=str(cache), progress=False)
    assert server.requests == [] and again.sha256 == _sha(data)
    # the cached file is replaced by another valid checkpoint: refused
    other = dict(official)
    other['dist_net.proj'] = other['dist_net.proj'] + 1
    tampered = _released_bytes(other)
    (cache / 'tiny.pth').write_bytes(tampered)
    with pytest.raises(ChecksumError, match=r'tiny\.pth changed since it was '
                       r'downloaded and verified.*' + _sha(data)):
        fetch_checkpoint('tiny', out_dir=str(cache), progress=False)
    assert (cache / 'tiny.pth').read_bytes() == tampered  # left for the user
    assert server.requests == []
    # an explicit --sha256 of the new file pins it instead
    pinned = fetch_checkpoint('tiny', out_dir=str(cache),
                              sha256=_sha(tampered), progress=False)
    assert pinned.sha256 == _sha(tampered)
    assert record.read_text().split()[0] == _sha(tampered)


def test_server_changing_a_pinned_file_is_refused(server, official, tmp_path,
                                                  monkeypatch):
    data = _released_bytes(official)
    cache = _serve_zoo_without_hashes(server, data, tmp_path, monkeypatch)
    fetch_checkpoint('tiny', out_dir=str(cache), progress=False)
    os.remove(cache / 'tiny.pth')  # cache cleared, record kept
    other = dict(official)
    other['dist_net.proj'] = other['dist_net.proj'] * 2
    server.files['/k400.pyth'] = _released_bytes(other)
    with pytest.raises(ChecksumError, match='now serves other bytes'):
        fetch_checkpoint('tiny', out_dir=str(cache), progress=False)
    assert not (cache / 'tiny.pth').exists()
    assert (cache / 'tiny.pth.sha256').read_text().split()[0] == _sha(data)


def test_a_file_that_does_not_load_is_not_pinned(server, tmp_path,
                                                 monkeypatch):
    cache = _serve_zoo_without_hashes(server, b'<html>quota</html>', tmp_path,
                                      monkeypatch)
    with pytest.raises(NotACheckpointError):
        fetch_checkpoint('tiny', out_dir=str(cache), progress=False)
    assert os.listdir(cache) == []


def test_official_checkpoint_url_loads_through_mmengine(
        server, official, tmp_path, monkeypatch):
    monkeypatch.setenv('TORCH_HOME', str(tmp_path / 'torch'))
    server.files['/official.pyth'] = _released_bytes(official)
    case = torch.load(
        osp.join(FIXTURES, 'tiny-a.case.pth'), weights_only=True)
    reference, _ = convert_official_state_dict(official)

    model = MODELS.build(official_to_model_cfg(case['config']))
    load_dist_checkpoint(model, server.url + '/official.pyth')
    for key in ('neck.proj', 'backbone.visual.proj',
                'cls_head.clip.text_projection'):
        assert torch.equal(model.state_dict()[key], reference[key]), key

    runner = Runner(
        model=MODELS.build(official_to_model_cfg(case['config'])),
        work_dir=str(tmp_path / 'work'),
        custom_hooks=[_ConvertOfficialHook()])
    runner.load_checkpoint(server.url + '/official.pyth')
    state = runner.model.state_dict()
    for key, value in reference.items():
        assert torch.equal(state[key], value), key


def test_clip_weights_of_another_architecture_are_refused(tmp_path):
    other = dict(TINY_CLIP, vision_cfg=dict(TINY_CLIP['vision_cfg'],
                                            width=96))
    path = str(tmp_path / 'other_clip.pth')
    torch.save(open_clip.CLIP(**other).state_dict(), path)
    with pytest.raises(ValueError) as err:
        FrozenCLIPViT(arch=TINY_CLIP, pretrained=path)
    message = str(err.value)
    assert 'mismatched shape' in message
    assert 'visual.conv1.weight: checkpoint (96, 3, 16, 16) vs model ' \
        '(64, 3, 16, 16)' in message


def test_unreachable_server_is_a_clear_error(tmp_path):
    srv = http.server.HTTPServer(('127.0.0.1', 0), _Handler)
    port = srv.server_address[1]
    srv.server_close()  # nothing listens there any more
    with pytest.raises(DownloadError) as err:
        download_file(f'http://127.0.0.1:{port}/x.pth',
                      str(tmp_path / 'x.pth'), progress=False,
                      max_attempts=2)
    assert 'failed after 2 attempts' in str(err.value)
    assert 'resumes' not in str(err.value)
    assert os.listdir(tmp_path) == []
