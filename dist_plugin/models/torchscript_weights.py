"""Read the tensors of a TorchScript archive without running any of its code.

OpenAI's released CLIP weights (``ViT-B-16.pt``, ``ViT-L-14.pt``) are
TorchScript archives. ``torch.jit.load`` would run the archive's TorchScript
(``__setstate__`` and anything it calls, e.g. ``torch.from_file`` writing a
file), so a crafted "CLIP" file could act on the machine that loads it.
:func:`read_torchscript_state_dict` reads the same archive as plain data:

What is unpickled (``data.pkl`` only, by :class:`RestrictedArchiveUnpickler`):

- tensors, through a stand-in for ``torch._utils._rebuild_tensor_v2`` that
  views the archive's ``data/<key>`` records (storage types ``torch.*Storage``
  name only the element type);
- plain containers and scalars (dict, list, tuple, str, int, float, bool,
  None), ``collections.OrderedDict`` and the identity helpers of
  ``torch.jit._pickle`` (``build_intlist`` and friends);
- each ``__torch__.*`` object as an inert :class:`ScriptObjectRecord` that
  only stores its attribute dict.

What is not: any other global (Python functions, classes, ``torch.classes``
custom objects) is refused with ``pickle.UnpicklingError``; a ``__torch__``
class whose code defines ``__setstate__`` is refused too, because its state
only means something after its code runs. The ``code/`` files are parsed
(``ast.parse``, never executed) for each module class's
``__parameters__`` and ``__buffers__`` lists; ``constants.pkl`` and the
debug pickles are never read.

The result equals the ``state_dict()`` of ``torch.jit.load`` on the file
(what open_clip reads from OpenAI archives): parameters, then buffers, then
submodules, in attribute order, ``None`` entries left out.
"""
import ast
import collections
import io
import os
import pickle
import zipfile
from typing import Any, Dict, List, NamedTuple, Tuple

import torch

#: Element type of each legacy storage class a TorchScript pickle may name.
STORAGE_DTYPES: Dict[str, torch.dtype] = {
    'DoubleStorage': torch.float64,
    'FloatStorage': torch.float32,
    'HalfStorage': torch.float16,
    'BFloat16Storage': torch.bfloat16,
    'LongStorage': torch.int64,
    'IntStorage': torch.int32,
    'ShortStorage': torch.int16,
    'CharStorage': torch.int8,
    'ByteStorage': torch.uint8,
    'BoolStorage': torch.bool,
    'ComplexFloatStorage': torch.complex64,
    'ComplexDoubleStorage': torch.complex128,
}
#: ``torch.jit._pickle`` helpers; each returns its first argument unchanged.
JIT_PICKLE_IDENTITIES = ('build_intlist', 'build_tensorlist',
                         'build_doublelist', 'build_boollist',
                         'restore_type_tag')


class ScriptClassInfo(NamedTuple):
    """What the archive's code says about one ``__torch__`` class."""
    is_module: bool
    parameters: Tuple[str, ...]
    buffers: Tuple[str, ...]
    has_setstate: bool


class ScriptObjectRecord:
    """Inert stand-in for a ``__torch__`` object: its name and attributes."""

    qualified_name = ''

    def __setstate__(self, state: Any) -> None:
        self.state = state


class _StorageType(NamedTuple):
    dtype: torch.dtype


def _string_list(node: ast.AST, where: str) -> Tuple[str, ...]:
    if not isinstance(node, (ast.List, ast.Tuple)) or not all(
            isinstance(e, ast.Constant) and isinstance(e.value, str)
            for e in node.elts):
        raise ValueError(f'{where} is not a list of names')
    return tuple(e.value for e in node.elts)


def parse_script_classes(archive: zipfile.ZipFile,
                         prefix: str) -> Dict[str, ScriptClassInfo]:
    """Parse (never run) the archive's ``code/`` files.

    Args:
        archive (zipfile.ZipFile): The open archive.
        prefix (str): Its record folder, e.g. ``'ViT-B-16/'``.

    Returns:
        dict: Qualified class name (``__torch__.a.b.C``) -> its info.
    """
    classes: Dict[str, ScriptClassInfo] = {}
    code_dir = prefix + 'code/'
    for name in archive.namelist():
        if not (name.startswith(code_dir) and name.endswith('.py')):
            continue
        module = name[len(code_dir):-len('.py')].replace('/', '.')
        source = archive.read(name).decode('utf-8')
        try:
            tree = ast.parse(source, filename=name)
        except SyntaxError as exc:
            raise ValueError(
                f'TorchScript code {name} cannot be parsed ({exc}); the '
                'archive is damaged or not a TorchScript archive.') from exc
        for cls in tree.body:
            if not isinstance(cls, ast.ClassDef):
                continue
            fields = {'__parameters__': (), '__buffers__': ()}
            for stmt in cls.body:
                if (isinstance(stmt, ast.Assign) and len(stmt.targets) == 1
                        and isinstance(stmt.targets[0], ast.Name)
                        and stmt.targets[0].id in fields):
                    key = stmt.targets[0].id
                    fields[key] = _string_list(stmt.value,
                                               f'{name}: {cls.name}.{key}')
            classes[f'{module}.{cls.name}'] = ScriptClassInfo(
                is_module=any(
                    isinstance(b, ast.Name) and b.id == 'Module'
                    for b in cls.bases),
                parameters=fields['__parameters__'],
                buffers=fields['__buffers__'],
                has_setstate=any(
                    isinstance(f, ast.FunctionDef)
                    and f.name == '__setstate__' for f in cls.body))
    return classes


def _rebuild_tensor(storage: torch.Tensor,
                    storage_offset: int,
                    size: Tuple[int, ...],
                    stride: Tuple[int, ...],
                    requires_grad: bool = False,
                    backward_hooks: Any = None,
                    metadata: Any = None) -> torch.Tensor:
    """Stand-in for ``torch._utils._rebuild_tensor_v2``: a strided view."""
    if not isinstance(storage, torch.Tensor):
        raise pickle.UnpicklingError('a tensor record names no storage')
    for value in (storage_offset, *size, *stride):
        if not isinstance(value, int) or value < 0:
            raise pickle.UnpicklingError(
                f'bad tensor geometry: offset {storage_offset}, size {size}, '
                f'stride {stride}')
    return storage.as_strided(tuple(size), tuple(stride), storage_offset)


def _identity(value: Any, *args: Any) -> Any:
    return value


class RestrictedArchiveUnpickler(pickle.Unpickler):
    """Unpickler for a TorchScript ``data.pkl`` that builds data only.

    Args:
        file (io.BytesIO): The ``data.pkl`` bytes.
        archive (zipfile.ZipFile): The archive holding ``data/<key>``.
        prefix (str): The archive's record folder.
        classes (dict): :func:`parse_script_classes` of the archive.
        source (str): File name used in error messages.
    """

    def __init__(self, file: io.BytesIO, archive: zipfile.ZipFile,
                 prefix: str, classes: Dict[str, ScriptClassInfo],
                 source: str) -> None:
        super().__init__(file)
        self.archive = archive
        self.prefix = prefix
        self.classes = classes
        self.source = source
        self.storages: Dict[str, torch.Tensor] = {}
        self.records: Dict[str, type] = {}

    def find_class(self, module: str, name: str) -> Any:
        if module == 'torch._utils' and name == '_rebuild_tensor_v2':
            return _rebuild_tensor
        if module == 'torch' and name in STORAGE_DTYPES:
            return _StorageType(STORAGE_DTYPES[name])
        if module == 'collections' and name == 'OrderedDict':
            return collections.OrderedDict
        if module == 'torch.jit._pickle' and name in JIT_PICKLE_IDENTITIES:
            return _identity
        if module == '__torch__' or module.startswith('__torch__.'):
            return self._record_class(f'{module}.{name}')
        raise pickle.UnpicklingError(
            f'{self.source}: the TorchScript archive asks for the global '
            f'{module}.{name}; only tensors and plain containers are read '
            '(refused, nothing was run).')

    def _record_class(self, qualified_name: str) -> type:
        info = self.classes.get(qualified_name)
        if info is None:
            raise pickle.UnpicklingError(
                f'{self.source}: class {qualified_name} has no code in the '
                'archive; not a valid TorchScript archive.')
        if info.has_setstate:
            raise pickle.UnpicklingError(
                f'{self.source}: class {qualified_name} defines '
                '__setstate__, so its state only exists after running the '
                "archive's code; refused (weights are never read by running "
                'TorchScript). Export the weights as a state dict or '
                'safetensors file instead.')
        if qualified_name not in self.records:
            self.records[qualified_name] = type(
                'ScriptObjectRecord', (ScriptObjectRecord, ),
                dict(qualified_name=qualified_name))
        return self.records[qualified_name]

    def persistent_load(self, pid: Any) -> torch.Tensor:
        if not (isinstance(pid, tuple) and len(pid) == 5
                and pid[0] == 'storage'
                and isinstance(pid[1], _StorageType)
                and isinstance(pid[2], str)):
            raise pickle.UnpicklingError(
                f'{self.source}: unsupported persistent id {pid!r}')
        storage_type, key, numel = pid[1], pid[2], pid[4]
        if key not in self.storages:
            record = f'{self.prefix}data/{key}'
            try:
                data = bytearray(self.archive.read(record))
            except KeyError:
                raise pickle.UnpicklingError(
                    f'{self.source}: tensor record {record} is missing'
                ) from None
            itemsize = torch.empty((), dtype=storage_type.dtype).itemsize
            if not isinstance(numel, int) or len(data) != numel * itemsize:
                raise pickle.UnpicklingError(
                    f'{self.source}: tensor record {record} holds '
                    f'{len(data)} bytes, expected {numel} x {itemsize}')
            self.storages[key] = (
                torch.frombuffer(data, dtype=storage_type.dtype)
                if data else torch.empty(0, dtype=storage_type.dtype))
        return self.storages[key]


def _collect(obj: ScriptObjectRecord, classes: Dict[str, ScriptClassInfo],
             prefix: str, out: Dict[str, torch.Tensor], source: str) -> None:
    """Parameters, buffers, then submodules, as ``Module.state_dict``."""
    info = classes[obj.qualified_name]
    state = getattr(obj, 'state', None)
    if not isinstance(state, dict):
        raise ValueError(f'{source}: {obj.qualified_name} holds no attribute '
                         'dict; not a TorchScript module archive.')
    for name in info.parameters + info.buffers:
        value = state.get(name)
        if value is None:
            continue
        if not isinstance(value, torch.Tensor):
            raise ValueError(f'{source}: {prefix}{name} is not a tensor')
        out[prefix + name] = value
    for name, value in state.items():
        if (isinstance(value, ScriptObjectRecord)
                and classes[value.qualified_name].is_module):
            _collect(value, classes, f'{prefix}{name}.', out, source)


def _record_prefix(archive: zipfile.ZipFile, source: str) -> str:
    pickles = [n for n in archive.namelist() if n.endswith('/data.pkl')
               and n.count('/') == 1]
    if len(pickles) != 1:
        raise ValueError(f'{source} is not a TorchScript archive (expected '
                         f'one <name>/data.pkl, found {pickles[:3]}).')
    byteorder = pickles[0][:-len('data.pkl')] + 'byteorder'
    if byteorder in archive.namelist() and archive.read(
            byteorder).strip() not in (b'little', ):
        raise ValueError(f'{source}: big-endian archives are not supported')
    return pickles[0][:-len('data.pkl')]


def read_torchscript_state_dict(
        path: str) -> 'collections.OrderedDict[str, torch.Tensor]':
    """The state dict of a TorchScript module archive, read as data.

    Args:
        path (str): A file written by ``torch.jit.save`` (e.g. OpenAI's
            ``ViT-B-16.pt``).

    Returns:
        OrderedDict: Name -> tensor, equal to
        the ``state_dict()`` of ``torch.jit.load`` on it.
    """
    source = os.fspath(path)
    with zipfile.ZipFile(source) as archive:
        prefix = _record_prefix(archive, source)
        classes = parse_script_classes(archive, prefix)
        unpickler = RestrictedArchiveUnpickler(
            io.BytesIO(archive.read(prefix + 'data.pkl')), archive, prefix,
            classes, source)
        root = unpickler.load()
    if not (isinstance(root, ScriptObjectRecord)
            and classes[root.qualified_name].is_module):
        raise ValueError(f'{source} holds no TorchScript module')
    out: 'collections.OrderedDict[str, torch.Tensor]' = (
        collections.OrderedDict())
    _collect(root, classes, '', out, source)
    return out


__all__: List[str] = [
    'RestrictedArchiveUnpickler', 'ScriptClassInfo', 'ScriptObjectRecord',
    'parse_script_classes', 'read_torchscript_state_dict'
]
