"""dist_plugin registers only new names: nothing it registers shadows a
component of mmengine, mmcv or mmaction2 in any scope."""
import mmaction.registry as mmaction_registry
import mmcv.transforms  # noqa: F401  (mmcv's own transforms, scope mmcv)
import mmengine.registry as mmengine_registry
from mmengine.registry import Registry


def _tree(registry: Registry):
    """A root registry and every registry below it."""
    yield registry
    for child in registry.children.values():
        yield from _tree(child)


def _plugin_entries():
    """(registry, name) of every class that dist_plugin registered."""
    for module in (mmaction_registry, mmengine_registry):
        for value in vars(module).values():
            if not isinstance(value, Registry):
                continue
            for name, obj in value.module_dict.items():
                if getattr(obj, '__module__', '').startswith('dist_plugin'):
                    yield value, name


def test_every_plugin_name_is_new_in_its_registry_tree():
    entries = list(_plugin_entries())
    names = {name for _, name in entries}
    # the components this project registers (more may come)
    assert {'FrozenCLIPViT', 'DiSTIntegrationNeck', 'CLIPTextHead',
            'CheckpointKeysHook', 'CPUAwareAmpOptimWrapper'} <= names
    clashes = []
    for registry, name in entries:
        root = registry
        while root.parent is not None:
            root = root.parent
        for other in _tree(root):
            if other is not registry and name in other.module_dict:
                clashes.append(f'{name}: {registry.scope}.{registry.name} '
                               f'and {other.scope}.{other.name}')
    assert not clashes, clashes


def test_registered_in_mmaction_scope_not_the_root():
    for registry, _ in _plugin_entries():
        assert registry.scope == 'mmaction', registry
    assert 'CPUAwareAmpOptimWrapper' in \
        mmaction_registry.OPTIM_WRAPPERS.module_dict
    assert 'CPUAwareAmpOptimWrapper' not in \
        mmengine_registry.OPTIM_WRAPPERS.module_dict
    # the clip-level grayscale of the recipes is torchvision's, wrapped by
    # mmaction; mmcv's image-level RandomGrayscale stays what it is
    assert mmaction_registry.TRANSFORMS.get('RandomGrayscale') is \
        mmcv.transforms.RandomGrayscale
