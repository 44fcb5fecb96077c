"""Byte-identical writers (files.py): equal data gives equal bytes, whenever written."""

from __future__ import annotations

import gzip
import hashlib
import time

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from policy_distillation import files


def sha(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_npz_is_byte_identical_and_readable(tmp_path, monkeypatch):
    arrays = {"a": np.arange(5.0), "b": np.array("text"), "c": np.ones((2, 3), dtype=np.int8)}
    files.save_npz(tmp_path / "one.npz", arrays)
    monkeypatch.setattr(time, "time", lambda: 2e9)  # a different clock must not matter
    files.save_npz(tmp_path / "two.npz", arrays)
    assert sha(tmp_path / "one.npz") == sha(tmp_path / "two.npz")
    with np.load(tmp_path / "one.npz") as z:
        assert sorted(z.files) == ["a", "b", "c"] and z["c"].dtype == np.int8 and str(z["b"]) == "text"


def test_gzipped_table_has_no_time_stamp(tmp_path):
    df = pd.DataFrame({"x": [1, 2], "y": ["a", "b"]})
    files.write_table(df, tmp_path / "t.csv.gz")
    raw = (tmp_path / "t.csv.gz").read_bytes()
    assert raw[4:8] == b"\0\0\0\0"  # gzip MTIME field
    assert gzip.decompress(raw).decode() == df.to_csv(index=False)
    files.write_table(df, tmp_path / "t.csv")
    assert (tmp_path / "t.csv").read_text() == df.to_csv(index=False)


def test_figures_are_byte_identical(tmp_path):
    for name in ("a", "b"):
        fig, ax = plt.subplots()
        ax.plot([0, 1], [1, 0])
        files.save_figure(fig, pdf=tmp_path / f"{name}.pdf", png=tmp_path / f"{name}.png")
        plt.close(fig)
        time.sleep(1.1)  # the PDF date has a resolution of seconds
    assert sha(tmp_path / "a.pdf") == sha(tmp_path / "b.pdf")
    assert sha(tmp_path / "a.png") == sha(tmp_path / "b.png")
    assert b"CreationDate" not in (tmp_path / "a.pdf").read_bytes()
