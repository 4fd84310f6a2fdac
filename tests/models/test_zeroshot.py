"""Zero-shot / open vocabulary: the configs, the class lists, replacing the
classes of a trained checkpoint, and filtering annotation lists."""
import copy
import glob
import importlib.util
import os.path as osp

import open_clip
import pytest
import torch
from helpers.tiny_models import TINY_CLIP, tiny_dist_model
from mmaction.registry import MODELS
from mmengine.config import Config

from dist_plugin.apis import (K400_TO_K600_RENAMES, filter_annotations,
                              humanize_class_name, kinetics600_new_classes,
                              load_dist_checkpoint, zeroshot_class_file,
                              zeroshot_class_lists)
from dist_plugin.models.heads.class_names import load_class_names

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
ZEROSHOT_CONFIGS = sorted(
    glob.glob(osp.join(REPO, 'configs', 'zeroshot', 'dist_*.py')))
K400_CONFIG = ('dist_vit-b16_clip-openai-pre_8xb32-u16-a2_36e_'
               'kinetics400-rgb.py')
EXPECTED = {  # dataset tag in the config name -> (classes, annotation list)
    'ucf101-split1': (101, 'data/ucf101/ucf101_val_split_1_videos.txt'),
    'hmdb51-split1': (51, 'data/hmdb51/hmdb51_val_split_1_videos.txt'),
    'kinetics600-new':
    (221, 'data/kinetics600/kinetics600_new_classes_val_list_videos.txt'),
}
VIDEO_SHAPE = (2, 1, 3, 8, 32, 32)  # [N, V, C, T, H, W]


def _tag(path):
    return osp.basename(path).split('_')[-1][:-len('-rgb.py')]


def _tiny_like(cfg_model, num_classes, class_names):
    """A tiny DiST with the zero-shot head and neck settings of a config."""
    model = tiny_dist_model(num_classes=num_classes, class_names=class_names)
    head = cfg_model['cls_head']
    model['cls_head'].update(
        templates=list(head['templates']),
        fusion_weight=head['fusion_weight'])
    model['neck']['with_frame_embedding'] = \
        cfg_model['neck']['with_frame_embedding']
    return model


def _hand_logits(model, names, templates, video, fusion_weight):
    """exp(logit_scale) * cosine against freshly embedded prompts."""
    clip = model.cls_head.clip
    tokenizer = open_clip.SimpleTokenizer(
        context_length=TINY_CLIP['text_cfg']['context_length'])
    with torch.no_grad():
        text = []
        for name in names:
            feats = clip.encode_text(
                tokenizer([t.format(name) for t in templates]))
            feats = feats / feats.norm(dim=-1, keepdim=True)
            mean = feats.mean(dim=0)
            text.append(mean / mean.norm())
        text = torch.stack(text)  # [K, E]
        feats = model.backbone(video.flatten(0, 1))
        model.neck.with_frame_embedding = True
        (video_embed, frame_embed), _ = model.neck(feats)
    scale = clip.logit_scale.exp()

    def cosine(embed):
        return scale * (embed / embed.norm(dim=1, keepdim=True)) @ text.t()

    return ((1 - fusion_weight) * cosine(video_embed) +
            fusion_weight * cosine(frame_embed))


def test_there_is_one_config_per_target():
    assert sorted(_tag(p) for p in ZEROSHOT_CONFIGS) == sorted(EXPECTED)


@pytest.mark.parametrize('path', ZEROSHOT_CONFIGS, ids=_tag)
def test_zeroshot_config(path):
    cfg = Config.fromfile(path)
    num_classes, ann_file = EXPECTED[_tag(path)]
    head = cfg.model.cls_head
    names = load_class_names(head.class_names)
    assert len(names) == head.num_classes == num_classes
    assert len(set(names)) == num_classes
    assert cfg.test_dataloader.dataset.num_classes == num_classes
    assert cfg.test_dataloader.dataset.ann_file == ann_file
    assert head.fusion_weight == 0.5
    assert cfg.model.neck.with_frame_embedding is True
    assert len(head.templates) >= 3 and '{}' in head.templates
    assert all(t.count('{}') == 1 for t in head.templates)
    # Only the class list changed: the K400 DiST ViT-B/16 8+16 model.
    base = Config.fromfile(osp.join(REPO, 'configs', 'dist', K400_CONFIG))
    assert cfg.model.backbone == base.model.backbone
    stripped = copy.deepcopy(cfg.model.neck)
    stripped.pop('with_frame_embedding')
    assert stripped == base.model.neck
    assert head.arch == base.model.cls_head.arch == 'ViT-B-16'
    assert cfg.test_pipeline == base.test_pipeline
    assert cfg.model.data_preprocessor.blending is None
    assert cfg.train_dataloader is None and cfg.optim_wrapper is None
    assert cfg.val_dataloader is None and cfg.test_cfg == base.test_cfg

    # The same head settings on a tiny DiST: K logits = fused cosines.
    model = MODELS.build(_tiny_like(cfg.model, num_classes, names)).eval()
    assert model.cls_head.templates == list(head.templates)
    torch.manual_seed(0)
    video = torch.rand(VIDEO_SHAPE) * 255
    with torch.no_grad():
        logits = model(video, mode='tensor', stage='head')
    assert logits.shape == (VIDEO_SHAPE[0], num_classes)
    head_module = model.cls_head
    with torch.no_grad():
        feats, _ = model.extract_feat(video, stage='neck')
        video_embed, frame_embed = feats
        expected = 0.5 * head_module.cosine_logits(video_embed) + \
            0.5 * head_module.cosine_logits(frame_embed)
    torch.testing.assert_close(logits, expected)


@pytest.mark.parametrize('fusion_weight', [0., 0.5])
def test_trained_checkpoint_takes_a_new_class_list(tmp_path, fusion_weight):
    torch.manual_seed(1)
    trained = MODELS.build(tiny_dist_model(num_classes=3))
    checkpoint = str(tmp_path / 'trained.pth')
    torch.save(dict(state_dict=trained.state_dict()), checkpoint)

    names = ['juggling balls', 'playing chess', 'surfing water', 'archery']
    templates = ['{}', 'a video of a person {}.']
    cfg = tiny_dist_model(num_classes=len(names), class_names=names)
    cfg['cls_head'].update(templates=templates, fusion_weight=fusion_weight)
    cfg['neck']['with_frame_embedding'] = fusion_weight > 0
    torch.manual_seed(2)  # other random weights, replaced by the checkpoint
    model = MODELS.build(cfg).eval()
    load_dist_checkpoint(model, checkpoint, strict=True)
    for key, value in trained.state_dict().items():
        assert torch.equal(model.state_dict()[key], value), key

    video = torch.rand(VIDEO_SHAPE) * 255
    with torch.no_grad():
        logits = model(video, mode='tensor', stage='head')
    expected = _hand_logits(model, names, templates, video, fusion_weight)
    assert logits.shape == (VIDEO_SHAPE[0], len(names))
    torch.testing.assert_close(logits, expected, atol=1e-5, rtol=1e-5)

    # set_classes() swaps the list again on the loaded model.
    model.cls_head.num_classes = 2
    model.cls_head.set_classes(['archery', 'juggling balls'])
    with torch.no_grad():
        swapped = model(video, mode='tensor', stage='head')
    torch.testing.assert_close(swapped, expected[:, [3, 0]], atol=1e-5,
                               rtol=1e-5)


def test_kinetics600_new_classes():
    new = kinetics600_new_classes()
    k400 = set(load_class_names('kinetics400'))
    k600 = load_class_names('kinetics600')
    exact = [n for n in k600 if n not in k400]
    assert len(exact) == 232 and len(new) == 221
    assert sorted(set(exact) - set(new)) == sorted(
        K400_TO_K600_RENAMES.values())
    assert set(K400_TO_K600_RENAMES) <= k400
    assert 'dyeing hair' not in new and 'acting in play' in new
    assert new == [n for n in k600 if n in set(new)]  # K600 order
    assert load_class_names(zeroshot_class_file('kinetics600_new')) == new


def test_shipped_class_lists_are_current():
    for key, names in zeroshot_class_lists().items():
        assert load_class_names(zeroshot_class_file(key)) == names, key
    assert humanize_class_name('ApplyEyeMakeup') == 'apply eye makeup'
    assert humanize_class_name('YoYo') == 'yo yo'
    assert humanize_class_name('fall_floor') == 'fall floor'
    assert humanize_class_name('passing American football (in game)') == \
        'passing American football (in game)'
    ucf = load_class_names(zeroshot_class_file('ucf101'))
    assert len(ucf) == 101 and ucf[0] == 'apply eye makeup'


def test_filter_annotations_relabels(tmp_path):
    k600 = load_class_names('kinetics600')
    new = kinetics600_new_classes()
    picks = ['abseiling', 'acting in play', 'dyeing hair', 'zumba',
             'yarn spinning', 'arguing']
    lines = [f'{n.replace(" ", "_")}/{i}.mp4 {k600.index(n)}'
             for i, n in enumerate(picks)]
    ann = tmp_path / 'k600_val.txt'
    ann.write_text('\n'.join(lines) + '\n\n')
    out = tmp_path / 'out' / 'new.txt'
    kept, dropped = filter_annotations(
        str(ann), str(out), 'kinetics600',
        zeroshot_class_file('kinetics600_new'))
    kept_names = [n for n in picks if n in new]
    assert (kept, dropped) == (len(kept_names), len(picks) - len(kept_names))
    assert 'abseiling' not in kept_names and 'dyeing hair' not in kept_names
    result = [line.split() for line in out.read_text().splitlines()]
    assert result == [[f'{n.replace(" ", "_")}/{picks.index(n)}.mp4',
                       str(new.index(n))] for n in kept_names]

    ann.write_text('video.mp4 600\n')
    with pytest.raises(ValueError, match='k600_val.txt:1'):
        filter_annotations(str(ann), str(out), 'kinetics600', new)


def test_zeroshot_classifier_cli(tmp_path, capsys):
    spec = importlib.util.spec_from_file_location(
        'zeroshot_classifier',
        osp.join(REPO, 'tools', 'zeroshot_classifier.py'))
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    assert tool.main(['names', '--out-dir', str(tmp_path)]) == 0
    assert 'kinetics600_new: 221 classes' in capsys.readouterr().out
    for key in ('ucf101', 'hmdb51', 'kinetics600_new'):
        written = tmp_path / osp.basename(zeroshot_class_file(key))
        assert written.read_text() == open(zeroshot_class_file(key)).read()
    ann = tmp_path / 'val.txt'
    k600 = load_class_names('kinetics600')
    ann.write_text(f'a.mp4 {k600.index("arguing")}\n'
                   f'b.mp4 {k600.index("zumba")}\n')  # zumba is in K400
    out = tmp_path / 'val_new.txt'
    assert tool.main(['filter', str(ann), str(out)]) == 0
    assert out.read_text() == \
        f'a.mp4 {kinetics600_new_classes().index("arguing")}\n'
