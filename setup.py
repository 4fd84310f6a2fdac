"""Install dist_plugin: DiST (ICCV 2023) as MMAction2 components."""
import os
import os.path as osp
import platform
import shutil
import subprocess
import sys

from setuptools import find_packages, setup


def read_readme() -> str:
    with open('README.md', encoding='utf-8') as f:
        return f.read()


def mmcv_requirement() -> list:
    """Keep a user's full ``mmcv`` (compiled ops); otherwise use ``mmcv-lite``.

    Both distributions install the module ``mmcv``; requiring ``mmcv-lite``
    next to a full ``mmcv`` would overwrite it. pip builds in an isolated
    environment that hides the target's packages, so the check asks the
    target interpreter itself (``-I`` ignores the build's PYTHONPATH).
    """
    probe = ('import importlib.metadata as m\n'
             'try:\n    m.version("mmcv")\nexcept m.PackageNotFoundError:\n'
             '    raise SystemExit(1)')
    try:
        found = subprocess.run([sys.executable, '-I', '-c', probe],
                               capture_output=True).returncode == 0
    except OSError:  # pragma: no cover
        found = False
    return [] if found else ['mmcv-lite>=2.0.0,<2.2.0']


def add_mim_extension() -> None:
    """Install configs, tools, projects and the model index with the package
    under ``dist_plugin/.mim/``, as mmaction2 and mmpretrain do, so ``mim``
    and code that looks for configs find them in any installation.

    Editable installs (``pip install -e .``) get symlinks into the checkout;
    wheels and sdists get copies.
    """
    if 'develop' in sys.argv or 'editable_wheel' in sys.argv:
        mode = 'copy' if platform.system() == 'Windows' else 'symlink'
    elif 'sdist' in sys.argv or 'bdist_wheel' in sys.argv:
        mode = 'copy'
    else:
        return
    repo = osp.dirname(osp.abspath(__file__))
    mim = osp.join(repo, 'dist_plugin', '.mim')
    os.makedirs(mim, exist_ok=True)
    for name in ('configs', 'tools', 'projects', 'model-index.yml'):
        src = osp.join(repo, name)
        if not osp.exists(src):  # building from an sdist: .mim is there
            continue
        tar = osp.join(mim, name)
        if osp.islink(tar) or osp.isfile(tar):
            os.remove(tar)
        elif osp.isdir(tar):
            shutil.rmtree(tar)
        if mode == 'symlink':
            os.symlink(osp.relpath(src, mim), tar)
        elif osp.isfile(src):
            shutil.copyfile(src, tar)
        else:
            shutil.copytree(
                src, tar,
                ignore=shutil.ignore_patterns('__pycache__', '*.pyc'))


install_requires = [
    'torch>=2.6',  # weights_only=True loading with allow-lists
    'torchvision',
    'mmengine>=0.10.4,<0.11',
    # mmengine 0.10 resolves `mmaction::` config bases (and mim runs) with
    # pkg_resources, which setuptools >= 82 removed; MMAction2's own tools
    # read a config before any plugin code can run (README: "MMAction2's
    # own tools"). torch 2.14 needs >= 77.0.3, so this resolves to 81.x.
    'setuptools<82',
    'mmaction2>=1.2.0,<1.3',
    'open_clip_torch>=2.32',
    "decord>=0.6.0; platform_machine=='x86_64' or platform_machine=='AMD64'",
    # PyAV: decodes where decord cannot (aarch64, dmlc/decord#336 widths)
    'av>=10',
    'einops>=0.6',
    'timm',  # RandAugment ops (TDS-CLIP's ClipRandAugment)
    'fvcore>=0.1.5.post20221221',
    'numpy',
    'importlib_metadata',
    'safetensors',
    'tqdm',
    'matplotlib',
] + mmcv_requirement()

add_mim_extension()
setup(
    name='dist_plugin',
    version='0.1.0',
    description='DiST: disentangled spatial-temporal transfer of frozen CLIP, '
    'as MMAction2 components',
    long_description=read_readme(),
    long_description_content_type='text/markdown',
    license='Apache-2.0',
    # projects/<name> (EVL, STAN, TDS-CLIP, ...) install as
    # dist_plugin_projects.<name>
    packages=find_packages(include=['dist_plugin', 'dist_plugin.*']) +
    ['dist_plugin_projects'] +
    ['dist_plugin_projects.' + p for p in find_packages('projects')],
    package_dir={'dist_plugin_projects': 'projects'},
    python_requires='>=3.9',
    install_requires=install_requires,
    extras_require={
        # openmim: tests of `mim search|download|train|run dist_plugin`
        'tests': ['pytest>=7', 'hypothesis>=6', 'openmim>=0.3.9'],
    },
    include_package_data=True,
    package_data={
        'dist_plugin':
        ['label_maps/*.txt', 'label_maps/*.json', '.mim/**/*'],
    },
    zip_safe=False,
)
