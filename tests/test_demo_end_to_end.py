"""The README's main job: `bash tools/demo.sh` trains a tiny DiST on the
motion-only demo data to >= 0.90 top-1, while the same frozen CLIP without
DiST's temporal stream and integration branch stays near chance (0.25)."""
import glob
import json
import os
import os.path as osp
import re
import subprocess
import sys

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))


def _env():
    env = dict(os.environ)
    env.setdefault('OMP_WAIT_POLICY', 'PASSIVE')
    env['VENV'] = osp.dirname(osp.dirname(sys.executable))
    return env


def _test_top1(test_dir: str) -> float:
    rows = []
    for path in glob.glob(osp.join(test_dir, '*', '*.json')):
        with open(path, encoding='utf-8') as f:
            metrics = json.load(f)
        if 'acc/top1' in metrics:
            rows.append(metrics['acc/top1'])
    assert len(rows) == 1, rows
    return rows[0]


def test_demo_learns_motion_and_the_frozen_baseline_does_not(tmp_path):
    work = tmp_path / 'demo'
    result = subprocess.run(
        ['bash', 'tools/demo.sh'],
        cwd=REPO,
        env=dict(_env(), DEMO_WORK_DIR=str(work)),
        capture_output=True,
        text=True,
        timeout=1200)
    assert result.returncode == 0, result.stderr[-3000:]
    last = result.stdout.strip().splitlines()[-1]
    match = re.fullmatch(r'demo top-1: (\d\.\d{4})', last)
    assert match, last
    top1 = float(match.group(1))
    assert top1 >= 0.90
    assert top1 == round(_test_top1(str(work / 'test')), 4)
    # mmengine's progress logging with an ETA
    log = open(next(work.glob('*/*.log')), encoding='utf-8').read()
    assert 'eta:' in log and 'Epoch(train) [50][20/20]' in log

    base = tmp_path / 'baseline'
    config = 'configs/demo/frozen_clip_tiny_demo.py'
    subprocess.run(
        [sys.executable, 'tools/train.py', config, '--work-dir', str(base)],
        cwd=REPO, env=_env(), check=True, capture_output=True, timeout=1200)
    checkpoint = (base / 'last_checkpoint').read_text().strip()
    subprocess.run(
        [sys.executable, 'tools/test.py', config, checkpoint, '--work-dir',
         str(base / 'test')],
        cwd=REPO, env=_env(), check=True, capture_output=True, timeout=600)
    baseline_top1 = _test_top1(str(base / 'test'))
    assert baseline_top1 <= 0.40, baseline_top1
