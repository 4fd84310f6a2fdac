"""Validate a video annotation list before anything is trained on it.

The list format is mmaction's ``VideoDataset`` one: each line holds a file
name and its label (``some/path/001.mp4 3``), or a file name and several
labels for multi-label datasets (``a.mp4 0 4 7``). A malformed line, a label
that is not an integer, a negative label or a label ``>= num_classes`` would
otherwise surface hours later as a crash in the loss (or, worse, as silently
wrong targets). :func:`check_annotation_file` reports every such line with
the file name and line number in one ``ValueError`` instead.
"""
from typing import Dict, List, Optional, Sequence, Tuple, Union

from mmengine.fileio import get_text

#: How many problems the error message lists before summarising the rest.
MAX_LISTED_PROBLEMS = 20

Label = Union[int, List[int]]


class AnnotationError(ValueError):
    """An annotation list has malformed lines or out-of-range labels.

    Args:
        ann_file (str): The annotation file.
        problems (list[dict]): One dict per problem with the keys ``line``
            (1-based line number), ``text`` (the line) and ``problem``.
    """

    def __init__(self, ann_file: str, problems: List[Dict]) -> None:
        self.ann_file = ann_file
        self.problems = problems
        super().__init__(format_problems(ann_file, problems))


def format_problems(ann_file: str,
                    problems: Sequence[Dict],
                    max_listed: int = MAX_LISTED_PROBLEMS) -> str:
    """Describe annotation problems as ``FILE:LINE: problem`` lines.

    Args:
        ann_file (str): The annotation file.
        problems (Sequence[dict]): Problems as returned by
            :func:`parse_annotation_lines`.
        max_listed (int): List at most this many problems. Defaults to
            :data:`MAX_LISTED_PROBLEMS`.

    Returns:
        str: A multi-line message.
    """
    head = (f'{len(problems)} invalid line(s) in annotation file '
            f'{ann_file}:')
    lines = [head]
    for item in problems[:max_listed]:
        lines.append(f'  {ann_file}:{item["line"]}: {item["problem"]} '
                     f'(line: {item["text"]!r})')
    if len(problems) > max_listed:
        lines.append(f'  ... and {len(problems) - max_listed} more')
    return '\n'.join(lines)


def _split(line: str, delimiter: str) -> List[str]:
    """Split a line; a space delimiter means any run of whitespace."""
    if delimiter == ' ':
        return line.split()
    return [field.strip() for field in line.split(delimiter)]


def _parse_label(field: str) -> Optional[int]:
    """Return the integer in ``field`` or None when it is not one."""
    try:
        return int(field, 10)
    except ValueError:
        return None


def parse_annotation_lines(
        lines: Sequence[str],
        num_classes: Optional[int] = None,
        delimiter: str = ' ',
        multi_class: bool = False,
        allow_unlabeled: bool = False) -> Tuple[List[Dict], List[Dict]]:
    """Parse annotation lines and collect every problem.

    Blank lines are skipped. A line is valid when it holds a file name and
    exactly one integer label (single-label), one or more integer labels
    (``multi_class=True``), or only a file name when ``allow_unlabeled``
    (mmaction's inference lists; the label becomes ``-1``). Labels must lie
    in ``[0, num_classes)``; without ``num_classes`` only negative labels are
    rejected.

    Args:
        lines (Sequence[str]): The lines of the annotation file.
        num_classes (int, optional): Number of classes. Defaults to None.
        delimiter (str): Field delimiter; ``' '`` splits on any run of
            whitespace. Defaults to ``' '``.
        multi_class (bool): Lines may hold several labels. Defaults to False.
        allow_unlabeled (bool): Accept lines with a file name only.
            Defaults to False.

    Returns:
        tuple[list[dict], list[dict]]: The records (``filename``, ``label``,
        ``line``) of the valid lines, and the problems (``line``, ``text``,
        ``problem``, and ``kind``: ``'malformed'`` or ``'label_range'``).
    """
    if num_classes is not None and num_classes < 1:
        raise ValueError(f'num_classes must be positive, got {num_classes}')
    records: List[Dict] = []
    problems: List[Dict] = []

    def bad(lineno: int, text: str, kind: str, problem: str) -> None:
        problems.append(
            dict(line=lineno, text=text, kind=kind, problem=problem))

    for lineno, raw in enumerate(lines, start=1):
        text = raw.rstrip('\r\n')
        if not text.strip():
            continue
        fields = _split(text.strip(), delimiter)
        if any(not field for field in fields):
            bad(lineno, text, 'malformed',
                f'empty field (delimiter {delimiter!r})')
            continue
        filename, label_fields = fields[0], fields[1:]
        if not label_fields:
            if allow_unlabeled:
                records.append(dict(filename=filename, label=-1, line=lineno))
            else:
                bad(lineno, text, 'malformed',
                    'expected "FILENAME LABEL", found no label')
            continue
        if not multi_class and len(label_fields) != 1:
            bad(lineno, text, 'malformed',
                f'expected 2 fields "FILENAME LABEL", found {len(fields)} '
                '(a file name with spaces, or a multi-label line without '
                'multi_class=True?)')
            continue
        labels = [_parse_label(field) for field in label_fields]
        not_int = [f for f, v in zip(label_fields, labels) if v is None]
        if not_int:
            bad(lineno, text, 'malformed',
                f'label {not_int[0]!r} is not an integer')
            continue
        out_of_range = [
            v for v in labels
            if v < 0 or (num_classes is not None and v >= num_classes)
        ]
        if out_of_range:
            valid = (f'[0, {num_classes})'
                     if num_classes is not None else 'non-negative')
            bad(lineno, text, 'label_range',
                f'label {out_of_range[0]} is out of range (must be {valid})')
            continue
        label: Label = labels if multi_class else labels[0]
        records.append(dict(filename=filename, label=label, line=lineno))
    return records, problems


def read_annotation_lines(ann_file: str,
                          backend_args: Optional[dict] = None) -> List[str]:
    """Read the lines of an annotation file (local or any mmengine backend).

    Args:
        ann_file (str): The annotation file.
        backend_args (dict, optional): mmengine file backend arguments.
            Defaults to None.

    Returns:
        list[str]: The lines, without line endings.
    """
    return get_text(ann_file, backend_args=backend_args).splitlines()


def check_annotation_file(ann_file: str,
                          num_classes: Optional[int] = None,
                          delimiter: str = ' ',
                          multi_class: bool = False,
                          allow_unlabeled: bool = False,
                          backend_args: Optional[dict] = None) -> List[Dict]:
    """Parse an annotation file and raise on any invalid line.

    Args:
        ann_file (str): The annotation file.
        num_classes (int, optional): Number of classes. Defaults to None.
        delimiter (str): Field delimiter. Defaults to ``' '``.
        multi_class (bool): Lines may hold several labels. Defaults to False.
        allow_unlabeled (bool): Accept lines with a file name only.
            Defaults to False.
        backend_args (dict, optional): mmengine file backend arguments.
            Defaults to None.

    Returns:
        list[dict]: One record (``filename``, ``label``, ``line``) per
        non-blank line.

    Raises:
        AnnotationError: A ``ValueError`` listing each invalid line as
            ``FILE:LINE: problem``; also raised for a list without entries.
    """
    lines = read_annotation_lines(ann_file, backend_args=backend_args)
    records, problems = parse_annotation_lines(
        lines,
        num_classes=num_classes,
        delimiter=delimiter,
        multi_class=multi_class,
        allow_unlabeled=allow_unlabeled)
    if problems:
        raise AnnotationError(ann_file, problems)
    if not records:
        raise AnnotationError(
            ann_file,
            [dict(line=0, text='', kind='malformed', problem='no entries')])
    return records
