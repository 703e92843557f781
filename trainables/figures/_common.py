"""What every figure shares: a figure without pyplot (``new_figure``), colours and orders that stay the same
across a report's figures, labels, input checks, and the deterministic files (``save_figure``)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Sequence

import matplotlib
import pandas as pd
from matplotlib import colormaps
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import to_rgba
from matplotlib.figure import Figure

PNG_DPI = 150
# matplotlib warns of every font it falls back from (mathtext asks for STIX and Computer Modern, which a plain
# machine lacks: twenty lines per sweep); the fallback (DejaVu Sans) draws the same text.
logging.getLogger("matplotlib.font_manager").setLevel(logging.ERROR)
# Fixed salt for the ids matplotlib writes into SVGs (clip paths, glyphs): without it they are random per
# save and two saves of one figure differ.
SVG_HASH_SALT = "sslsweep-report"


def new_figure(figsize: tuple[float, float]) -> Figure:
    """A constrained-layout figure with an Agg canvas of its own, outside pyplot's figure manager."""
    fig = Figure(figsize=figsize, layout="constrained")
    # An explicit Agg canvas: drawing/text extents work without pyplot and without a display.
    FigureCanvasAgg(fig)
    return fig


def sorted_unique(values: Sequence[Any] | pd.Series) -> list[Any]:
    """The distinct values, numbers (also as text) in numeric order, others sorted (by text where types mix)."""
    unique = list(pd.unique(pd.Series(values)))
    numbers = pd.to_numeric(pd.Series(unique, dtype="object"), errors="coerce")
    if len(unique) and numbers.notna().all():  # class labels "1".."10" (UCR files): 2 before 10, not after
        return [value for _, value in sorted(zip(numbers, unique), key=lambda pair: pair[0])]
    try:
        return sorted(unique)
    except TypeError:  # mixed types (e.g. ints and strings): order by text, still deterministic
        return sorted(unique, key=str)


def palette(n: int) -> list[tuple[float, float, float, float]]:
    """n distinct colours: tab10, tab20 beyond 10, an evenly sampled colormap beyond 20."""
    if n <= 10:
        return [to_rgba(c) for c in colormaps["tab10"].colors[:n]]
    if n <= 20:
        return [to_rgba(c) for c in colormaps["tab20"].colors[:n]]
    cmap = colormaps["turbo"]
    return [cmap(i / max(n - 1, 1)) for i in range(n)]


def colours_for(keys: Sequence[Any]) -> dict[Any, tuple[float, float, float, float]]:
    """Colour per key in sorted order, so the same series gets the same colour in every figure of a report
    that shows the same set of series, whatever order the rows came in."""
    ordered = sorted_unique(keys)
    return dict(zip(ordered, palette(len(ordered))))


def require_columns(frame: pd.DataFrame, columns: Sequence[str], what: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ValueError(f"{what} needs columns {list(columns)}; missing {missing} (has {list(frame.columns)})")


def percent(fraction: float) -> str:
    # 0.1 * 100 is 10.000000000000002: round before the shortest form.
    return f"{round(fraction * 100, 6):g} %"


def join_label(value: Any) -> str:
    if isinstance(value, tuple):
        return " / ".join(str(v) for v in value)
    return str(value)


def save_figure(fig: Figure, directory: str | Path, name: str, formats: tuple[str, ...] = ("png", "svg")) -> list[Path]:
    """Write ``name.png`` (150 dpi) and ``name.svg`` (or only the ``formats`` named) into ``directory`` (created),
    return their paths.

    Deterministic: the PNG carries no Software entry and the SVG no Date (matplotlib writes the current
    time there by default), and the SVG ids use a fixed salt, so saving the same figure twice gives
    byte-identical files and re-generated reports only differ where the data did.
    """
    if not name or Path(name).name != name or name in (".", ".."):
        raise ValueError(f"figure name '{name}' must be a plain file name without directories")
    unknown = set(formats) - {"png", "svg"}
    if unknown:
        raise ValueError(f"figure formats {sorted(unknown)} unknown; known: png, svg")
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    with matplotlib.rc_context({"svg.hashsalt": SVG_HASH_SALT}):
        if "png" in formats:
            paths.append(directory / f"{name}.png")
            fig.savefig(paths[-1], format="png", dpi=PNG_DPI, bbox_inches="tight", metadata={"Software": None})
        if "svg" in formats:
            paths.append(directory / f"{name}.svg")
            fig.savefig(paths[-1], format="svg", bbox_inches="tight", metadata={"Date": None})
    return paths
