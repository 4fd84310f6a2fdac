"""The DiST model zoo: read ``configs/dist/metafile.yml`` and resolve names.

A model-zoo name is the ``Name`` of a metafile row, which is also the stem of
its config (mmaction's convention), e.g.
``dist_vit-b16_clip-openai-pre_8xb32-u16-a2_36e_kinetics400-rgb``.
"""
import os
import os.path as osp
import re
from typing import Dict, List, NamedTuple, Optional

import yaml

#: Environment variable naming another metafile.
METAFILE_ENV = 'DIST_PLUGIN_METAFILE'
_PACKAGE_DIR = osp.dirname(osp.dirname(osp.abspath(__file__)))


def package_root() -> str:
    """The folder holding ``configs/``, ``tools/``, ``projects/`` and
    ``model-index.yml``.

    An installed package carries them in ``dist_plugin/.mim/`` (copies in a
    wheel, symlinks in an editable install, as mmaction2 does); a plain
    source checkout on ``PYTHONPATH`` has them beside the package.
    """
    mim = osp.join(_PACKAGE_DIR, '.mim')
    if osp.isfile(osp.join(mim, 'model-index.yml')):
        return mim
    return osp.dirname(_PACKAGE_DIR)


#: The DiST model zoo of this installation.
DEFAULT_METAFILE = osp.join(package_root(), 'configs', 'dist', 'metafile.yml')

_DRIVE_FILE_ID = re.compile(
    r'^https?://drive\.google\.com/(?:file/d/([\w-]+)|open\?id=([\w-]+)|'
    r'uc\?(?:.*&)?id=([\w-]+))')


class ZooEntry(NamedTuple):
    """One checkpoint of the model zoo."""
    name: str
    url: str  # as published (may be a Google Drive page)
    sha256: Optional[str]  # lower-case hex, None when unpublished
    config: Optional[str]  # absolute path of the config, None if unknown
    dataset: Optional[str] = None
    top1: Optional[float] = None
    top5: Optional[float] = None
    layout: str = 'official'  # 'official' or 'dist_plugin'


def _metafile_path(metafile: Optional[str]) -> str:
    path = metafile or os.environ.get(METAFILE_ENV) or DEFAULT_METAFILE
    if not osp.isfile(path):
        raise FileNotFoundError(
            f'Model-zoo metafile {path} not found. Install dist_plugin '
            f'(it ships dist_plugin/.mim/configs) or pass the metafile '
            f'(--metafile / ${METAFILE_ENV}).')
    return path


def _check_sha256(value: Optional[str], where: str) -> Optional[str]:
    if value is None:
        return None
    value = str(value).strip().lower()
    if not re.fullmatch(r'[0-9a-f]{64}', value):
        raise ValueError(f'{where}: SHA256 {value!r} is not 64 hex digits')
    return value


def load_model_zoo(metafile: Optional[str] = None) -> Dict[str, ZooEntry]:
    """Read every row of a metafile.

    Args:
        metafile (str, optional): Metafile path. Defaults to None
            (``$DIST_PLUGIN_METAFILE`` or ``configs/dist/metafile.yml``).

    Returns:
        dict: Name -> :class:`ZooEntry`, in metafile order.
    """
    path = _metafile_path(metafile)
    with open(path, encoding='utf-8') as f:
        data = yaml.safe_load(f) or {}
    # Config paths in a metafile are relative to the folder of the model
    # index (the checkout or dist_plugin/.mim), which is two levels above
    # configs/<algo>/metafile.yml.
    root = osp.dirname(osp.dirname(osp.dirname(osp.abspath(path))))
    entries: Dict[str, ZooEntry] = {}
    for row in data.get('Models') or []:
        name = row['Name']
        metrics = {}
        results = row.get('Results') or []
        if results:
            metrics = results[0].get('Metrics') or {}
        config = row.get('Config')
        entries[name] = ZooEntry(
            name=name,
            url=row['Weights'],
            sha256=_check_sha256(row.get('SHA256'), f'{path}: {name}'),
            config=osp.join(root, config) if config else None,
            dataset=results[0].get('Dataset') if results else None,
            top1=metrics.get('Top 1 Accuracy'),
            top5=metrics.get('Top 5 Accuracy'),
            layout=row.get('Weights Layout', 'official'))
    return entries


def list_models(metafile: Optional[str] = None) -> List[str]:
    """Names of the model zoo, in metafile order."""
    return list(load_model_zoo(metafile))


def is_url(text: str) -> bool:
    """Whether ``text`` is an http(s) URL."""
    return bool(re.match(r'^https?://', text))


def resolve_model(name: str, metafile: Optional[str] = None) -> ZooEntry:
    """Resolve a model-zoo name (or the path of its config) to its entry.

    Args:
        name (str): A metafile ``Name``, or a config path whose stem is one.
        metafile (str, optional): See :func:`load_model_zoo`.
            Defaults to None.

    Returns:
        ZooEntry: URL, SHA-256 and config of the checkpoint.
    """
    zoo = load_model_zoo(metafile)
    key = osp.splitext(osp.basename(name))[0] if name.endswith('.py') \
        else name
    if key in zoo:
        return zoo[key]
    close = [n for n in zoo if key.lower() in n.lower()]
    hint = ('; did you mean ' + ', '.join(close[:3]) + '?') if close else \
        '; list them with tools/download_checkpoint.py --list'
    raise KeyError(f'{name!r} is not in the model zoo{hint}')


def direct_download_url(url: str) -> str:
    """Turn a Google Drive file page into its direct-download URL.

    Other URLs are returned unchanged.

    Args:
        url (str): A URL as published.

    Returns:
        str: A URL that serves the file itself.
    """
    match = _DRIVE_FILE_ID.match(url)
    if not match:
        return url
    file_id = next(g for g in match.groups() if g)
    # ``confirm=t`` skips the "cannot scan for viruses" page of large files.
    return ('https://drive.usercontent.google.com/download?id='
            f'{file_id}&export=download&confirm=t')
