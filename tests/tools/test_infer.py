"""tools/infer.py on a real Kinetics clip and generated videos, with a tiny
DiST written to tmp_path: top-k JSON, the picture, zero-shot labels, and
agreement with mmaction's inference_recognizer."""
import importlib.util
import json
import os.path as osp
import shutil
import subprocess
import sys

import numpy as np
import pytest
import torch
from helpers.tiny_models import tiny_dist_model
from helpers.video import make_motion_video, make_random_video
from matplotlib.image import imread
from mmaction.apis import inference_recognizer
from mmaction.registry import MODELS
from mmengine.config import Config
from PIL import Image

from dist_plugin.apis import (config_class_names, init_dist_recognizer,
                              predict_video, prepare_config)

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
REAL_VIDEO = osp.join(REPO, 'tests', 'data', 'videos',
                      'kinetics_arm_wrestling.mp4')
CONFIG_CLASSES = ['arm wrestling', 'juggling balls', 'swimming']
LABELS = ['arm wrestling', 'playing chess', 'surfing water',
          'juggling balls', 'dancing ballet']


def _load_tool(name):
    spec = importlib.util.spec_from_file_location(
        name, osp.join(REPO, 'tools', name + '.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope='module')
def tiny(tmp_path_factory):
    """A tiny DiST config file and a checkpoint saved from its model."""
    root = tmp_path_factory.mktemp('infer')
    model_cfg = tiny_dist_model(
        num_classes=len(CONFIG_CLASSES), class_names=CONFIG_CLASSES)
    test_pipeline = [
        dict(type='DecordInit'),
        dict(type='UniformSample', clip_len=8, num_clips=2, test_mode=True),
        dict(type='DecordDecode'),
        dict(type='Resize', scale=(32, 32), keep_ratio=False),
        dict(type='FormatShape', input_format='NCTHW'),
        dict(type='PackActionInputs')
    ]
    config = str(root / 'tiny_dist.py')
    Config(
        dict(
            default_scope='mmaction',
            custom_imports=dict(imports=['dist_plugin']),
            model=model_cfg,
            test_pipeline=test_pipeline)).dump(config)
    torch.manual_seed(0)
    model = MODELS.build(model_cfg)
    checkpoint = str(root / 'tiny_dist.pth')
    torch.save(dict(state_dict=model.state_dict(), meta=dict()), checkpoint)
    videos = root / 'videos'
    videos.mkdir()
    make_motion_video(str(videos / 'left.mp4'), label=0, num_frames=16)
    make_random_video(str(videos / 'sub' / 'noise.avi'), num_frames=12,
                      height=48, width=64)
    (videos / 'notes.txt').write_text('not a video')
    return dict(root=root, config=config, checkpoint=checkpoint,
                videos=str(videos))


def test_real_video_zero_shot_labels_json_and_picture(tiny, tmp_path, capsys):
    out_json = tmp_path / 'pred.json'
    out_image = tmp_path / 'pred.png'
    tool = _load_tool('infer')
    code = tool.main([
        REAL_VIDEO, tiny['config'], tiny['checkpoint'], '--labels',
        ','.join(LABELS), '--topk', '3', '--out-json',
        str(out_json), '--out-image',
        str(out_image), '--device', 'cpu'
    ])
    assert code == 0
    report = json.loads(out_json.read_text())
    assert report['class_names'] == LABELS
    (result, ) = report['results']
    assert result['video'] == REAL_VIDEO
    assert result['num_classes'] == len(LABELS)
    topk = result['topk']
    scores = [entry['score'] for entry in topk]
    assert len(topk) == 3
    assert scores == sorted(scores, reverse=True)
    assert all(0 <= s <= 1 for s in scores) and sum(scores) <= 1 + 1e-6
    assert len({entry['index'] for entry in topk}) == 3
    for entry in topk:
        assert entry['label'] == LABELS[entry['index']]
    printed = capsys.readouterr().out
    assert f'1. {topk[0]["label"]}  {scores[0]:.4f}' in printed

    # Strip of 8 frames above a 3-bar chart: a wide RGBA PNG.
    with Image.open(out_image) as image:
        assert image.format == 'PNG'
        width, height = image.size
    assert width >= 8 * 100 and height >= 200
    pixels = imread(str(out_image))
    assert pixels.shape[:2] == (height, width)
    assert float(pixels[..., :3].std()) > 0.05  # not a blank canvas

    # mmaction's own inference_recognizer gives the same scores.
    model = init_dist_recognizer(
        tiny['config'], tiny['checkpoint'], class_names=LABELS)
    assert model.cls_head.num_classes == len(LABELS)
    probs = inference_recognizer(model, REAL_VIDEO).pred_score
    assert probs.shape == (len(LABELS), )
    torch.testing.assert_close(probs.sum(), torch.tensor(1.), atol=1e-5,
                               rtol=0)
    expected, indices = probs.topk(3)
    assert [e['index'] for e in topk] == indices.tolist()
    np.testing.assert_allclose(scores, expected.numpy(), rtol=1e-5,
                               atol=1e-6)


def test_folder_with_config_classes(tiny, tmp_path):
    out_json = tmp_path / 'folder.json'
    out_dir = tmp_path / 'pictures'
    shutil.copy(REAL_VIDEO, osp.join(tiny['videos'], 'real.mp4'))
    tool = _load_tool('infer')
    code = tool.main([
        tiny['videos'], tiny['config'], tiny['checkpoint'], '--out-json',
        str(out_json), '--out-image',
        str(out_dir), '--device', 'cpu', '--num-frames-shown', '4'
    ])
    assert code == 0
    report = json.loads(out_json.read_text())
    videos = [r['video'] for r in report['results']]
    assert [osp.relpath(v, tiny['videos']) for v in videos] == [
        'left.mp4', 'real.mp4', osp.join('sub', 'noise.avi')
    ]
    assert report['class_names'] == CONFIG_CLASSES
    model = init_dist_recognizer(tiny['config'], tiny['checkpoint'])
    for result in report['results']:
        # topk 5 > 3 classes: every class, probabilities summing to 1
        assert [e['label'] for e in result['topk']] == [
            CONFIG_CLASSES[e['index']] for e in result['topk']
        ]
        assert sorted(e['index'] for e in result['topk']) == [0, 1, 2]
        total = sum(e['score'] for e in result['topk'])
        assert abs(total - 1) < 1e-5
        again = predict_video(model, result['video'], topk=3)
        np.testing.assert_allclose(
            [e['score'] for e in again['topk']],
            [e['score'] for e in result['topk']], rtol=1e-5, atol=1e-6)
    assert sorted(p.name for p in out_dir.iterdir()) == [
        'left.png', 'real.png', 'sub__noise.png'
    ]
    with Image.open(out_dir / 'left.png') as image:
        assert image.size[0] >= 6 * 100  # 4 frames, at least 6 inches


def test_cli_runs_as_a_script(tiny, tmp_path):
    out_json = tmp_path / 'cli.json'
    result = subprocess.run(
        [
            sys.executable,
            osp.join(REPO, 'tools', 'infer.py'), REAL_VIDEO, tiny['config'],
            tiny['checkpoint'], '--labels', 'arm wrestling,swimming',
            '--topk', '1', '--out-json',
            str(out_json)
        ],
        capture_output=True,
        text=True,
        cwd=str(tmp_path))
    assert result.returncode == 0, result.stderr
    (entry, ) = json.loads(out_json.read_text())['results'][0]['topk']
    assert entry['label'] in ('arm wrestling', 'swimming')
    assert f'1. {entry["label"]}  {entry["score"]:.4f}' in result.stdout


def test_labels_of_a_linear_head_are_display_names_of_its_classes(tiny):
    cfg = Config.fromfile(tiny['config'])
    cfg.model.cls_head = dict(type='DiSTLinearHead', num_classes=3,
                              in_channels=32)
    # 5 names for 3 fixed classes: refused, saying why
    with pytest.raises(ValueError, match='3 fixed classes.*CLIPTextHead'):
        prepare_config(cfg, class_names=LABELS)
    # 3 names: display names; the head is unchanged
    prepared = prepare_config(cfg, class_names='x,y,z')
    assert prepared.model.cls_head == cfg.model.cls_head
    assert config_class_names(prepared, 'x,y,z') == ['x', 'y', 'z']
    prepared = prepare_config(tiny['config'], class_names='a,b')
    assert prepared.model.cls_head.class_names == ['a', 'b']
    assert prepared.model.cls_head.num_classes == 2


def test_linear_head_shows_the_config_class_names(tmp_path, monkeypatch):
    """The demo's linear head: names from `class_names_file`, in the JSON
    and on the picture (the bar labels), read from the working folder."""
    monkeypatch.chdir(tmp_path)
    names = ['left to right', 'right to left', 'top to bottom']
    (tmp_path / 'data').mkdir()
    (tmp_path / 'data' / 'classnames.txt').write_text('\n'.join(names))
    model_cfg = tiny_dist_model(num_classes=3)
    model_cfg['cls_head'] = dict(type='DiSTLinearHead', num_classes=3,
                                 in_channels=32, average_clips='prob')
    pipeline = [
        dict(type='DecordInit'),
        dict(type='UniformSample', clip_len=8, num_clips=1, test_mode=True),
        dict(type='DecordDecode'),
        dict(type='Resize', scale=(32, 32), keep_ratio=False),
        dict(type='FormatShape', input_format='NCTHW'),
        dict(type='PackActionInputs')
    ]
    config = str(tmp_path / 'linear.py')
    Config(dict(default_scope='mmaction', model=model_cfg,
                class_names_file='data/classnames.txt',
                test_pipeline=pipeline)).dump(config)
    checkpoint = str(tmp_path / 'linear.pth')
    torch.save(dict(state_dict=MODELS.build(model_cfg).state_dict()),
               checkpoint)
    tool = _load_tool('infer')
    out_json, out_png = tmp_path / 'pred.json', tmp_path / 'pred.png'
    assert tool.main([REAL_VIDEO, config, checkpoint, '--topk', '3',
                      '--out-json', str(out_json), '--out-image',
                      str(out_png)]) == 0
    report = json.loads(out_json.read_text())
    assert report['class_names'] == names
    topk = report['results'][0]['topk']
    assert sorted(e['label'] for e in topk) == sorted(names)
    assert all(e['label'] == names[e['index']] for e in topk)
    assert imread(str(out_png)).shape[0] > 0
    # a class-name file that is not there: an error naming the key
    (tmp_path / 'data' / 'classnames.txt').unlink()
    with pytest.raises(FileNotFoundError, match='class_names_file'):
        config_class_names(Config.fromfile(config))
    # names of the dataset's metainfo, when the config gives no file
    cfg = Config.fromfile(config)
    cfg.pop('class_names_file')
    cfg.test_dataloader = dict(dataset=dict(metainfo=dict(classes=names)))
    assert config_class_names(cfg) == names


def test_missing_video_is_an_error(tiny, tmp_path, capsys):
    tool = _load_tool('infer')
    code = tool.main([
        str(tmp_path / 'nothing.mp4'), tiny['config'], tiny['checkpoint']
    ])
    assert code == 1
    assert 'neither a file nor a folder' in capsys.readouterr().err


def test_checkpoint_that_does_not_fit_is_refused(tiny, tmp_path, capsys):
    state = torch.load(tiny['checkpoint'], weights_only=True)['state_dict']
    state.pop('neck.proj')
    state['neck.extra'] = torch.zeros(1)
    broken = str(tmp_path / 'broken.pth')
    torch.save(dict(state_dict=state), broken)
    tool = _load_tool('infer')
    assert tool.main([REAL_VIDEO, tiny['config'], broken]) == 1
    err = capsys.readouterr().err
    assert "1 missing key(s): ['neck.proj']" in err
    assert "1 unexpected key(s): ['neck.extra']" in err
