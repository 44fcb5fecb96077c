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
    """Every regime of the shipped profiles reads figures/learning_rates/<regime>.json
    (python -m policy_distillation.tuning --regime <regime>) as written."""
    import json

    for name in ("paper", "quick"):
        raw = profiles.load_yaml(profiles.profile_path(name))
        cfg = profiles.resolve(raw)
        for regime in raw["regimes"]:
            path = f"figures/learning_rates/{regime}.json"
            assert raw["regimes"][regime]["learning_rates"] == path
            rates = json.loads((profiles.REPO / path).read_text())
            assert cfg["regimes"][regime]["learning_rates"] == rates


def test_tuning_report_beside_every_rates_file():
    for path in (profiles.REPO / "figures" / "learning_rates").glob("*.json"):
        if path.name.endswith(".scores.json"):
            continue
        md = path.with_suffix(".md").read_text()
        assert f"--regime {path.stem}" in md  # the command that wrote it


def test_unreadable_learning_rates_file_is_named(tmp_path):
    cfg = profiles.load_yaml(PAPER)
    cfg["regimes"]["unroll_sgd"]["learning_rates"] = "no/such/file.json"
    missing = "regimes.unroll_sgd.learning_rates: cannot read .* --regime unroll_sgd"
    with pytest.raises(profiles.ProfileError, match=missing):
        profiles.resolve(cfg)
    (tmp_path / "r.json").write_text('{"teacher_distill": -1}')
    cfg["regimes"]["unroll_sgd"]["learning_rates"] = str(tmp_path / "r.json")
    with pytest.raises(profiles.ProfileError, match="positive numbers"):
        profiles.resolve(cfg)
