"""OpenMMLab packaging: configs, tools, projects and the model index are
installed under ``dist_plugin/.mim/`` (as mmaction2 does), code that finds
configs or the zoo works from an installed (non-editable) copy, and
``mim search|download|run|train dist_plugin`` work on it. Downloads go to an
HTTP server on 127.0.0.1 that the test starts."""
import functools
import glob
import hashlib
import http.server
import importlib.util
import json
import os
import os.path as osp
import shutil
import subprocess
import sys
import threading
import zipfile

import pytest
import torch
import yaml

from dist_plugin.demo.make_dataset import generate_demo_dataset

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
HAS_MIM = importlib.util.find_spec('mim') is not None
needs_mim = pytest.mark.skipif(
    not HAS_MIM, reason='openmim is not installed (tests extra of setup.py)')
ZOO_ROW = 'dist_vit-b16_clip-openai-pre_8xb32-u16-a2_36e_kinetics400-rgb'
#: Not part of an installed package.
_NOT_SHIPPED = ('.git', '.venv', 'work_dirs', 'data', 'build', '.mim',
                '__pycache__', '*.egg-info', '.pytest_cache', '.hypothesis')


def _metafiles():
    found = glob.glob(osp.join(REPO, 'configs', '**', 'metafile.yml'),
                      recursive=True)
    found += glob.glob(osp.join(REPO, 'projects', '*', 'metafile.yml'))
    return sorted(osp.relpath(p, REPO) for p in found)


def test_model_index_lists_every_metafile_in_mmaction_spelling():
    with open(osp.join(REPO, 'model-index.yml'), encoding='utf-8') as f:
        index = yaml.safe_load(f)
    assert sorted(index['Import']) == _metafiles()
    for metafile in index['Import']:
        with open(osp.join(REPO, metafile), encoding='utf-8') as f:
            rows = yaml.safe_load(f)['Models']
        assert rows, metafile
        for row in rows:
            where = f'{metafile}: {row["Name"]}'
            assert osp.isfile(osp.join(REPO, row['Config'])), where
            assert osp.splitext(osp.basename(row['Config']))[0] == \
                row['Name'], where
            assert isinstance(row['Metadata']['Frame'], int), where
            assert 'Frames' not in row['Metadata'], where
            source = row['Converted From']
            assert source['Code'].startswith('https://github.com/'), where
            # rows whose authors released no checkpoint (STAN) say null
            if row['Weights'] is not None:
                assert row['Weights'].startswith('https://'), where
                assert source['Weights'].startswith('https://'), where


def _env(site: str) -> dict:
    env = {k: v for k, v in os.environ.items() if k != 'PYTHONPATH'}
    env['PYTHONPATH'] = site  # the installed copy, nothing of the checkout
    env.setdefault('OMP_WAIT_POLICY', 'PASSIVE')
    return env


@pytest.fixture(scope='module')
def installed(tmp_path_factory):
    """``pip install --no-deps --target SITE`` of a copy of the checkout
    (a wheel build: the .mim folder holds copies)."""
    root = tmp_path_factory.mktemp('installed')
    src, site = root / 'src', root / 'site'
    shutil.copytree(REPO, src, symlinks=True,
                    ignore=shutil.ignore_patterns(*_NOT_SHIPPED))
    result = subprocess.run(
        [sys.executable, '-m', 'pip', 'install', '--no-deps',
         '--no-build-isolation', '--no-compile', '--target', str(site),
         str(src)], capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    return root, site


def test_installed_package_carries_configs_tools_and_zoo(installed):
    root, site = installed
    mim = site / 'dist_plugin' / '.mim'
    for name in ('model-index.yml', 'configs/dist/metafile.yml',
                 'configs/demo/dist_tiny_demo.py', 'configs/_base_',
                 'tools/train.py', 'tools/test.py',
                 'tools/download_checkpoint.py', 'projects'):
        assert (mim / name).exists(), name
    assert not any(osp.islink(p) for p in glob.glob(
        str(mim / '**'), recursive=True)), 'a wheel holds copies'
    code = (
        'import json, os.path as osp\n'
        'import dist_plugin, dist_plugin_projects\n'
        'from dist_plugin.checkpoint.model_zoo import (load_model_zoo,\n'
        '                                              package_root)\n'
        'zoo = load_model_zoo()\n'
        'print(json.dumps(dict(root=package_root(),\n'
        '    package=dist_plugin.__file__,\n'
        '    projects=dist_plugin_projects.__file__,\n'
        '    configs=[e.config for e in zoo.values()])))\n')
    result = subprocess.run([sys.executable, '-c', code], cwd=str(root),
                            env=_env(str(site)), capture_output=True,
                            text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    out = json.loads(result.stdout.strip().splitlines()[-1])
    assert out['package'] == str(site / 'dist_plugin' / '__init__.py')
    assert out['projects'] == str(site / 'dist_plugin_projects' /
                                  '__init__.py')
    assert out['root'] == str(mim)
    assert len(out['configs']) == 9
    for config in out['configs']:
        assert config.startswith(str(mim)) and osp.isfile(config), config


def test_editable_build_links_the_checkout(tmp_path):
    """``pip install -e .`` (PEP 660): .mim holds symlinks into the
    checkout, and ``dist_plugin_projects`` maps to ``projects/``."""
    src = tmp_path / 'src'
    shutil.copytree(REPO, src, symlinks=True,
                    ignore=shutil.ignore_patterns(*_NOT_SHIPPED))
    code = ('import sys\nfrom setuptools import build_meta\n'
            'print(build_meta.build_editable(sys.argv[1]))')
    result = subprocess.run(
        [sys.executable, '-c', code, str(tmp_path / 'wheel')], cwd=str(src),
        capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    mim = src / 'dist_plugin' / '.mim'
    for name in ('configs', 'tools', 'projects', 'model-index.yml'):
        assert osp.islink(mim / name), name
        assert osp.realpath(mim / name) == osp.realpath(src / name), name
    (wheel, ) = (tmp_path / 'wheel').glob('*.whl')
    with zipfile.ZipFile(wheel) as archive:
        finder = next(n for n in archive.namelist() if n.endswith(
            '_finder.py'))
        text = archive.read(finder).decode()
    assert f"'dist_plugin_projects': '{src / 'projects'}'" in text


class _Server:
    """Serves a folder on 127.0.0.1 (with Content-Length, as mim needs)."""

    def __init__(self, folder: str) -> None:
        handler = functools.partial(_QuietHandler, directory=folder)
        self.httpd = http.server.ThreadingHTTPServer(('127.0.0.1', 0),
                                                     handler)
        self.url = f'http://127.0.0.1:{self.httpd.server_port}'
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):

    def log_message(self, *args):
        pass


@pytest.fixture(scope='module')
def zoo_server(installed, tmp_path_factory):
    """The installed metafile's K400 row points at the loopback server and
    pins the served file's SHA-256."""
    _, site = installed
    served = tmp_path_factory.mktemp('served')
    checkpoint = served / 'dist_k400_b16.pth'
    torch.save(dict(state_dict={'neck.proj': torch.arange(6.)}, meta={}),
               str(checkpoint))
    digest = hashlib.sha256(checkpoint.read_bytes()).hexdigest()
    server = _Server(str(served))
    metafile = site / 'dist_plugin' / '.mim' / 'configs' / 'dist' / \
        'metafile.yml'
    data = yaml.safe_load(metafile.read_text())
    for row in data['Models']:
        if row['Name'] == ZOO_ROW:
            row['Weights'] = server.url + '/dist_k400_b16.pth'
            row['SHA256'] = digest
    metafile.write_text(yaml.safe_dump(data, sort_keys=False))
    yield checkpoint, digest
    server.close()


def _mim(args, site, cwd, timeout=600):
    return subprocess.run([sys.executable, '-m', 'mim', *args], cwd=str(cwd),
                          env=_env(str(site)), capture_output=True,
                          text=True, timeout=timeout)


@needs_mim
def test_mim_search_lists_the_model_zoo(installed):
    root, site = installed
    result = _mim(['search', 'dist_plugin', '--field', 'weight'], site, root)
    assert result.returncode == 0, result.stderr[-3000:]
    names = [line.split(':', 1)[1].strip() for line in
             result.stdout.splitlines() if line.startswith('config id:')]
    rows = [row for metafile in _metafiles()
            for row in yaml.safe_load(open(osp.join(REPO, metafile)))['Models']]
    # mim lists the rows that have weights: DiST's nine and EVL's six (STAN
    # released none; TDS-CLIP's are a folder page, not files)
    with_weights = [row['Name'] for row in rows if row['Weights']]
    assert len(with_weights) == 15
    assert sorted(names) == sorted(with_weights)


@needs_mim
def test_mim_download_fetches_weights_and_dumps_the_config(
        installed, zoo_server, tmp_path):
    """`mim download` fetches `Weights` with mim's own code (mim 0.3.9
    checks no hash and never calls the package) and dumps the config."""
    root, site = installed
    checkpoint, _ = zoo_server
    dest = tmp_path / 'mim'
    result = _mim(['download', 'dist_plugin', '--config', ZOO_ROW, '--dest',
                   str(dest)], site, root)
    assert result.returncode == 0, result.stderr[-3000:]
    assert (dest / 'dist_k400_b16.pth').read_bytes() == \
        checkpoint.read_bytes()
    dumped = (dest / f'{ZOO_ROW}.py').read_text()
    assert "type='DiSTIntegrationNeck'" in dumped


@needs_mim
def test_mim_run_download_checkpoint_is_the_checked_download(
        installed, zoo_server, tmp_path):
    """The same row through dist_plugin's own download: SHA-256 from the
    metafile, a wrong digest refused and nothing kept."""
    root, site = installed
    checkpoint, digest = zoo_server
    checked = tmp_path / 'checked'
    result = _mim(['run', 'dist_plugin', 'download_checkpoint', ZOO_ROW,
                   '--out', str(checked), '--no-progress'], site, root)
    assert result.returncode == 0, result.stderr[-3000:]
    assert f'sha256 {digest}' in result.stdout
    assert (checked / f'{ZOO_ROW}.pth').read_bytes() == \
        checkpoint.read_bytes()
    # a digest that does not match: refused, nothing kept
    result = _mim(['run', 'dist_plugin', 'download_checkpoint', ZOO_ROW,
                   '--out', str(tmp_path / 'bad'), '--sha256', '0' * 64,
                   '--no-progress'], site, root)
    assert result.returncode != 0
    assert '0' * 64 in result.stderr
    assert not (tmp_path / 'bad' / f'{ZOO_ROW}.pth').exists()


@needs_mim
def test_mim_train_and_test_run_the_installed_tools(installed, tmp_path):
    root, site = installed
    generate_demo_dataset(str(tmp_path / 'data' / 'demo'), num_train=16,
                          num_val=4)
    options = [
        f'{split}_dataloader.{key}={value}' for split in ('train', 'val')
        for key, value in (('num_workers', 0), ('persistent_workers', False))
    ]
    result = _mim(['train', 'dist_plugin', 'dist_tiny_demo.py', '--gpus',
                   '0', '--work-dir', 'w', '--cfg-options',
                   'train_cfg.max_epochs=1', *options], site, tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    train_py = str(site / 'dist_plugin' / '.mim' / 'tools' / 'train.py')
    assert f'Training command is {sys.executable} {train_py}' in \
        result.stdout
    assert (tmp_path / 'w' / 'epoch_1.pth').is_file()

    result = _mim(['test', 'dist_plugin', 'dist_tiny_demo.py', '--checkpoint',
                   'w/epoch_1.pth', '--gpus', '0', '--work-dir', 't',
                   '--cfg-options', 'test_dataloader.num_workers=0',
                   'test_dataloader.persistent_workers=False'], site, tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    assert 'acc/top1' in result.stdout
