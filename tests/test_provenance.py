"""Code provenance (provenance.py): a rule's hash covers the modules its results depend on."""

from __future__ import annotations

import shutil

import pytest

from policy_distillation import provenance


def test_closure_follows_imports_transitively():
    mods = provenance.closure("jobs")
    assert "policy_distillation.training" in mods and "policy_distillation.sampling.estimator" in mods
    assert "policy_distillation.plotting" not in mods
    assert provenance.closure("plotting") == ["policy_distillation.files", "policy_distillation.plotting",
                                             "policy_distillation.results"]


def test_hash_changes_with_the_modules_it_covers_only(tmp_path, monkeypatch):
    copy = tmp_path / "policy_distillation"
    shutil.copytree(provenance.ROOT, copy, ignore=shutil.ignore_patterns("__pycache__"))
    monkeypatch.setattr(provenance, "ROOT", copy)
    provenance._imports.cache_clear()
    before = {m: provenance.code_hash(m) for m in ("jobs", "plotting", "claims")}
    (copy / "plotting.py").write_text((copy / "plotting.py").read_text() + "\n# edit\n")
    after = {m: provenance.code_hash(m) for m in ("jobs", "plotting", "claims")}
    provenance._imports.cache_clear()
    assert after["plotting"] != before["plotting"]
    assert after["jobs"] == before["jobs"] and after["claims"] == before["claims"]


def test_unknown_module_is_refused():
    with pytest.raises(ValueError, match="not a module"):
        provenance.code_hash("no_such_module")
