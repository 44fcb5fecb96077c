"""Which package code a result depends on: a hash of the modules a script imports.

The workflow gives every rule a param ``code = code_hash(<modules its script
imports>)``: the SHA-256 of the source of those modules and of every package
module they import, directly or not (found by reading the ``import``
statements). Editing a module changes the hash of exactly the rules whose
results it can affect, so ``make figures`` reruns them and ``snakemake -n``
says why ("Params have changed since last execution").
"""

from __future__ import annotations

import ast
import hashlib
from functools import lru_cache
from pathlib import Path

PACKAGE = "policy_distillation"
ROOT = Path(__file__).resolve().parent


def _module_path(name: str) -> Path:
    rel = name.split(".")[1:]
    base = ROOT.joinpath(*rel)
    if (base / "__init__.py").is_file():
        return base / "__init__.py"
    path = base.with_suffix(".py")
    if not path.is_file():
        raise ValueError(f"{name} is not a module of {PACKAGE} (no {path})")
    return path


@lru_cache(maxsize=None)
def _imports(name: str) -> tuple[str, ...]:
    """Package modules imported by module ``name`` (absolute names)."""
    path = _module_path(name)
    is_pkg = path.name == "__init__.py"
    package = name if is_pkg else name.rsplit(".", 1)[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                parts = package.split(".")
                anchor = ".".join(parts[: len(parts) - node.level + 1])
                mod = f"{anchor}.{node.module}" if node.module else anchor
            else:
                mod = node.module or ""
            if mod.split(".")[0] != PACKAGE:
                continue
            for alias in node.names:  # "from . import x" may name a module
                sub = f"{mod}.{alias.name}"
                found.add(sub if _is_module(sub) else mod)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.split(".")[0] == PACKAGE)
    return tuple(sorted(m for m in found if _is_module(m)))


def _is_module(name: str) -> bool:
    try:
        _module_path(name)
    except ValueError:
        return False
    return True


def closure(*modules: str) -> list[str]:
    """The modules and every package module they import, transitively (sorted)."""
    seen: set[str] = set()
    todo = [m if m.startswith(PACKAGE) else f"{PACKAGE}.{m}" for m in modules]
    while todo:
        m = todo.pop()
        if m in seen:
            continue
        _module_path(m)  # raises for an unknown module
        seen.add(m)
        todo.extend(_imports(m))
    return sorted(seen)


def code_hash(*modules: str) -> str:
    """SHA-256 (hex, 16 characters) of the sources of :func:`closure` of ``modules``."""
    h = hashlib.sha256()
    for m in closure(*modules):
        h.update(m.encode() + b"\0" + _module_path(m).read_bytes() + b"\0")
    return h.hexdigest()[:16]
