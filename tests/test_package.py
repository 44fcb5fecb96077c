"""The public package namespace."""

import importlib
import pkgutil

import policy_distillation


def test_all_names_resolve():
    for name in policy_distillation.__all__:
        assert getattr(policy_distillation, name) is not None, name


def test_reexports_do_not_shadow_submodules():
    # `from . import counterexample` inside the package must give the module
    for info in pkgutil.iter_modules(policy_distillation.__path__):
        module = importlib.import_module(f"policy_distillation.{info.name}")
        attr = getattr(policy_distillation, info.name, module)
        assert attr is module, f"policy_distillation.{info.name} is shadowed by a re-export"
