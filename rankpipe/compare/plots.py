"""The comparison's figures (matplotlib, Agg canvas; no global pyplot state): effectiveness
against LLM calls with the Pareto frontier, LLM calls against batch size, and effectiveness against
tokens and estimated time (one frontier: tokens and seconds make every kind of call comparable).
matplotlib (the `plots` extra) is imported when a figure is drawn."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rankpipe.atomic import atomic_write
from rankpipe.compare.summary import Row, Summary
from rankpipe.extras import require

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

DPI = 90


def pareto_frontier(points: Sequence[tuple[float, float]]) -> list[int]:
    """Indices of the points no other point beats (fewer or equal cost and a higher value, or lower
    cost and an equal value), by increasing cost."""
    order = sorted(range(len(points)), key=lambda i: (points[i][0], -points[i][1]))
    frontier: list[int] = []
    for i in order:
        if not frontier or points[i][1] > points[frontier[-1]][1]:
            frontier.append(i)
    return frontier


def plot_pareto(summary: Summary, path: str | Path) -> None:
    """One panel per batch size: the primary metric against LLM calls per query (with a cache),
    with the Pareto frontiers of pairwise (solid) and listwise (dotted) strategies drawn and
    labelled apart, their calls not being alike; colour = strategy, marker = orders."""
    require("matplotlib", "plots", "drawing the comparison's figures")
    from matplotlib.figure import Figure

    rows = _paying(summary.rows)
    sizes = summary.batch_sizes
    columns = min(3, len(sizes))
    lines = -(-len(sizes) // columns)
    figure = Figure(figsize=(4.2 * columns, 3.3 * lines + 0.8), dpi=DPI, layout="constrained")
    axes = figure.subplots(lines, columns, sharey=True, squeeze=False).flatten()
    colors = _colors(rows)
    for ax, size in zip(axes, sizes, strict=False):
        points = [(r.cost.calls[size], r.metrics[summary.primary]) for r in rows]
        for row, (x, y) in zip(rows, points, strict=True):
            ax.scatter([x], [y], color=colors[row.strategy], marker=_marker(row), s=20, zorder=3)
        for requests, style in (("pairwise", "-"), ("listwise", ":")):
            kind = [i for i, r in enumerate(rows) if r.requests == requests]
            frontier = [kind[j] for j in pareto_frontier([points[i] for i in kind])]
            ax.step(
                [points[i][0] for i in frontier],
                [points[i][1] for i in frontier],
                where="post",
                color="0.4",
                lw=0.8,
                ls=style,
                zorder=2,
            )
            for i in frontier:
                ax.annotate(
                    rows[i].label, points[i], fontsize=6, xytext=(3, -8), textcoords="offset points"
                )
        _first_stage_line(ax, summary)
        _log_if_wide(ax, [p[0] for p in points])
        ax.set_title(f"batch size {size}", fontsize=9)
        ax.set_xlabel("LLM calls per query", fontsize=8)
        ax.set_ylabel(summary.primary, fontsize=8)
        ax.tick_params(which="both", labelsize=7)
    for ax in axes[len(sizes) :]:
        ax.set_axis_off()
    _legend(figure, rows, colors)
    _save(figure, path)


def plot_cost_pareto(summary: Summary, batch_size: int, path: str | Path) -> None:
    """Four panels: the primary metric against prompt tokens, completion tokens, and the
    estimated GPU-seconds and latency at `batch_size` (all per query), each with its frontier."""
    require("matplotlib", "plots", "drawing the comparison's figures")
    from matplotlib.figure import Figure

    rows = [r for r in _paying(summary.rows) if r.time is not None]
    model = summary.cost_model
    assert model is not None
    panels = [
        ("prompt tokens per query", [r.cost.prompt_tokens for r in rows]),
        ("completion tokens per query", [r.cost.completion_tokens for r in rows]),
        (
            f"estimated GPU-seconds per query (b={batch_size})",
            [r.time[batch_size].gpu_s for r in rows if r.time],
        ),
        (
            f"estimated latency per query, s (b={batch_size})",
            [r.time[batch_size].latency_s for r in rows if r.time],
        ),
    ]
    figure = Figure(figsize=(9.5, 7.6), dpi=DPI, layout="constrained")
    axes = figure.subplots(2, 2, sharey=True).flatten()
    colors = _colors(rows)
    values = [r.metrics[summary.primary] for r in rows]
    for ax, (label, costs) in zip(axes, panels, strict=True):
        points = list(zip(costs, values, strict=True))
        for row, (x, y) in zip(rows, points, strict=True):
            ax.scatter([x], [y], color=colors[row.strategy], marker=_marker(row), s=20, zorder=3)
        frontier = pareto_frontier(points)
        ax.step(
            [points[i][0] for i in frontier],
            [points[i][1] for i in frontier],
            where="post",
            color="0.4",
            lw=0.8,
            zorder=2,
        )
        for i in frontier:
            ax.annotate(
                rows[i].label, points[i], fontsize=6, xytext=(3, -8), textcoords="offset points"
            )
        _first_stage_line(ax, summary)
        _log_if_wide(ax, costs)
        ax.set_xlabel(label, fontsize=8)
        ax.set_ylabel(summary.primary, fontsize=8)
        ax.tick_params(which="both", labelsize=7)
    figure.suptitle(
        f"time: estimates from the {model.name} cost model ({_short(model.source)})", fontsize=8
    )
    _legend(figure, rows, colors)
    _save(figure, path)


def _short(text: str, width: int = 110) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def plot_calls(summary: Summary, path: str | Path) -> None:
    """LLM calls per query against batch size, with and without a cache; colour = strategy,
    solid = both orders, dashed = one order."""
    require("matplotlib", "plots", "drawing the comparison's figures")
    from matplotlib.figure import Figure

    rows = _paying(summary.rows)
    sizes = list(summary.batch_sizes)
    figure = Figure(figsize=(9, 4.4), dpi=DPI, layout="constrained")
    axes = figure.subplots(1, 2, sharey=True)
    colors = _colors(rows)
    for ax, cached in zip(axes, (True, False), strict=True):
        for row in rows:
            calls = row.cost.calls if cached else row.cost.calls_without_cache
            ax.plot(
                sizes,
                [calls[b] for b in sizes],
                marker=_marker(row),
                ms=3,
                lw=1,
                ls="-" if row.orders == "both" else "--",
                color=colors[row.strategy],
            )
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xticks(sizes, [str(b) for b in sizes])
        ax.set_title("with a cache" if cached else "without a cache", fontsize=9)
        ax.set_xlabel("batch size (prompts per call)", fontsize=8)
        ax.tick_params(which="both", labelsize=7)
        ax.grid(True, which="major", lw=0.3)
    axes[0].set_ylabel("LLM calls per query", fontsize=8)
    _legend(figure, rows, colors)
    _save(figure, path)


def _paying(rows: Sequence[Row]) -> list[Row]:
    """Rows that ask the judge something (a free baseline has no place on a log cost axis)."""
    return [r for r in rows if r.cost.distinct_prompts > 0]


def _colors(rows: Sequence[Row]) -> dict[str, tuple[float, float, float, float]]:
    """One colour per strategy spec (its one-order and both-order rows share it)."""
    from matplotlib import colormaps

    specs = list(dict.fromkeys(r.strategy for r in rows))
    palette = colormaps["tab10" if len(specs) <= 10 else "tab20"]
    return {spec: palette(i % palette.N) for i, spec in enumerate(specs)}


def _marker(row: Row) -> str:
    return "o" if row.orders == "both" else "^"


def _legend(figure: Figure, rows: Sequence[Row], colors: dict[str, Any]) -> None:
    from matplotlib.lines import Line2D

    handles = [Line2D([], [], color=c, marker="o", lw=0, label=spec) for spec, c in colors.items()]
    if any(r.orders != "both" for r in rows):
        handles += [
            Line2D([], [], color="0.3", marker="o", ls="-", label="both orders"),
            Line2D([], [], color="0.3", marker="^", ls="--", label="one order"),
        ]
    figure.legend(
        handles=handles, loc="outside lower center", ncols=min(6, len(handles)), fontsize=7
    )


def _first_stage_line(ax: Axes, summary: Summary) -> None:
    value = summary.first_stage.get(summary.primary)
    if value is not None:
        ax.axhline(value, color="0.6", lw=0.8, ls=":")
        ax.annotate(
            "first stage",
            (0.01, value),
            xycoords=("axes fraction", "data"),
            fontsize=6,
            color="0.4",
            xytext=(0, 2),
            textcoords="offset points",
        )


def _log_if_wide(ax: Axes, values: Sequence[float]) -> None:
    from matplotlib.ticker import NullFormatter

    positive = [v for v in values if v > 0]
    if positive and max(positive) > 20 * min(positive):
        ax.set_xscale("log")
        ax.xaxis.set_minor_formatter(NullFormatter())  # minor labels crowd a wide log axis


def _save(figure: Figure, path: str | Path) -> None:
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(figure)
    with atomic_write(path, "wb") as out:
        figure.savefig(out, format="png")
