"""Read class-name lists for CLIP-text classifiers."""
import json
import os.path as osp
from typing import List, Sequence, Union

ClassNames = Union[str, Sequence[str]]

LABEL_MAP_DIR = osp.join(osp.dirname(osp.dirname(osp.dirname(__file__))),
                         'label_maps')
# Class lists shipped with the package, by short name.
BUILTIN_CLASS_LISTS = {
    'kinetics400': 'kinetics_label_map_k400.txt',
    'kinetics600': 'kinetics_label_map_k600.txt',
    'kinetics700': 'kinetics_label_map_k700.txt',
    'kinetics710': 'kinetics710_label_map_k710.txt',
    'sthv2': 'sthv2_label_map.txt',
    'ucf101': 'ucf101_label_map.txt',
    'hmdb51': 'hmdb51_label_map.txt',
    'official_k400': 'official_dist_k400_labels.json',
    'official_sthv2': 'official_dist_ssv2_labels.json',
    # zero-shot lists: readable names, K600 classes absent from K400
    'ucf101_zeroshot': 'ucf101_zeroshot_names.txt',
    'hmdb51_zeroshot': 'hmdb51_zeroshot_names.txt',
    'kinetics600_new': 'kinetics600_new_classes.txt',
}


def builtin_class_list(name: str) -> str:
    """Path of a class list shipped with dist_plugin (see
    ``BUILTIN_CLASS_LISTS``)."""
    return osp.join(LABEL_MAP_DIR, BUILTIN_CLASS_LISTS[name])


def _clean(name: str) -> str:
    """Strip whitespace and the quotes of the official label files."""
    return name.strip().strip('"').strip()


def load_class_names(source: ClassNames) -> List[str]:
    """Return the class names of ``source``.

    Args:
        source (str | Sequence[str]): A list of names, a comma-separated
            string, a text file (one name per line), a JSON file mapping
            names to indices (the official DiST label files) or the name of
            a built-in list (``'kinetics400'``, ``'sthv2'``, ``'ucf101'``...).

    Returns:
        list[str]: Names in class-index order.
    """
    if isinstance(source, str):
        if source in BUILTIN_CLASS_LISTS:
            source = builtin_class_list(source)
        if osp.isfile(source):
            if source.endswith('.json'):
                with open(source, encoding='utf-8') as f:
                    mapping = json.load(f)
                if isinstance(mapping, dict):
                    pairs = sorted(mapping.items(), key=lambda kv: int(kv[1]))
                    indices = [int(v) for _, v in pairs]
                    if indices != list(range(len(indices))):
                        raise ValueError(
                            f'{source}: class indices are not 0..K-1')
                    return [_clean(k) for k, _ in pairs]
                return [_clean(n) for n in mapping]
            with open(source, encoding='utf-8') as f:
                return [_clean(line) for line in f if line.strip()]
        if ',' in source:
            return [_clean(n) for n in source.split(',') if n.strip()]
        raise FileNotFoundError(
            f'Class-name file {source!r} not found (pass a file, a list or a '
            f'comma-separated string).')
    return [_clean(n) for n in source]
