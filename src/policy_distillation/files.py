"""Byte-identical output files: the same data always gives the same bytes.

Common writers leave the time of writing in their files (zip entries of
``np.savez``, the gzip header of ``pandas.to_csv``, a PDF's ``/CreationDate``),
so two runs of one config would differ byte for byte. These writers fix every
such field (zip entries dated 1980-01-01, gzip ``mtime=0``, no creation date),
which ``tests/test_files.py`` and the workflow test check.
"""

from __future__ import annotations

import gzip
import io
import zipfile
from pathlib import Path

import numpy as np

ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)


def save_npz(path: str | Path, arrays: dict) -> None:
    """Write ``arrays`` (name -> array) as a compressed ``.npz`` at exactly ``path``, deterministically.

    Readable with ``np.load``; object arrays are refused (no pickles).
    """
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name, value in arrays.items():
            buf = io.BytesIO()
            np.lib.format.write_array(buf, np.asanyarray(value), allow_pickle=False)
            info = zipfile.ZipInfo(f"{name}.npy", date_time=ZIP_EPOCH)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            zf.writestr(info, buf.getvalue())


def write_table(frame, path: str | Path) -> None:
    """A pandas DataFrame to CSV at ``path``; gzip-compressed with mtime 0 when the name ends in ``.gz``."""
    path = Path(path)
    text = frame.to_csv(index=False)
    if path.suffix == ".gz":
        with open(path, "wb") as fh, gzip.GzipFile(filename="", mode="wb", fileobj=fh, mtime=0) as gz:
            gz.write(text.encode())
    else:
        path.write_text(text)


def save_figure(fig, pdf: str | Path | None = None, png: str | Path | None = None, dpi: int = 150) -> None:
    """Save a matplotlib figure without time stamps (PDF CreationDate dropped; PNG has none)."""
    if pdf is not None:
        fig.savefig(pdf, bbox_inches="tight", metadata={"CreationDate": None})
    if png is not None:
        fig.savefig(png, dpi=dpi, bbox_inches="tight")
