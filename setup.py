"""Install dist_plugin: DiST (ICCV 2023) as MMAction2 components."""
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


install_requires = [
    'torch>=2.6',  # weights_only=True loading with allow-lists
    'torchvision',
    'mmengine>=0.10.4,<0.11',
    'mmaction2>=1.2.0,<1.3',
    'open_clip_torch>=2.32',
    "decord>=0.6.0; platform_machine=='x86_64' or platform_machine=='AMD64'",
    # PyAV: decodes where decord cannot (aarch64, dmlc/decord#336 widths)
    'av>=10',
    'einops>=0.6',
    'fvcore>=0.1.5.post20221221',
    'numpy',
    'importlib_metadata',
    'safetensors',
    'tqdm',
    'matplotlib',
] + mmcv_requirement()

setup(
    name='dist_plugin',
    version='0.1.0',
    description='DiST: disentangled spatial-temporal transfer of frozen CLIP, '
    'as MMAction2 components',
    long_description=read_readme(),
    long_description_content_type='text/markdown',
    license='Apache-2.0',
    packages=find_packages(include=['dist_plugin', 'dist_plugin.*']),
    python_requires='>=3.9',
    install_requires=install_requires,
    extras_require={
        'tests': ['pytest>=7', 'hypothesis>=6'],
    },
    include_package_data=True,
    package_data={'dist_plugin': ['label_maps/*.txt', 'label_maps/*.json']},
    zip_safe=False,
)
