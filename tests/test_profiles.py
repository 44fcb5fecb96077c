"""Profiles (profiles.py): strict YAML, complete configs, keys named in errors."""

from __future__ import annotations

import pytest

from policy_distillation import profiles

PAPER = profiles.REPO / "workflow" / "config" / "paper.yaml"


def test_shipped_profiles_are_complete_and_separate():
    roots = set()
    for name in ("paper", "quick"):
        cfg = profiles.load_yaml(profiles.profile_path(name))
        profiles.validate(cfg)
        assert cfg["profile"] == name
        roots.add(cfg["output_root"])
    assert len(roots) == 2


def test_duplicate_key_is_an_error_with_its_line(tmp_path):
    f = tmp_path / "p.yaml"
    f.write_text("a: 1\nb:\n  c: 2\n  c: 3\n")
    with pytest.raises(profiles.ProfileError, match=r"p.yaml, line 4: duplicate key 'c' \(first at line 3\)"):
        profiles.load_yaml(f)


def test_python_tag_is_an_error_naming_the_tag_and_line(tmp_path):
    f = tmp_path / "p.yaml"
    f.write_text("a: 1\nb: !!python/object/apply:os.system ['true']\n")
    with pytest.raises(profiles.ProfileError, match=r"line 2: .*tag:yaml.org,2002:python/object/apply:os.system"):
        profiles.load_yaml(f)


def test_missing_and_unknown_keys_are_named():
    cfg = profiles.load_yaml(PAPER)
    del cfg["figure4"]["steps"]
    cfg["figure5"]["speling"] = 1
    with pytest.raises(profiles.ProfileError) as err:
        profiles.validate(cfg)
    assert "config key figure4.steps: missing" in str(err.value)
    assert "speling" in str(err.value)


def test_merged_applies_overrides_recursively_without_touching_the_base():
    base = {"a": 1, "b": {"c": 2, "d": 3}}
    out = profiles.merged(base, {"b": {"c": 5}, "e": 6})
    assert out == {"a": 1, "b": {"c": 5, "d": 3}, "e": 6} and base["b"]["c"] == 2


def test_unknown_profile_name_lists_the_known_ones():
    with pytest.raises(profiles.ProfileError, match="unknown profile 'nope'.*paper"):
        profiles.profile_path("nope")


def test_scale_text_states_profile_and_sizes():
    text = profiles.scale_text(profiles.load_yaml(PAPER))
    assert text.startswith("profile paper: 1000 grid worlds")
    assert "{" not in text and "|" not in text  # safe in Snakemake params and reStructuredText captions


def test_learning_rates_are_the_tuning_output_as_written():
    """The shipped profiles read figures/learning_rates.json (python -m policy_distillation.tuning)."""
    import json

    rates = json.loads((profiles.REPO / "figures" / "learning_rates.json").read_text())
    for name in ("paper", "quick"):
        cfg = profiles.resolve(profiles.load_yaml(profiles.profile_path(name)))
        assert cfg["regimes"]["classic"]["learning_rates"] == rates


def test_tuning_baseline_constants_equal_the_profiles():
    from policy_distillation import tuning

    for name in ("paper", "quick"):
        cfg = profiles.load_yaml(profiles.profile_path(name))
        classic = cfg["regimes"]["classic"]
        assert classic["critic"] == {"kind": "exact", "every": tuning.BASELINE_EVERY}
        assert list(tuning.BASELINE_METHODS) == classic["critic_methods"]


def test_unreadable_learning_rates_file_is_named(tmp_path):
    cfg = profiles.load_yaml(PAPER)
    cfg["regimes"]["classic"]["learning_rates"] = "no/such/file.json"
    with pytest.raises(profiles.ProfileError, match="regimes.classic.learning_rates: cannot read"):
        profiles.resolve(cfg)
    (tmp_path / "r.json").write_text('{"teacher_distill": -1}')
    cfg["regimes"]["classic"]["learning_rates"] = str(tmp_path / "r.json")
    with pytest.raises(profiles.ProfileError, match="positive numbers"):
        profiles.resolve(cfg)
