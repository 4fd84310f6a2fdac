"""Annotation lists are validated before training, naming file and line."""
import pytest

from dist_plugin.datasets.annotation_check import (AnnotationError,
                                                   check_annotation_file,
                                                   parse_annotation_lines)


def _write(tmp_path, text: str, name: str = 'ann.txt') -> str:
    path = tmp_path / name
    path.write_text(text, encoding='utf-8')
    return str(path)


def test_valid_list_parses_and_skips_blank_lines(tmp_path):
    ann = _write(tmp_path, 'a/x.mp4 0\n\n  b.mp4   2  \r\nc.mp4\t1\n')
    records = check_annotation_file(ann, num_classes=3)
    assert [(r['filename'], r['label'], r['line']) for r in records] == [
        ('a/x.mp4', 0, 1), ('b.mp4', 2, 3), ('c.mp4', 1, 4)]


@pytest.mark.parametrize('line, fragment', [
    ('x.mp4 3', 'label 3 is out of range (must be [0, 3))'),
    ('x.mp4 -1', 'label -1 is out of range'),
    ('x.mp4 one', "label 'one' is not an integer"),
    ('x.mp4 1.0', "label '1.0' is not an integer"),
    ('x.mp4', 'found no label'),
    ('my video.mp4 1', 'expected 2 fields'),
])
def test_bad_line_names_file_and_line(tmp_path, line, fragment):
    ann = _write(tmp_path, f'ok.mp4 0\nok2.mp4 2\n{line}\n')
    with pytest.raises(ValueError) as info:
        check_annotation_file(ann, num_classes=3)
    message = str(info.value)
    assert f'{ann}:3: ' in message
    assert fragment in message
    assert isinstance(info.value, AnnotationError)
    assert [p['line'] for p in info.value.problems] == [3]


def test_every_problem_is_reported_with_kind(tmp_path):
    lines = ['a.mp4 0', 'b.mp4 7', 'c.mp4 x', 'd.mp4 1 2', 'e.mp4 -3']
    records, problems = parse_annotation_lines(lines, num_classes=5)
    assert [r['filename'] for r in records] == ['a.mp4']
    assert [(p['line'], p['kind']) for p in problems] == [
        (2, 'label_range'), (3, 'malformed'), (4, 'malformed'),
        (5, 'label_range')]


def test_long_error_lists_are_summarised(tmp_path):
    ann = _write(tmp_path, ''.join(f'v{i}.mp4 9\n' for i in range(25)))
    with pytest.raises(AnnotationError) as info:
        check_annotation_file(ann, num_classes=2)
    assert len(info.value.problems) == 25
    assert f'{ann}:20: ' in str(info.value)
    assert f'{ann}:21: ' not in str(info.value)
    assert '... and 5 more' in str(info.value)


def test_without_num_classes_only_negative_labels_fail():
    records, problems = parse_annotation_lines(['a.mp4 1000', 'b.mp4 -2'])
    assert [r['label'] for r in records] == [1000]
    assert [p['line'] for p in problems] == [2]


def test_multi_class_and_unlabeled_lines():
    records, problems = parse_annotation_lines(
        ['a.mp4 0 3', 'b.mp4 4 9', 'c.mp4'],
        num_classes=5,
        multi_class=True,
        allow_unlabeled=True)
    assert [(r['filename'], r['label']) for r in records] == [
        ('a.mp4', [0, 3]), ('c.mp4', -1)]
    assert [(p['line'], p['kind']) for p in problems] == [(2, 'label_range')]


def test_custom_delimiter_keeps_spaces_in_names():
    records, problems = parse_annotation_lines(
        ['my video.mp4,1', 'other.mp4,,2'], num_classes=2, delimiter=',')
    assert [(r['filename'], r['label']) for r in records] == [
        ('my video.mp4', 1)]
    assert problems[0]['line'] == 2 and 'empty field' in problems[0]['problem']


def test_empty_list_is_an_error(tmp_path):
    ann = _write(tmp_path, '\n\n')
    with pytest.raises(AnnotationError, match='no entries'):
        check_annotation_file(ann, num_classes=2)
