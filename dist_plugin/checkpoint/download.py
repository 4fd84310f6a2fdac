"""Download, verify and convert DiST checkpoints.

``fetch_checkpoint`` is what ``tools/download_checkpoint.py`` runs: it takes a
model-zoo name, an http(s) URL or a local file and returns a checkpoint that
``load_from`` / ``tools/test.py`` accept.

* The transfer writes ``<file>.part`` and renames it with ``os.replace`` only
  once it is complete and verified, so the final path never holds a partial
  or unverified file.
* An interrupted transfer is resumed with an HTTP ``Range`` request when the
  server answers ``206 Partial Content``; otherwise it restarts cleanly.
* A known SHA-256 is checked; a mismatch deletes the file.
* The file must load with ``torch.load(weights_only=True)`` (see
  :func:`~dist_plugin.upstream_fixes.safe_checkpoint.safe_torch_load`);
  otherwise it is deleted.
* Official DiST layouts are converted to ``<name>_converted.pth``.
"""
import hashlib
import http.client
import os
import os.path as osp
import re
import socket
import urllib.error
import urllib.parse
import urllib.request
from typing import Any, Dict, Mapping, NamedTuple, Optional

import torch
from mmengine.logging import print_log
from tqdm import tqdm

from dist_plugin.upstream_fixes.safe_checkpoint import safe_torch_load
from .official import (OFFICIAL_FORMATS, convert_official_checkpoint,
                       detect_official_method)
from .model_zoo import ZooEntry, direct_download_url, is_url, resolve_model

#: Environment variable overriding the checkpoint cache folder.
CACHE_ENV = 'DIST_PLUGIN_CACHE'
#: Suffix of files being downloaded.
PART_SUFFIX = '.part'
#: Suffix added to the stem of converted official checkpoints.
CONVERTED_SUFFIX = '_converted'

_NETWORK_ERRORS = (ConnectionError, socket.timeout, TimeoutError,
                   http.client.IncompleteRead, http.client.RemoteDisconnected,
                   urllib.error.URLError)


class DownloadError(RuntimeError):
    """A checkpoint could not be downloaded."""


class ChecksumError(DownloadError):
    """The downloaded bytes do not have the expected SHA-256."""


class NotACheckpointError(ValueError):
    """The file does not load as a PyTorch checkpoint."""


class FetchResult(NamedTuple):
    """What :func:`fetch_checkpoint` produced."""
    path: str  # the checkpoint to pass to tools/test.py or load_from
    downloaded: str  # the file as downloaded (or the local input)
    sha256: str  # SHA-256 of ``downloaded``
    converted: bool  # whether ``path`` was converted from the official layout
    entry: Optional[ZooEntry] = None  # model-zoo row, if a name was given


def default_cache_dir() -> str:
    """``$DIST_PLUGIN_CACHE`` or ``~/.cache/dist_plugin/checkpoints``."""
    return os.environ.get(CACHE_ENV) or osp.join(
        osp.expanduser('~'), '.cache', 'dist_plugin', 'checkpoints')


def sha256_file(path: str, chunk_size: int = 1 << 20) -> str:
    """Hex SHA-256 of a file."""
    digest = hashlib.sha256()
    with open(path, 'rb') as f:
        for block in iter(lambda: f.read(chunk_size), b''):
            digest.update(block)
    return digest.hexdigest()


def _remove(path: str) -> None:
    if osp.lexists(path):
        os.remove(path)


def _content_range(header: Optional[str]) -> Optional[tuple]:
    """``'bytes 10-99/100'`` -> ``(10, 100)`` (total None when ``*``)."""
    match = re.fullmatch(r'\s*bytes\s+(\d+)-\d+/(\d+|\*)\s*', header or '')
    if not match:
        return None
    total = None if match.group(2) == '*' else int(match.group(2))
    return int(match.group(1)), total


def _transfer(url: str, part: str, timeout: float, chunk_size: int,
              progress: bool, desc: str) -> bool:
    """One HTTP request appending to (or rewriting) ``part``.

    Returns:
        bool: True when ``part`` holds the whole file, False when the
        transfer stopped early (call again to resume).
    """
    start = osp.getsize(part) if osp.isfile(part) else 0
    headers = {'User-Agent': 'dist_plugin-checkpoint-downloader'}
    if start:
        headers['Range'] = f'bytes={start}-'
    request = urllib.request.Request(url, headers=headers)
    try:
        response = urllib.request.urlopen(request, timeout=timeout)
    except urllib.error.HTTPError as err:
        err.close()
        if err.code == 416 and start:  # our partial file is unusable
            print_log(f'{url}: the server refused to resume; restarting.',
                      logger='current')
            _remove(part)
            return False
        raise DownloadError(
            f'HTTP {err.code} {err.reason} while downloading {url}') from None
    with response:
        length = response.headers.get('Content-Length')
        length = int(length) if length and length.isdigit() else None
        resumed = _content_range(response.headers.get('Content-Range'))
        if start and response.status == 206:
            if not resumed or resumed[0] != start:  # not the range we asked
                _remove(part)
                return False
            mode = 'ab'
            total = resumed[1] or (start + length if length is not None
                                   else None)
        else:
            if start:
                print_log(
                    f'{url}: the server does not support resuming (HTTP '
                    f'{response.status}); restarting from the beginning.',
                    logger='current')
            start, mode, total = 0, 'wb', length
        with open(part, mode) as f, tqdm(
                total=total, initial=start, unit='B', unit_scale=True,
                unit_divisor=1024, desc=desc, disable=not progress,
                dynamic_ncols=True) as bar:
            while True:
                block = response.read(chunk_size)
                if not block:
                    break
                f.write(block)
                bar.update(len(block))
    size = osp.getsize(part)
    if total is not None and size > total:
        _remove(part)  # inconsistent answers: start over
        return False
    return total is None or size == total


def download_file(url: str,
                  dst: str,
                  sha256: Optional[str] = None,
                  progress: bool = True,
                  max_attempts: int = 3,
                  timeout: float = 60.,
                  chunk_size: int = 1 << 20) -> str:
    """Download ``url`` to ``dst`` through ``dst + '.part'``.

    Args:
        url (str): http(s) URL.
        dst (str): Final file path; written only when complete and verified.
        sha256 (str, optional): Expected hex digest. Defaults to None.
        progress (bool): Show a tqdm progress bar. Defaults to True.
        max_attempts (int): Requests tried before giving up on an
            interrupted transfer (each resumes the previous). Defaults to 3.
        timeout (float): Socket timeout in seconds. Defaults to 60.
        chunk_size (int): Read size in bytes. Defaults to 1 MiB.

    Returns:
        str: ``dst``.
    """
    if not is_url(url):
        raise ValueError(f'Not an http(s) URL: {url!r}')
    os.makedirs(osp.dirname(osp.abspath(dst)), exist_ok=True)
    part = dst + PART_SUFFIX
    source = direct_download_url(url)
    desc = osp.basename(dst)
    for attempt in range(1, max_attempts + 1):
        try:
            if _transfer(source, part, timeout, chunk_size, progress, desc):
                break
            reason = 'the connection closed before the end of the file'
        except DownloadError:
            raise
        except _NETWORK_ERRORS as err:
            reason = f'{type(err).__name__}: {err}'
        kept = osp.getsize(part) if osp.isfile(part) else 0
        if attempt == max_attempts:
            resume = (f'; {kept} bytes are kept in {part} and the next run '
                      'resumes from there' if kept else '')
            raise DownloadError(f'Downloading {url} failed after '
                                f'{max_attempts} attempts ({reason}){resume}.')
        print_log(f'{url}: {reason} after {kept} bytes; retrying '
                  f'({attempt}/{max_attempts}).', logger='current')
    if sha256:
        actual = sha256_file(part)
        if actual != sha256.lower():
            _remove(part)
            raise ChecksumError(
                f'SHA-256 mismatch for {url}: expected {sha256.lower()}, got '
                f'{actual}. The file was deleted.')
    os.replace(part, dst)
    return dst


def load_checkpoint_file(path: str) -> Mapping:
    """Load a checkpoint safely or raise :class:`NotACheckpointError`.

    Args:
        path (str): File to check.

    Returns:
        Mapping: The loaded checkpoint.
    """
    try:
        obj = safe_torch_load(path, map_location='cpu')
    except Exception as err:  # torch raises many types for garbage input
        with open(path, 'rb') as f:
            head = f.read(512).lstrip().lower()
        hint = ''
        if head.startswith((b'<!doctype html', b'<html')):
            hint = (' It is an HTML page: Google Drive answers with one when '
                    'the download quota is exceeded or a confirmation is '
                    'needed. Download the file in a browser and pass its '
                    'path instead of the name.')
        first_line = str(err).strip().splitlines()[0] if str(err) else ''
        raise NotACheckpointError(
            f'{path} is not a loadable PyTorch checkpoint (torch.load with '
            f'weights_only=True failed: {type(err).__name__}: '
            f'{first_line}).{hint}') from None
    if not isinstance(obj, Mapping) or not any(
            isinstance(v, (torch.Tensor, Mapping)) for v in obj.values()):
        raise NotACheckpointError(
            f'{path} loads as {type(obj).__name__} without tensors, not as a '
            'checkpoint.')
    return obj


def _has_dist_weights(checkpoint: Mapping) -> bool:
    state_dict = checkpoint.get('state_dict', checkpoint)
    return isinstance(state_dict, Mapping) and any(
        re.match(r'(module\.)?neck\.', str(k)) for k in state_dict)


def save_converted(checkpoint: Mapping, dst: str,
                   meta: Optional[Dict[str, Any]] = None) -> Dict:
    """Convert an official checkpoint and save it atomically to ``dst``.

    Args:
        checkpoint (Mapping): A loaded official checkpoint.
        dst (str): Output path.
        meta (dict, optional): Extra ``meta`` entries. Defaults to None.

    Returns:
        dict: The conversion report (``dropped`` and ``unused`` keys).
    """
    method, state_dict, report = convert_official_checkpoint(checkpoint)
    if not any(k.startswith('neck.') for k in state_dict):
        raise NotACheckpointError(
            f'The checkpoint has no {OFFICIAL_FORMATS[method].title} neck '
            'weights after conversion.')
    full_meta = dict(
        method=method,
        converter=OFFICIAL_FORMATS[method].converter,
        dropped=list(report['dropped']),
        unused=list(report['unused']))
    full_meta.update(meta or {})
    tmp = dst + PART_SUFFIX
    torch.save(dict(state_dict=state_dict, meta=full_meta), tmp)
    os.replace(tmp, dst)
    return report


def _file_name_from_url(url: str) -> str:
    """A safe local file name for ``url``."""
    path = urllib.parse.urlparse(url).path
    name = osp.basename(urllib.parse.unquote(path))
    name = re.sub(r'[^\w.+-]', '_', name).strip('._')
    if not name or name in ('view', 'download', 'uc'):
        name = 'checkpoint_' + hashlib.sha256(url.encode()).hexdigest()[:12]
    return name if osp.splitext(name)[1] else name + '.pth'


def fetch_checkpoint(source: str,
                     out_dir: Optional[str] = None,
                     sha256: Optional[str] = None,
                     convert: bool = True,
                     progress: bool = True,
                     metafile: Optional[str] = None,
                     max_attempts: int = 3,
                     timeout: float = 60.) -> FetchResult:
    """Get a checkpoint ready for ``tools/test.py``.

    Args:
        source (str): A model-zoo name, an http(s) URL or a local file.
        out_dir (str, optional): Cache folder. Defaults to None
            (:func:`default_cache_dir`).
        sha256 (str, optional): Expected digest; overrides the model zoo's.
            Defaults to None.
        convert (bool): Convert official layouts. Defaults to True.
        progress (bool): Show a progress bar. Defaults to True.
        metafile (str, optional): Model-zoo metafile. Defaults to None.
        max_attempts (int): See :func:`download_file`. Defaults to 3.
        timeout (float): See :func:`download_file`. Defaults to 60.

    Returns:
        FetchResult: The paths and digest.
    """
    out_dir = out_dir or default_cache_dir()
    entry = None
    if sha256 is not None:
        sha256 = sha256.strip().lower()
        if not re.fullmatch(r'[0-9a-f]{64}', sha256):
            raise ValueError(f'--sha256 must be 64 hex digits, got {sha256!r}')
    if osp.isfile(source):
        path = source
        digest = sha256_file(path)
        if sha256 and digest != sha256:
            raise ChecksumError(f'SHA-256 mismatch for {path}: expected '
                                f'{sha256}, got {digest}.')
    else:
        if is_url(source):
            url, name = source, _file_name_from_url(source)
        else:
            entry = resolve_model(source, metafile)
            url, name = entry.url, entry.name + '.pth'
            sha256 = sha256 or entry.sha256
        path = osp.join(out_dir, name)
        if osp.isfile(path) and sha256 and sha256_file(path) != sha256:
            print_log(f'{path} does not match the expected SHA-256; '
                      'downloading it again.', logger='current')
            _remove(path)
        if osp.isfile(path):
            print_log(f'Using the cached {path}.', logger='current')
        else:
            download_file(url, path, sha256, progress, max_attempts, timeout)
        digest = sha256_file(path)
    try:
        checkpoint = load_checkpoint_file(path)
    except NotACheckpointError:
        if path != source:  # never delete a user's own file
            _remove(path)
        raise
    if not (convert and detect_official_method(checkpoint)):
        if not _has_dist_weights(checkpoint):
            print_log(f'{path} holds no DiST (neck.*) weights.',
                      logger='current', level=30)
        return FetchResult(path, path, digest, False, entry)
    stem = osp.splitext(osp.basename(path))[0]
    target_dir = out_dir if path == source else osp.dirname(path)
    converted = osp.join(target_dir, stem + CONVERTED_SUFFIX + '.pth')
    os.makedirs(target_dir, exist_ok=True)
    report = save_converted(
        checkpoint, converted,
        dict(converted_from=osp.basename(path), source_sha256=digest))
    print_log(
        f'Converted the official layout to {converted} '
        f'({len(report["dropped"])} unused official tensors dropped, '
        f'{len(report["unused"])} unknown keys ignored).', logger='current')
    return FetchResult(converted, path, digest, True, entry)
