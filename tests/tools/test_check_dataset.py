"""tools/check_dataset.py on real broken files written by the test."""
import importlib.util
import json
import os.path as osp
import subprocess
import sys

import av
import numpy as np
import pytest
from helpers.video import write_video

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
TOOL = osp.join(REPO, 'tools', 'check_dataset.py')


def _load_tool():
    spec = importlib.util.spec_from_file_location('check_dataset_tool', TOOL)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # lets the pool pickle probe_video
    spec.loader.exec_module(module)
    return module


tool = _load_tool()


def _faststart_copy(src: str, dst: str) -> None:
    """Remux ``src`` with the index (moov) before the data (mdat)."""
    with av.open(src) as inp, av.open(
            dst, 'w', options={'movflags': 'faststart'}) as out:
        stream = out.add_stream_from_template(inp.streams.video[0])
        for packet in inp.demux(inp.streams.video[0]):
            if packet.dts is None:
                continue
            packet.stream = stream
            out.mux(packet)


def _frames(num_frames: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (num_frames, 32, 32, 3), dtype=np.uint8)


@pytest.fixture(scope='module')
def broken_dataset(tmp_path_factory):
    """A list mixing good videos with every kind of problem."""
    root = tmp_path_factory.mktemp('check_dataset')
    videos = root / 'videos'
    videos.mkdir()
    for i in range(3):
        write_video(str(videos / f'good{i}.mp4'), _frames(16, i), fps=8)
    write_video(str(videos / 'short.mp4'), _frames(4, 9), fps=8)
    write_video(str(root / 'src.mp4'), _frames(48, 7), fps=8)
    data = (root / 'src.mp4').read_bytes()
    # Index at the end: cut -> no index at all.
    (videos / 'trunc_tail.mp4').write_bytes(data[:len(data) // 2])
    # Index at the start: cut -> index present, last frames missing.
    _faststart_copy(str(root / 'src.mp4'), str(root / 'fs.mp4'))
    data = (root / 'fs.mp4').read_bytes()
    (videos / 'trunc_fast.mp4').write_bytes(data[:int(len(data) * 0.8)])
    (videos / 'empty.mp4').write_bytes(b'')
    (videos / 'text.mp4').write_text('just text, renamed to .mp4\n')
    lines = [
        'good0.mp4 0',  # 1
        'good1.mp4 1',  # 2
        'short.mp4 2',  # 3
        'trunc_tail.mp4 0',  # 4
        'trunc_fast.mp4 1',  # 5
        'empty.mp4 2',  # 6
        'text.mp4 0',  # 7
        'missing.mp4 1',  # 8
        'good2.mp4 3',  # 9: label out of range for 3 classes
        'good2.mp4 two',  # 10: malformed
        'good2.mp4 2',  # 11
    ]
    ann = root / 'ann.txt'
    ann.write_text('\n'.join(lines) + '\n')
    return dict(root=root, ann=str(ann), videos=str(videos))


EXPECTED = [
    (3, 'too_short', 'short.mp4'),
    (4, 'unreadable', 'trunc_tail.mp4'),
    (5, 'unreadable', 'trunc_fast.mp4'),
    (6, 'empty', 'empty.mp4'),
    (7, 'unreadable', 'text.mp4'),
    (8, 'missing', 'missing.mp4'),
    (9, 'label_range', None),
    (10, 'malformed', None),
]


def test_cli_reports_every_problem_and_exits_1(broken_dataset):
    out = broken_dataset['root'] / 'report.json'
    proc = subprocess.run(
        [sys.executable, TOOL, broken_dataset['ann'], '--data-prefix',
         broken_dataset['videos'], '--out', str(out), '--workers', '2',
         '--num-classes', '3', '--min-frames', '8'],
        capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1, proc.stderr
    assert 'checking videos' in proc.stderr  # the tqdm bar
    report = json.loads(out.read_text())
    assert [(p['line'], p['kind'], p['filename'])
            for p in report['problems']] == EXPECTED
    assert report['counts'] == dict(malformed=1, label_range=1, missing=1,
                                    empty=1, unreadable=3, too_short=1)
    assert report['num_lines'] == 11
    assert report['num_videos_checked'] == 9
    assert report['num_ok'] == 3
    assert report['min_num_frames'] == 4
    by_line = {p['line']: p for p in report['problems']}
    assert by_line[3]['detail'] == '4 frames < --min-frames 8'
    assert 'out of range' in by_line[9]['detail']
    assert 'line 8: [missing] missing.mp4' in proc.stdout


@pytest.mark.parametrize('backend, decode', [('pyav', 'all'),
                                             ('opencv', 'all'),
                                             ('decord', 'all')])
def test_backends_agree(broken_dataset, backend, decode):
    out = broken_dataset['root'] / f'report_{backend}.json'
    code = tool.main([
        broken_dataset['ann'], '--data-prefix', broken_dataset['videos'],
        '--num-classes', '3', '--min-frames', '8', '--backend', backend,
        '--decode', decode, '--out', str(out), '--no-progress'
    ])
    assert code == 1
    report = json.loads(out.read_text())
    assert [(p['line'], p['kind'], p['filename'])
            for p in report['problems']] == EXPECTED


def test_clean_list_exits_0(broken_dataset, tmp_path):
    ann = tmp_path / 'clean.txt'
    ann.write_text('good0.mp4 0\ngood1.mp4 1\n\ngood2.mp4 2\n')
    out = tmp_path / 'sub' / 'report.json'
    code = tool.main([
        str(ann), '--data-prefix', broken_dataset['videos'], '--out',
        str(out), '--num-classes', '3', '--min-frames', '16',
        '--workers', '2', '--no-progress'
    ])
    assert code == 0
    report = json.loads(out.read_text())
    assert report['num_problems'] == 0
    assert report['num_ok'] == 3
    assert report['min_num_frames'] == 16
    assert report['problems'] == []
