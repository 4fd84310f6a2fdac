"""Class lists and annotation filters for zero-shot evaluation.

A Kinetics-400-trained DiST classifies any class list: its classifier is the
frozen CLIP text tower. Zero-shot evaluation only needs the class names of
the target dataset (written the way people write them, for the text
encoder) and an annotation list whose labels index that class list.
"""
import os
import os.path as osp
import re
from typing import Dict, List, Optional, Tuple

from dist_plugin.models.heads.class_names import (LABEL_MAP_DIR, ClassNames,
                                                  load_class_names)

#: Kinetics-600 names of Kinetics-400 classes that were renamed, merged or
#: narrowed in Kinetics-600 (K400 name -> K600 name). A K400-trained model
#: has seen these actions, so they are not "new" classes.
K400_TO_K600_RENAMES: Dict[str, str] = {
    'balloon blowing': 'inflating balloons',
    'changing wheel': 'changing wheel (not on bike)',
    'cooking sausages': 'cooking sausages (not on barbeque)',
    'dying hair': 'dyeing hair',
    'garbage collecting': 'person collecting garbage',
    'hugging': 'hugging (not baby)',
    'making bed': 'making the bed',
    'opening bottle': 'opening bottle (not wine)',
    'passing American football (not in game)':
    'passing american football (not in game)',
    'throwing ball': 'throwing ball (not baseball or American football)',
    'tying tie': 'tying necktie',
}

#: Files written by :func:`write_zeroshot_class_lists` into ``label_maps``.
ZEROSHOT_CLASS_FILES = {
    'ucf101': 'ucf101_zeroshot_names.txt',
    'hmdb51': 'hmdb51_zeroshot_names.txt',
    'kinetics600_new': 'kinetics600_new_classes.txt',
}


def humanize_class_name(name: str) -> str:
    """Write a dataset label the way a caption would.

    ``'ApplyEyeMakeup'`` -> ``'apply eye makeup'``, ``'brush_hair'`` ->
    ``'brush hair'``; names with spaces only lose surrounding blanks.

    Args:
        name (str): A label as stored in a label map.

    Returns:
        str: Lower-case words separated by single spaces.
    """
    if ' ' in name.strip():
        return ' '.join(name.split())
    words = re.sub(r'(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])', ' ',
                   name.replace('_', ' ').replace('-', ' '))
    return ' '.join(words.lower().split())


def kinetics600_new_classes(
        k400: ClassNames = 'kinetics400',
        k600: ClassNames = 'kinetics600',
        renames: Optional[Dict[str, str]] = None) -> List[str]:
    """Kinetics-600 classes that a Kinetics-400 model has not seen.

    Args:
        k400 (str | Sequence[str]): Kinetics-400 class list.
            Defaults to ``'kinetics400'``.
        k600 (str | Sequence[str]): Kinetics-600 class list.
            Defaults to ``'kinetics600'``.
        renames (dict, optional): K400 -> K600 names of the same action.
            Defaults to None (:data:`K400_TO_K600_RENAMES`).

    Returns:
        list[str]: The new classes, in Kinetics-600 order.
    """
    renames = K400_TO_K600_RENAMES if renames is None else renames
    seen = set(load_class_names(k400))
    seen.update(renames[name] for name in list(seen) if name in renames)
    return [name for name in load_class_names(k600) if name not in seen]


def zeroshot_class_lists() -> Dict[str, List[str]]:
    """Class lists of the zero-shot configs, by key of
    :data:`ZEROSHOT_CLASS_FILES`."""
    return dict(
        ucf101=[humanize_class_name(n) for n in load_class_names('ucf101')],
        hmdb51=[humanize_class_name(n) for n in load_class_names('hmdb51')],
        kinetics600_new=kinetics600_new_classes())


def write_zeroshot_class_lists(out_dir: str = LABEL_MAP_DIR) -> Dict[str, str]:
    """Write the zero-shot class lists (one name per line).

    Args:
        out_dir (str): Folder. Defaults to dist_plugin's ``label_maps``.

    Returns:
        dict: Key -> written path.
    """
    os.makedirs(out_dir, exist_ok=True)
    paths = {}
    for key, names in zeroshot_class_lists().items():
        path = osp.join(out_dir, ZEROSHOT_CLASS_FILES[key])
        with open(path, 'w', encoding='utf-8') as f:
            f.write('\n'.join(names) + '\n')
        paths[key] = path
    return paths


def filter_annotations(ann_file: str,
                       out_file: str,
                       source_classes: ClassNames,
                       target_classes: ClassNames) -> Tuple[int, int]:
    """Keep the annotation lines of ``target_classes`` and relabel them.

    Lines are mmaction ``VideoDataset`` lines, ``<path> <label>`` (the label
    is the last field). A line is kept when the name of its label in
    ``source_classes`` is in ``target_classes``; its label becomes that
    name's index in ``target_classes``.

    Args:
        ann_file (str): Input annotation list (e.g. the Kinetics-600 val
            list).
        out_file (str): Output annotation list.
        source_classes (str | Sequence[str]): Class list of ``ann_file``.
        target_classes (str | Sequence[str]): The subset to keep, in the
            order of the new labels.

    Returns:
        tuple: ``(kept, dropped)`` line counts.
    """
    source = load_class_names(source_classes)
    target = {name: idx for idx, name in enumerate(
        load_class_names(target_classes))}
    missing = sorted(set(target) - set(source))
    if missing:
        raise ValueError(f'{len(missing)} target classes are not in the '
                         f'source class list: {missing[:5]}')
    kept_lines: List[str] = []
    dropped = 0
    with open(ann_file, encoding='utf-8') as f:
        for lineno, line in enumerate(f, 1):
            fields = line.split()
            if not fields:
                continue
            try:
                label = int(fields[-1])
                name = source[label]
            except (ValueError, IndexError):
                raise ValueError(f'{ann_file}:{lineno}: expected "<path> '
                                 f'<label>" with a label below '
                                 f'{len(source)}, got {line.strip()!r}')
            if name in target:
                kept_lines.append(' '.join(fields[:-1] +
                                           [str(target[name])]))
            else:
                dropped += 1
    out_dir = osp.dirname(osp.abspath(out_file))
    os.makedirs(out_dir, exist_ok=True)
    tmp = out_file + '.tmp'
    with open(tmp, 'w', encoding='utf-8') as f:
        f.write(''.join(line + '\n' for line in kept_lines))
    os.replace(tmp, out_file)
    return len(kept_lines), dropped


def zeroshot_class_file(key: str) -> str:
    """Path of a shipped zero-shot class list (see
    :data:`ZEROSHOT_CLASS_FILES`)."""
    return osp.join(LABEL_MAP_DIR, ZEROSHOT_CLASS_FILES[key])

