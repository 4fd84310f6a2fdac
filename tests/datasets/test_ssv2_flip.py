"""FlipWithLabelSwap: horizontal flip that relabels mirrored SSv2 classes."""
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from dist_plugin.datasets.transforms.ssv2_flip import (FlipWithLabelSwap,
                                                       build_mirror_label_map,
                                                       load_class_names,
                                                       mirror_class_name)

# shared material lies at ../shared beside the checkout
# The package's copy of ../shared/data/labels (tests stay self-contained).
LABELS = Path(__file__).resolve().parents[2] / 'dist_plugin' / 'label_maps'
SSV2_TXT = LABELS / 'sthv2_label_map.txt'
SSV2_JSON = LABELS / 'official_dist_ssv2_labels.json'

# 0-based lines of sthv2_label_map.txt
SSV2_PAIRS = {
    86: 87,  # Pulling something from left to right <-> right to left
    87: 86,
    93: 94,  # Pushing something from left to right <-> right to left
    94: 93,
    166: 167,  # Turning the camera left <-> right while filming something
    167: 166,
}

def test_ssv2_mirror_pairs_exact():
    names = load_class_names(str(SSV2_TXT))
    assert len(names) == 174
    assert names[93] == 'Pushing something from left to right'
    assert names[94] == 'Pushing something from right to left'
    label_map = build_mirror_label_map(str(SSV2_TXT))
    assert label_map == SSV2_PAIRS
    # 'right' as another word, or inside 'upright', has no mirror
    for idx in (21, 50, 117, 119):
        assert 'right' in names[idx].lower()
        assert idx not in label_map
    # the official DiST json ({name: "index"}) gives the same map
    assert build_mirror_label_map(str(SSV2_JSON)) == SSV2_PAIRS


def test_mirror_class_name_whole_words_and_case():
    assert mirror_class_name('Left hand waves right') == (
        'Right hand waves left')
    assert mirror_class_name('Putting something upright') == (
        'Putting something upright')
    assert mirror_class_name('Moving up', (('up', 'down'), )) == 'Moving down'
    assert mirror_class_name('Moving up', ()) == 'Moving up'


def test_label_map_from_list_and_vertical_words():
    names = ['Moving something up', 'Moving something down', 'Jumping',
             'Turning left', 'Turning right']
    assert build_mirror_label_map(names) == {3: 4, 4: 3}
    assert build_mirror_label_map(names, (('up', 'down'), )) == {0: 1, 1: 0}
    with pytest.raises(ValueError):
        build_mirror_label_map(['a', 'A'])


def test_json_label_file_with_gaps_is_rejected(tmp_path):
    path = tmp_path / 'labels.json'
    path.write_text(json.dumps({'go left': '0', 'go right': '2'}))
    with pytest.raises(ValueError):
        load_class_names(str(path))
    path.write_text(json.dumps(['go left', 'stay', 'go right']))
    assert build_mirror_label_map(str(path)) == {0: 2, 2: 0}


def _results(label, num_frames=3, height=4, width=5, seed=0):
    rng = np.random.default_rng(seed)
    imgs = [
        rng.integers(0, 256, (height, width, 3)).astype(np.uint8)
        for _ in range(num_frames)
    ]
    return dict(
        imgs=imgs,
        img_shape=(height, width),
        modality='RGB',
        label=label)


@pytest.mark.parametrize('label,expected', [(93, 94), (94, 93), (86, 87),
                                            (167, 166), (5, 5), (50, 50),
                                            (-1, -1)])
def test_flip_swaps_label_and_mirrors_frames(label, expected):
    flip = FlipWithLabelSwap(class_names=str(SSV2_TXT), flip_ratio=1.0)
    results = _results(label)
    original = [img.copy() for img in results['imgs']]
    out = flip(results)
    assert out['flip']
    assert out['flip_direction'] == 'horizontal'
    assert out['label'] == expected
    assert isinstance(out['label'], int)
    for got, img in zip(out['imgs'], original):
        np.testing.assert_array_equal(got, img[:, ::-1])


def test_no_flip_keeps_label_and_frames():
    flip = FlipWithLabelSwap(class_names=str(SSV2_TXT), flip_ratio=0.0)
    results = _results(np.int64(93))
    original = [img.copy() for img in results['imgs']]
    out = flip(results)
    assert not out['flip']
    assert out['label'] == 93
    for got, img in zip(out['imgs'], original):
        np.testing.assert_array_equal(got, img)


def test_flip_ratio_half_relabels_exactly_the_flipped():
    names = ['slide left', 'slide right', 'spin']
    flip = FlipWithLabelSwap(class_names=names, flip_ratio=0.5)
    np.random.seed(0)
    flipped = 0
    for trial in range(60):
        out = flip(_results(0, seed=trial))
        assert out['label'] == (1 if out['flip'] else 0)
        flipped += int(out['flip'])
    assert 15 < flipped < 45


def test_one_hot_label_is_permuted_and_lazy_mode():
    names = ['slide left', 'spin', 'slide right']
    flip = FlipWithLabelSwap(class_names=names, flip_ratio=1.0)
    out = flip(_results(torch.tensor([1., 0., 0.])))
    assert out['label'].tolist() == [0., 0., 1.]
    out = flip(_results(torch.tensor([0., 1., 0.5])))
    assert out['label'].tolist() == [0.5, 1., 0.]

    lazy = FlipWithLabelSwap(class_names=names, flip_ratio=1.0, lazy=True)
    results = _results(0)
    original = [img.copy() for img in results['imgs']]
    out = lazy(results)
    assert out['label'] == 2
    assert out['lazy']['flip'] is True
    for got, img in zip(out['imgs'], original):  # frames left for Fuse
        np.testing.assert_array_equal(got, img)
    with pytest.raises(TypeError):
        flip(_results([0, 2]))


def test_registered_in_mmaction_transforms():
    from mmaction.registry import TRANSFORMS
    flip = TRANSFORMS.build(
        dict(
            type='FlipWithLabelSwap',
            class_names=['a to the left', 'a to the right'],
            flip_ratio=1.0))
    assert isinstance(flip, FlipWithLabelSwap)
    assert flip.label_map == {0: 1, 1: 0}
    assert flip(_results(1))['label'] == 0
