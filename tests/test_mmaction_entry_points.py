"""MMAction2's own entry points on dist_plugin's configs, with nothing of
dist_plugin imported first: the installed ``mmaction/.mim/tools/train.py``
and ``test.py`` in subprocesses on the demo config (one tiny epoch), and
``init_recognizer`` + ``inference_recognizer`` in a fresh interpreter.

The subprocesses get a clean environment: ``PYTHONPATH`` is only this
checkout (what the editable install of the README gives)."""
import glob
import importlib.util
import json
import os
import os.path as osp
import re
import subprocess
import sys

import pytest
import torch

from dist_plugin.demo.make_dataset import generate_demo_dataset
from dist_plugin.upstream_fixes import safe_torch_load

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
DEMO = osp.join(REPO, 'configs', 'demo', 'dist_tiny_demo.py')
BASELINE = osp.join(REPO, 'configs', 'demo', 'frozen_clip_tiny_demo.py')
VIDEO = osp.join(REPO, 'tests', 'data', 'videos', 'kinetics_arm_wrestling.mp4')
MMACTION_TOOLS = osp.join(
    importlib.util.find_spec('mmaction').submodule_search_locations[0],
    '.mim', 'tools')
#: Configs that inherit an installed package's config (`pkg::` bases);
#: mmengine 0.10 resolves these with pkg_resources (setuptools<82).
PACKAGE_BASED = {
    'projects/swap_into_mmaction/configs/dist_vit-b16_clip-openai-pre_'
    'i3d-recipe_8xb8-32x2x1-100e_kinetics400-rgb.py'
}
#: No workers: a tiny data set, and the test stays quick on 2 cores.
SMALL_LOADERS = [
    f'{split}_dataloader.{key}={value}'
    for split in ('train', 'val', 'test')
    for key, value in (('num_workers', 0), ('persistent_workers', False))
]


def _env() -> dict:
    env = {k: v for k, v in os.environ.items() if k != 'PYTHONPATH'}
    env['PYTHONPATH'] = REPO
    env.setdefault('OMP_WAIT_POLICY', 'PASSIVE')
    return env


def _run(args, cwd, timeout=600):
    return subprocess.run([sys.executable, *args], cwd=str(cwd), env=_env(),
                          capture_output=True, text=True, timeout=timeout)


def _all_configs():
    paths = glob.glob(osp.join(REPO, 'configs', '**', '*.py'),
                      recursive=True)
    paths += glob.glob(osp.join(REPO, 'projects', '*', 'configs', '*.py'))
    return sorted(osp.relpath(p, REPO) for p in paths)


def test_every_config_resolves_without_pkg_resources():
    """What setuptools >= 82 gives: no pkg_resources. Every config except
    those that inherit an installed package's config reads."""
    configs = [c for c in _all_configs() if c not in PACKAGE_BASED]
    code = (
        'import sys, json\n'
        "sys.modules['pkg_resources'] = None  # as with setuptools >= 82\n"
        'from mmengine.config import Config\n'
        'failed = {}\n'
        'for path in json.loads(sys.argv[1]):\n'
        '    try:\n'
        '        Config.fromfile(path, import_custom_modules=False)\n'
        '    except Exception as err:\n'
        '        failed[path] = repr(err)\n'
        "assert 'dist_plugin' not in sys.modules\n"
        'print(json.dumps(failed))\n')
    result = _run(['-c', code, json.dumps(configs)], cwd=REPO)
    assert result.returncode == 0, result.stderr[-3000:]
    assert json.loads(result.stdout.strip().splitlines()[-1]) == {}
    assert len(configs) >= 20
    for path in _all_configs():
        text = open(osp.join(REPO, path), encoding='utf-8').read()
        assert ("'mmaction::" in text) == (path in PACKAGE_BASED), path


def test_package_based_config_reads_in_the_readme_environment():
    """The swap-into-mmaction example inherits mmaction's I3D config; in the
    environment setup.py installs (setuptools<82) mmengine resolves it with
    nothing imported first."""
    (path, ) = PACKAGE_BASED
    code = ('import sys\nfrom mmengine.config import Config\n'
            'cfg = Config.fromfile(sys.argv[1])\n'
            'print(cfg.model.backbone.type, cfg.train_dataloader.batch_size)')
    result = _run(['-c', code, osp.join(REPO, path)], cwd=REPO)
    assert result.returncode == 0, (
        'setup.py requires setuptools<82 (mmengine 0.10 needs '
        'pkg_resources for `mmaction::` bases); is this environment '
        'installed per the README?\n' + result.stderr[-2000:])
    assert result.stdout.split()[-2:] == ['FrozenCLIPViT', '8']


@pytest.fixture(scope='module')
def trained(tmp_path_factory):
    """mmaction's own train.py: one epoch of the demo config on 32 clips."""
    root = tmp_path_factory.mktemp('mmaction_tools')
    generate_demo_dataset(str(root / 'data' / 'demo'), num_train=32,
                          num_val=8)
    result = _run([
        osp.join(MMACTION_TOOLS, 'train.py'), DEMO, '--work-dir', 'train',
        '--cfg-options', 'train_cfg.max_epochs=1', *SMALL_LOADERS
    ], cwd=root)
    return root, result


def test_mmaction_train_py_trains_the_demo_config(trained):
    root, result = trained
    assert result.returncode == 0, result.stderr[-3000:]
    log = result.stdout + result.stderr
    assert 'Epoch(train) [1][2/2]' in log
    assert 'Epoch(val) [1][1/1]' in log and 'acc/top1' in log
    assert (root / 'train' / 'epoch_1.pth').is_file()
    # the config dump still reaches the log file
    (log_file, ) = (root / 'train').glob('*/*.log')
    assert "type='DiSTIntegrationNeck'" in log_file.read_text()


def test_mmaction_test_py_reports_top1(trained):
    root, _ = trained
    result = _run([
        osp.join(MMACTION_TOOLS, 'test.py'), DEMO, 'train/epoch_1.pth',
        '--work-dir', 'test', '--cfg-options', *SMALL_LOADERS
    ], cwd=root)
    assert result.returncode == 0, result.stderr[-3000:]
    (metrics, ) = (root / 'test').glob('*/*.json')
    top1 = json.loads(metrics.read_text())['acc/top1']
    assert 0.0 <= top1 <= 1.0
    assert 'acc/top1' in result.stdout


@pytest.fixture(scope='module')
def baseline(trained):
    """The DiST checkpoint without DiST's neck: what the frozen-CLIP
    baseline config saves. Returns the neck keys it lacks."""
    root, _ = trained
    state = safe_torch_load(str(root / 'train' / 'epoch_1.pth'))['state_dict']
    kept = {k: v for k, v in state.items() if not k.startswith('neck.')}
    torch.save(dict(state_dict=kept, meta=dict()), str(root / 'baseline.pth'))
    return [k for k in state if k.startswith('neck.')]


def test_mmaction_test_py_refuses_a_checkpoint_of_another_config(
        trained, baseline):
    """A frozen-CLIP baseline checkpoint lacks DiST's neck: testing DiST
    with it fails naming the missing weights."""
    root, _ = trained
    result = _run([
        osp.join(MMACTION_TOOLS, 'test.py'), DEMO, 'baseline.pth',
        '--work-dir', 'refused', '--cfg-options', *SMALL_LOADERS
    ], cwd=root)
    assert result.returncode != 0
    assert 'CheckpointMismatchError' in result.stderr
    assert re.search(
        r'baseline\.pth lacks weights of trainable modules of this model '
        rf'\({len(baseline)} missing\): neck\.\S+, neck\.',
        result.stderr), result.stderr[-2000:]


def test_our_test_py_exits_1_naming_the_missing_weights(trained, baseline):
    root, _ = trained
    result = _run([
        osp.join(REPO, 'tools', 'test.py'), DEMO, 'baseline.pth',
        '--work-dir', 'ours', '--cfg-options', *SMALL_LOADERS
    ], cwd=root)
    assert result.returncode == 1
    assert re.search(r'^error: baseline\.pth lacks weights of trainable '
                     r'modules .*: neck\.', result.stderr, re.M), \
        result.stderr[-2000:]


def test_mmaction_test_py_names_stray_keys(trained):
    """The other way round, DiST's neck weights are stray keys for the
    baseline: a warning names them, the test runs."""
    root, _ = trained
    result = _run([
        osp.join(MMACTION_TOOLS, 'test.py'), BASELINE, 'train/epoch_1.pth',
        '--work-dir', 'stray', '--cfg-options', *SMALL_LOADERS
    ], cwd=root)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "that the model does not have are ignored: neck." in \
        result.stdout + result.stderr


def test_init_recognizer_classifies_the_kinetics_clip(trained):
    root, _ = trained
    code = (
        'import json, sys\n'
        'from mmaction.apis import inference_recognizer, init_recognizer\n'
        'model = init_recognizer(sys.argv[1], sys.argv[2], device="cpu")\n'
        'result = inference_recognizer(model, sys.argv[3])\n'
        'print(json.dumps(dict(scores=result.pred_score.tolist(),\n'
        '                      label=int(result.pred_label))))\n')
    result = _run(['-c', code, DEMO, 'train/epoch_1.pth', VIDEO], cwd=root)
    assert result.returncode == 0, result.stderr[-3000:]
    out = json.loads(result.stdout.strip().splitlines()[-1])
    assert len(out['scores']) == 4  # the demo's four motion classes
    assert sum(out['scores']) == pytest.approx(1.0, abs=1e-5)  # 'prob'
    assert out['label'] == max(range(4), key=out['scores'].__getitem__)
