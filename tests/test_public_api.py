import importlib

import pytest

import workbench


@pytest.mark.parametrize("name", sorted(workbench._LAZY))
def test_every_public_name_resolves(name):
    assert getattr(workbench, name) is not None


def test_public_functions_are_not_shadowed_by_modules():
    """`workbench.compare` must stay the function even after every submodule has been imported."""
    for module in set(workbench._LAZY.values()):
        importlib.import_module(f"workbench.{module}")
    for name in workbench._LAZY:
        assert not isinstance(getattr(workbench, name), type(workbench)), f"workbench.{name} is a module"
