"""Claims to JSON and markdown, and the check of every claim with undecidable ones kept."""

from __future__ import annotations

import math

import numpy as np

from .record import Claim, fmt


def to_json(claims: list[Claim]) -> dict:
    """JSON-ready dict: {"claims": [...], "all_hold": bool}; non-finite numbers as strings;
    a claim that could not be checked has ``"holds": null``."""

    def clean(v):
        if isinstance(v, (bool, np.bool_)):
            return bool(v)
        if isinstance(v, (int, np.integer)):
            return int(v)
        if isinstance(v, (float, np.floating)):
            return float(v) if math.isfinite(v) else str(float(v))
        return v

    out = []
    for c in sorted(claims, key=lambda c: c.id):
        out.append({
            "id": c.id, "figure": c.figure, "statement": c.statement, "paper": c.paper,
            "measured": {k: clean(v) for k, v in c.measured.items()},
            "criterion": c.criterion, "sentence": c.sentence, "holds": None if c.holds is None else bool(c.holds),
            "justification": c.justification,
        })
    return {"claims": out, "all_hold": all(c["holds"] is True for c in out)}


def render_markdown(claims: list[Claim]) -> str:
    """A markdown table (claim, paper, ours, criterion, holds) and one line of justification per claim."""
    if not claims:
        raise ValueError("no claims to render")

    def cell(s: str) -> str:
        return s.replace("|", "\\|").replace("\n", " ")

    claims = sorted(claims, key=lambda c: c.id)
    lines = ["| claim | paper | ours | criterion | holds |", "|---|---|---|---|---|"]
    for c in claims:
        ours = "<br>".join(f"{k}: {fmt(v)}" for k, v in c.measured.items())
        lines.append(
            f"| {c.id}. {c.figure}: {cell(c.statement)} | {cell(c.paper)} | {cell(ours)} | {cell(c.criterion)} | "
            f"{ {True: '**yes**', False: '**no**', None: 'n/a'}[c.holds] } |"
        )
    n = sum(c.holds is True for c in claims)
    undecided = sum(c.holds is None for c in claims)
    why = "\n".join(f"- Claim {c.id} ({_verdict(c.holds)}): {c.justification}" for c in claims)
    quoted = "\n".join(f"- Claim {c.id}: {c.sentence}" for c in claims if c.sentence)
    head = f"{n} of {len(claims)} claims hold" + (f" ({undecided} could not be checked)" if undecided else "")
    tail = f"\n\nThe paper's sentences the criteria encode:\n\n{quoted}" if quoted else ""
    return head + ".\n\n" + "\n".join(lines) + "\n\n" + why + tail + "\n"


def _verdict(holds: bool | None) -> str:
    return {True: "holds", False: "fails", None: "not checked"}[holds]


def evaluate(specs, tables: dict, **params) -> list[Claim]:
    """Check every claim of ``specs`` (``ClaimSpec``) on ``tables`` (name -> table).

    A check whose inputs cannot decide it (ValueError: a missing table, method or
    setting) becomes a Claim with ``holds=None`` and the reason, so one thin result
    never hides the others.
    """
    out = []
    for spec in specs:
        try:
            missing = [name for name in spec.inputs if name not in tables]
            if missing:
                raise ValueError(f"missing tables {missing}")
            kwargs = {k: params[k] for k in spec.params}
            out.append(spec.check(*(tables[name] for name in spec.inputs), **kwargs))
        except ValueError as err:
            out.append(Claim(id=spec.id, figure=spec.figure, statement=f"SPEC section 5, claim {spec.id}", paper="",
                             holds=None, justification=f"not checkable with these results: {err}"))
    return out
