"""Flip that also swaps direction-dependent labels (Something-Something V2).

A horizontally flipped clip of "Pushing something from left to right" shows
"Pushing something from right to left". ``FlipWithLabelSwap`` builds the
label map of such mirrored class pairs from the class names and hands it to
mmaction2's ``Flip`` (its ``flip_label_map``).
"""
import re
from typing import Dict, Sequence, Tuple

import numpy as np
from mmaction.datasets.transforms import Flip
from mmaction.registry import TRANSFORMS

from dist_plugin.models.heads.class_names import (ClassNames,
                                                  load_class_names)

WordPairs = Sequence[Tuple[str, str]]


def mirror_class_name(name: str,
                      word_pairs: WordPairs = (('left', 'right'), )) -> str:
    """Swap each whole word of ``word_pairs`` with its partner.

    Matching is case-insensitive on whole words ("upright" is left alone)
    and keeps the case of the first letter.

    Args:
        name (str): Class name.
        word_pairs (Sequence[tuple[str, str]]): Words that trade places.
            Defaults to ``(('left', 'right'),)``.

    Returns:
        str: The mirrored name (``name`` itself when no word matches).
    """
    partner = {}
    for first, second in word_pairs:
        partner[first.lower()] = second.lower()
        partner[second.lower()] = first.lower()
    if not partner:
        return name
    pattern = re.compile(
        r'\b(' + '|'.join(re.escape(word) for word in partner) + r')\b',
        flags=re.IGNORECASE)

    def _swap(match: re.Match) -> str:
        word = match.group(0)
        new = partner[word.lower()]
        return new.capitalize() if word[0].isupper() else new

    return pattern.sub(_swap, name)


def build_mirror_label_map(
        class_names: ClassNames,
        word_pairs: WordPairs = (('left', 'right'), )) -> Dict[int, int]:
    """Map each label to the label of its mirrored class.

    A class is in the map when swapping its ``word_pairs`` words gives the
    (case-insensitive) name of another class; the map is symmetric.

    Args:
        class_names (str | Sequence[str]): Names or a label-map file, see
            :func:`load_class_names`.
        word_pairs (Sequence[tuple[str, str]]): Words swapped by the flip.
            Defaults to ``(('left', 'right'),)``.

    Returns:
        dict[int, int]: ``{label: mirrored_label}``, only for classes with a
        mirror.
    """
    names = load_class_names(class_names)
    index = {}
    for idx, name in enumerate(names):
        key = name.strip().lower()
        if key in index:
            raise ValueError(f'duplicate class name {name!r}')
        index[key] = idx
    label_map = {}
    for idx, name in enumerate(names):
        mirrored = index.get(mirror_class_name(name, word_pairs).lower())
        if mirrored is not None and mirrored != idx:
            label_map[idx] = mirrored
    return label_map


@TRANSFORMS.register_module()
class FlipWithLabelSwap(Flip):
    """mmaction2 ``Flip`` that relabels mirrored classes when it flips.

    Required keys: "imgs", "img_shape", "modality", "label". Modified keys:
    "imgs", "label"; added keys: "flip", "flip_direction".

    Args:
        class_names (str | Sequence[str]): Class names in label order, or a
            label-map file (text, one name per line, or JSON).
        word_pairs (Sequence[tuple[str, str]]): Words exchanged by the flip;
            a class maps to the class whose name has them exchanged.
            Defaults to ``(('left', 'right'),)``.
        flip_ratio (float): Probability of flipping. Defaults to 0.5.
        direction (str): ``'horizontal'`` or ``'vertical'``; pass matching
            ``word_pairs`` (e.g. up/down) for a vertical flip.
            Defaults to ``'horizontal'``.
        lazy (bool): Lazy flip, see ``Flip``. Defaults to False.
    """

    def __init__(self,
                 class_names: ClassNames,
                 word_pairs: WordPairs = (('left', 'right'), ),
                 flip_ratio: float = 0.5,
                 direction: str = 'horizontal',
                 lazy: bool = False) -> None:
        # The parent's own ``flip_label_map`` only handles hashable labels;
        # relabelling is done here instead.
        super().__init__(
            flip_ratio=flip_ratio,
            direction=direction,
            flip_label_map=None,
            lazy=lazy)
        self.word_pairs = tuple(tuple(pair) for pair in word_pairs)
        self.label_map = build_mirror_label_map(class_names, self.word_pairs)

    def _mirror_label(self, label):
        """Relabel an int label or a 1-D per-class vector (one-hot)."""
        if isinstance(label, (int, np.integer)):
            return self.label_map.get(int(label), int(label))
        if getattr(label, 'ndim', None) == 1:
            # Entry j of the result is the score of the class mirrored to j.
            order = [self.label_map.get(i, i) for i in range(len(label))]
            return label[order]
        raise TypeError('FlipWithLabelSwap supports int labels or 1-D '
                        f'per-class vectors, got {type(label).__name__}')

    def transform(self, results: Dict) -> Dict:
        """Flip with probability ``flip_ratio`` and relabel mirrored classes.

        Args:
            results (dict): Pipeline results.

        Returns:
            dict: ``results`` with flipped frames and, when flipped, the
            mirrored label.
        """
        results = super().transform(results)
        if results['flip'] and 'label' in results:
            results['label'] = self._mirror_label(results['label'])
        return results

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(flip_ratio={self.flip_ratio}, '
                f'direction={self.direction}, word_pairs={self.word_pairs}, '
                f'label_map={self.label_map}, lazy={self.lazy})')
