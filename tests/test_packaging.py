"""setup.py keeps a user's full mmcv and gives a fresh environment
mmcv-lite, also under pip's build isolation (which hides the target's
packages from setup.py itself)."""
import ast
import glob
import os.path as osp
import subprocess
import sys

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))


def _function_source(name: str) -> str:
    source = open(osp.join(REPO, 'setup.py'), encoding='utf-8').read()
    tree = ast.parse(source)
    node = next(n for n in tree.body
                if isinstance(n, ast.FunctionDef) and n.name == name)
    return ast.get_source_segment(source, node)


def test_mmcv_requirement_follows_the_target_environment(tmp_path):
    venv = tmp_path / 'venv'
    subprocess.run([sys.executable, '-m', 'venv', '--without-pip',
                    str(venv)], check=True)
    python = str(venv / 'bin' / 'python')
    site = glob.glob(str(venv / 'lib' / 'python*' / 'site-packages'))[0]
    code = ('import subprocess, sys\n' + _function_source('mmcv_requirement')
            + '\nprint(mmcv_requirement())')
    # run as a pip build would: the target interpreter, a foreign PYTHONPATH
    env = {'PYTHONPATH': str(tmp_path / 'build-overlay')}

    def requirement():
        return subprocess.run([python, '-c', code], env=env, check=True,
                              capture_output=True, text=True).stdout.strip()

    assert requirement() == "['mmcv-lite>=2.0.0,<2.2.0']"
    info = osp.join(site, 'mmcv-2.1.0.dist-info')
    subprocess.run(['mkdir', '-p', info], check=True)
    with open(osp.join(info, 'METADATA'), 'w') as f:
        f.write('Metadata-Version: 2.1\nName: mmcv\nVersion: 2.1.0\n')
    assert requirement() == '[]'
