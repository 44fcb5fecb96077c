"""Workflow profiles: strict loading, validation and a one-line statement of scale.

A profile (``workflow/config/<name>.yaml``) is a complete workflow config:
every key is required (``workflow/schemas/config.schema.yaml``), so nothing is
silently defaulted. Loading is strict: a duplicate key is an error, and so is
any YAML tag beyond plain data (e.g. ``!!python/object``), with the file and
line in the message. The profile names its output root (``output_root``), so
two profiles never write to the same files.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]
PROFILE_DIR = Path("workflow") / "config"
SCHEMA = Path("workflow") / "schemas" / "config.schema.yaml"


class ProfileError(ValueError):
    """A profile that cannot be used, with the file, line or key named."""


class _StrictLoader(yaml.SafeLoader):
    """SafeLoader that refuses duplicate mapping keys."""

    def construct_mapping(self, node, deep=False):
        seen = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise ProfileError(
                    f"{self.name}, line {key_node.start_mark.line + 1}: duplicate key {key!r} "
                    f"(first at line {seen[key] + 1})"
                )
            seen[key] = key_node.start_mark.line
        return super().construct_mapping(node, deep=deep)


def load_yaml(path: str | Path) -> dict:
    """Parse a profile file strictly -> dict (ProfileError naming the file and line)."""
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as err:
        raise ProfileError(f"cannot read profile {path}: {err.strerror}") from err
    loader = _StrictLoader(text)
    loader.name = str(path)
    try:
        data = loader.get_single_data()
    except yaml.constructor.ConstructorError as err:
        mark = err.problem_mark
        where = f"line {mark.line + 1}" if mark is not None else "unknown line"
        raise ProfileError(f"{path}, {where}: {err.problem} (only plain YAML data is allowed in a profile)") from err
    except yaml.YAMLError as err:
        raise ProfileError(f"{path}: not valid YAML: {err}") from err
    finally:
        loader.dispose()
    if not isinstance(data, dict):
        raise ProfileError(f"{path}: a profile must be a mapping of keys to values")
    return data


def profile_path(name: str | Path, root: str | Path = REPO) -> Path:
    """``workflow/config/<name>.yaml`` for a profile name, or the given path of a YAML file."""
    name = str(name)
    if name.endswith((".yaml", ".yml")) or "/" in name:
        return Path(name) if Path(name).is_absolute() else Path(root) / name
    path = Path(root) / PROFILE_DIR / f"{name}.yaml"
    if not path.is_file():
        known = sorted(p.stem for p in (Path(root) / PROFILE_DIR).glob("*.yaml"))
        raise ProfileError(f"unknown profile {name!r}; known: {known} (or give a path to a YAML file)")
    return path


def merged(base: dict, overrides: dict) -> dict:
    """``base`` with ``overrides`` applied key by key, recursively into mappings (a copy)."""
    out = copy.deepcopy(base)
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merged(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def validate(config: dict, schema_path: str | Path = REPO / SCHEMA) -> None:
    """Check a config against the schema (every key required); ProfileError names the key."""
    import jsonschema

    schema = load_yaml(schema_path)
    errors = sorted(jsonschema.Draft202012Validator(schema).iter_errors(config), key=lambda e: list(e.path))
    if errors:
        lines = []
        for e in errors:
            where = ".".join(str(p) for p in e.path)
            if e.validator == "required":
                missing = e.message.split("'")[1]
                lines.append(f"config key {where + '.' if where else ''}{missing}: missing (profiles are complete: "
                             "every key must be given)")
            elif e.validator == "additionalProperties":
                lines.append(f"config {where or 'top level'}: {e.message}")
            else:
                lines.append(f"config key {where or '(top level)'}: {e.message}")
        raise ProfileError("invalid workflow config:\n  " + "\n  ".join(lines))


def resolve(config: dict, root: str | Path = REPO) -> dict:
    """The config with every regime's ``learning_rates`` read from its JSON file when it names one (a copy).

    The tuning output (e.g. ``figures/learning_rates.json``) is then used as
    written, never copied into the profile by hand.
    """
    out = copy.deepcopy(config)
    for name, regime in out["regimes"].items():
        rates = regime["learning_rates"]
        if isinstance(rates, str):
            path = Path(root) / rates
            key = f"regimes.{name}.learning_rates"
            try:
                rates = json.loads(path.read_text())
            except (OSError, json.JSONDecodeError) as err:
                hint = f"the tuning writes it: python -m policy_distillation.tuning --profile {config['profile']}"
                raise ProfileError(f"config key {key}: cannot read {path}: {err} ({hint} --regime {name})") from err
            bad = {k: v for k, v in rates.items() if not isinstance(v, (int, float)) or not v > 0}
            if not isinstance(rates, dict) or bad:
                raise ProfileError(f"config key {key}: {path} must map method names to positive numbers; "
                                   f"bad entries {bad}")
            regime["learning_rates"] = {k: float(v) for k, v in rates.items()}
    return out


def import_method_modules(modules) -> None:
    """Import the profile's ``method_modules`` (they register their methods); ProfileError naming a failing one."""
    import importlib

    for name in modules:
        try:
            importlib.import_module(name)
        except ImportError as err:
            raise ProfileError(f"config key method_modules: cannot import {name!r}: {err}") from err


def output_root(config: dict) -> str:
    """The profile's output root (relative to the repository), e.g. ``.`` or ``results/quick``."""
    return str(config["output_root"])


def scale_text(config: dict) -> str:
    """One line stating the profile and its scale, for every generated report and figure."""
    f3, f4, f5, f6 = (config[k] for k in ("figure3", "figure4", "figure5", "figure6"))
    n = config["n_mdps"]
    actions = ", ".join(str(a) for a in f4["actions"])
    used = sorted({config[k]["regime"] for k in ("figure3", "figure4", "figure5", "figure6")})
    regimes = "; ".join(f"regime {name}: {regime_text(config['regimes'][name])}" for name in used)
    return (
        f"profile {config['profile']}: {n} grid worlds (seed {config['seed']}); "
        f"Fig. 3: {min(f3['n_mdps'], n)} worlds x {f3['steps']} steps; "
        f"Fig. 4: {min(f4['n_mdps'], n)} worlds x {f4['steps']} steps, actions ({actions}); "
        f"Fig. 5: {n} worlds x {f5['steps']} steps; "
        f"Fig. 6/9: {f6['replicas']} chains x {f6['steps']} steps; {regimes}"
    )


def llm_scale_text(config: dict) -> str:
    """One line stating the scale of the llm figure and of the estimator study (the profile's ``llm`` section)."""
    f, st = config["llm"], config["llm"]["study"]
    dense = (f"{st['dense_mdps']} dense MDPs ({st['dense_states']} states, |A| in {st['dense_actions']}) and "
             if st["dense_mdps"] else "")
    return (
        f"profile {config['profile']} llm: {min(f['n_mdps'], config['n_mdps'])} worlds x {f['steps']} steps at "
        f"|A| in {f['actions']}, regime {config['figure4']['regime']}: "
        f"{regime_text(config['regimes'][config['figure4']['regime']])}; study: {dense}{st['n_worlds']} small grid "
        f"worlds at |A| in {st['actions']}, {st['copies']} one-trajectory draws per MDP (seed {config['seed']})"
    )


def atlas_scale_text(config: dict) -> str:
    """One line stating the atlas's scale (the profile's ``atlas`` section)."""
    a = config["atlas"]
    flips = ", ".join(f"{r['action']}-{r['states']}" for r in a["flip_rules"])
    return (
        f"profile {config['profile']} atlas: eta {a['eta']} x terminals {a['terminal_mode']} x regimes "
        f"{a['regimes']}; {a['n_mdps']} worlds for Figs. 3 and 5 ({a['exact_n_mdps']} under the exact sampler), "
        f"{a['fig4_n_mdps']} for Fig. 4 at |A| in {a['actions']} ({a['exact_actions']} exact); "
        f"temperatures {a['temperatures']}; flip rules "
        f"{flips}; {a['steps']} steps, evaluated every {a['eval_every']} (seed {config['seed']})"
    )


def regime_text(regime: dict) -> str:
    """A regime in words, e.g. 'unroll of 20 steps, adam, exact critic (every 100)'."""
    if regime["sampler"] == "exact":
        return f"exact expected updates, {regime['optimiser']['kind']}"
    sampler = "whole episodes" if regime["sampler"] == "episode" else f"unrolls of {regime['unroll_length']} steps"
    critic = regime["critic"]
    crit = {"none": "no critic", "exact": f"exact critic (every {critic.get('every')} steps)",
            "td": f"TD({critic.get('lambda')}) critic"}[critic["kind"]]
    if critic["kind"] != "none":
        crit += f", lambda-returns {regime['return_lambda']:g}"
    return f"{sampler}, {regime['optimiser']['kind']}, {crit}"
