"""Write a comparison to a folder: a Markdown report, a CSV table, `compare.json` (what
`rankpipe plan` reads), each strategy's TREC run and cost ledger, three PNG figures, and
`timecost.json`, the time cost model fitted on this comparison's judge calls (a `--cost-model`
file for later comparisons and plans)."""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path

from rankpipe.atomic import atomic_write
from rankpipe.compare.experiment import Experiment
from rankpipe.compare.plots import plot_calls, plot_cost_pareto, plot_pareto
from rankpipe.compare.summary import SIGNIFICANCE, Spend, Summary
from rankpipe.data.trec import write_run
from rankpipe.forms import FORMS

RESULTS_FILE = "compare.json"
FORMAT_VERSION = 1


def write_report(
    experiment: Experiment,
    summary: Summary,
    folder: str | Path,
    *,
    judge: str,
    source: Sequence[str],
) -> list[Path]:
    """Write everything into `folder`; `judge` is the judge spec and `source` the candidate options
    (e.g. `--dataset dl19 --depth 100`), both kept so that a plan can print the command to run."""
    folder = Path(folder)
    files: dict[str, tuple[str, str]] = {}
    for index, trial in enumerate(experiment.trials):
        stem = f"{index:02d}-{_slug(trial.configuration.label)}"
        run_file, cost_file = f"runs/{stem}.trec", f"costs/{stem}.cost.json"
        write_run(trial.run, folder / run_file, tag=f"rankpipe-{_slug(trial.configuration.spec)}")
        trial.ledger.write(folder / cost_file)
        files[trial.configuration.label] = (run_file, cost_file)
    with atomic_write(folder / "compare.md") as out:
        out.write(render_markdown(experiment, summary, judge, source))
    _write_csv(summary, folder / "compare.csv")
    plot_pareto(summary, folder / "pareto.png")
    plot_calls(summary, folder / "calls_by_batch_size.png")
    names = ["compare.md", "compare.csv", "pareto.png", "calls_by_batch_size.png"]
    if summary.cost_model is not None:
        plot_cost_pareto(summary, cost_batch_size(experiment, summary), folder / COST_FIGURE)
        names.append(COST_FIGURE)
    if summary.fitted is not None:
        summary.fitted.write(folder / FITTED_FILE)
        names.append(FITTED_FILE)
    _write_json(experiment, summary, files, folder / RESULTS_FILE, judge, source)  # last: complete
    return [folder / name for name in [*names, RESULTS_FILE]]


COST_FIGURE = "pareto_tokens_time.png"
FITTED_FILE = "timecost.json"


def cost_batch_size(experiment: Experiment, summary: Summary) -> int:
    """The batch size of the token and time figure: the measured runs' if it is costed, else the
    largest costed one."""
    sizes = summary.batch_sizes
    return experiment.batch_size if experiment.batch_size in sizes else max(sizes)


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9.=-]+", "_", text).strip("_")


def _write_json(
    experiment: Experiment,
    summary: Summary,
    files: dict[str, tuple[str, str]],
    path: Path,
    judge: str,
    source: Sequence[str],
) -> None:
    record = {
        "format": FORMAT_VERSION,
        "judge": judge,
        "judge_identity": experiment.judge,
        "source": list(source),
        "queries": len(experiment.first_stage.per_query),
        "top_k": experiment.top_k,
        "batch_size": experiment.batch_size,
        "batch_sizes": list(summary.batch_sizes),
        "primary": summary.primary,
        "best": summary.best,
        "first_stage": summary.first_stage,
        "time_models": {kind: asdict(model) for kind, model in summary.time_models.items()},
        "cost_model": summary.cost_model.to_dict() if summary.cost_model else None,
        "fitted_cost_model": summary.fitted.to_dict() if summary.fitted else None,
        "configurations": [
            {
                "label": row.label,
                "strategy": row.strategy,
                "both_orders": row.orders == "both",  # the file format's key (version 1)
                "requests": row.requests,
                "run": files[row.label][0],
                "cost": files[row.label][1],
                "metrics": row.metrics,
                "p_vs_best": row.p_vs_best,
                "standalone": asdict(row.cost),
                "predicted_s": row.predicted_s,
                "estimated_time": {b: asdict(e) for b, e in row.time.items()} if row.time else None,
                "spend": asdict(row.spend),
            }
            for row in summary.rows
        ],
        "total_spend": asdict(summary.total_spend()),
    }
    with atomic_write(path) as out:
        json.dump(record, out, indent=1)
        out.write("\n")


def _write_csv(summary: Summary, path: Path) -> None:
    sizes = summary.batch_sizes
    metrics = list(summary.rows[0].metrics) if summary.rows else []
    header = [
        "strategy",
        "both_orders",
        "requests",
        *metrics,
        f"p_vs_best_{summary.primary}",
        "comparisons",
        "prompts",
        "distinct_prompts",
        "rounds",
        "prompt_tokens",
        "completion_tokens",
        *(f"calls_b{b}" for b in sizes),
        *(f"calls_no_cache_b{b}" for b in sizes),
        *(f"predicted_s_b{b}" for b in sizes),
        *(f"est_gpu_s_b{b}" for b in sizes),
        *(f"est_latency_s_b{b}" for b in sizes),
        "run_inferences",
        "run_judge_calls",
        "run_prompt_tokens",
        "run_completion_tokens",
        "run_wall_s",
    ]
    with atomic_write(path) as out:
        writer = csv.writer(out)
        writer.writerow(header)
        for row in summary.rows:
            cost, spend = row.cost, row.spend
            predicted = [_number(row.predicted_s[b], 6) if row.predicted_s else "" for b in sizes]
            writer.writerow(
                [
                    row.strategy,
                    row.orders == "both",
                    row.requests,
                    *(_number(row.metrics[m], 6) for m in metrics),
                    _number(row.p_vs_best[summary.primary], 6)
                    if summary.primary in row.p_vs_best
                    else "",
                    *(
                        _number(v, 3)
                        for v in (
                            cost.comparisons,
                            cost.prompts,
                            cost.distinct_prompts,
                            cost.rounds,
                            cost.prompt_tokens,
                            cost.completion_tokens,
                        )
                    ),
                    *(_number(cost.calls[b], 3) for b in sizes),
                    *(_number(cost.calls_without_cache[b], 3) for b in sizes),
                    *predicted,
                    *(_number(row.time[b].gpu_s, 6) if row.time else "" for b in sizes),
                    *(_number(row.time[b].latency_s, 6) if row.time else "" for b in sizes),
                    spend.inferences,
                    spend.judge_calls,
                    spend.prompt_tokens,
                    spend.completion_tokens,
                    _number(spend.wall_s, 3),
                ]
            )


def _number(value: float, digits: int) -> float:
    return round(value, digits)


def render_markdown(
    experiment: Experiment, summary: Summary, judge: str, source: Sequence[str]
) -> str:
    sizes = summary.batch_sizes
    metrics = list(experiment.metrics)
    primary = summary.primary
    queries = len(experiment.first_stage.per_query)
    lines = [
        "# Strategy comparison",
        "",
        f"{queries} judged queries (`{' '.join(source)}`), judge `{judge}`, "
        f"top-{experiment.top_k}; both orders unless marked.",
        "Costs are per query (mean over queries) as if each strategy had run alone on an empty "
        "cache. LLM calls follow Wisznia et al. (2025): a round of m independent prompts costs "
        "ceil(m/b) calls at batch size b; with a cache m counts distinct prompts, without one "
        "every prompt asked.",
        "",
        "First stage: " + ", ".join(f"{m} {summary.first_stage[m]:.4f}" for m in metrics) + ".",
        "",
        "## Effectiveness and stand-alone cost",
        "",
    ]
    lines += _effectiveness_table(summary, metrics)
    lines += [
        "",
        f"`*`: significantly different from the best strategy ({summary.best}, by {primary}): "
        f"paired two-sided t-test over queries, Holm-corrected per metric, p < {SIGNIFICANCE}. "
        "Prompts count repeats (comparisons x orders); distinct prompts are what a cache leaves "
        "to run (the calls at b=1).",
        "",
        "## LLM calls per query without a cache",
        "",
    ]
    lines += _table(
        ["strategy", *(f"b={b}" for b in sizes)],
        [[r.label, *(_count(r.cost.calls_without_cache[b]) for b in sizes)] for r in summary.rows],
    )
    lines += ["", "## Cheapest pairwise strategy at each batch size", ""]
    lines += _cheapest_table(summary)
    lines += ["", "## Time", ""]
    lines += _time_section(summary)
    lines += ["", "## Estimated time from tokens", ""]
    lines += _estimate_section(summary, cost_batch_size(experiment, summary))
    lines += ["", "## What this comparison actually spent", ""]
    lines += _spend_section(summary, experiment)
    lines += [
        "",
        "![effectiveness against LLM calls](pareto.png)",
        "",
        "![LLM calls against batch size](calls_by_batch_size.png)",
        "",
    ]
    if summary.cost_model is not None:
        lines += [f"![effectiveness against tokens and estimated time]({COST_FIGURE})", ""]
    return "\n".join(lines)


def _effectiveness_table(summary: Summary, metrics: Sequence[str]) -> list[str]:
    """One row per strategy: its metrics (starred where significantly worse than the best), p
    against the best, and its stand-alone cost."""
    sizes, primary = summary.batch_sizes, summary.primary
    header = [
        "strategy",
        *metrics,
        f"p vs best ({primary})",
        "comparisons",
        "prompts",
        "distinct prompts",
        "rounds",
        "tokens",
        *(f"calls b={b}" for b in sizes),
    ]
    body = []
    for row in summary.rows:
        cost = row.cost
        cells = [f"{row.metrics[m]:.4f}{'*' if row.differs_from_best(m) else ''}" for m in metrics]
        p = row.p_vs_best.get(primary)
        body.append(
            [
                f"**{row.label}**" if row.label == summary.best else row.label,
                *cells,
                "best" if row.label == summary.best else (f"{p:.3g}" if p is not None else "n/a"),
                _count(cost.comparisons),
                _count(cost.prompts),
                _count(cost.distinct_prompts),
                _count(cost.rounds),
                _count(cost.prompt_tokens + cost.completion_tokens),
                *(_count(cost.calls[b]) for b in sizes),
            ]
        )
    return _table(header, body)


def _cheapest_table(summary: Summary) -> list[str]:
    primary = summary.primary
    body = []
    for b in summary.batch_sizes:
        cells = [str(b)]
        for cached, as_good in ((True, False), (True, True), (False, False)):
            row = summary.cheapest(b, cached=cached, as_good_as_best=as_good)
            calls = (row.cost.calls if cached else row.cost.calls_without_cache)[b] if row else 0.0
            cells += (
                [row.label, _count(calls), f"{row.metrics[primary]:.4f}"]
                if row
                else ["n/a", "", ""]
            )
        body.append(cells)
    header = [
        "batch size",
        "cheapest",
        "calls",
        primary,
        "cheapest as good as the best",
        "calls",
        primary,
        "cheapest without a cache",
        "calls",
        primary,
    ]
    notes = [
        f'"As good as the best": no significant {primary} loss against {summary.best} '
        f"(p >= {SIGNIFICANCE})."
    ]
    listwise = [r for r in summary.rows if r.requests != "pairwise" and r.cost.distinct_prompts]
    if listwise:
        listwise_calls = "; ".join(
            f"{r.label} ({r.requests}): "
            + ", ".join(f"{_count(r.cost.calls[b])} at b={b}" for b in summary.batch_sizes)
            for r in listwise
        )
        notes.append(
            f"Left out because a listwise call ranks a whole block, a larger prompt than a pair "
            f"(compare tokens instead): {listwise_calls}."
        )
    return [*_table(header, body), "", *notes]


def _time_section(summary: Summary) -> list[str]:
    if not summary.time_models:
        return [
            "No judge call was made (every answer came from the cache), so no time model was "
            "fitted; rerun with a fresh `--cache` or `--no-cache` to measure."
        ]
    lines = [
        f"Per-call time model ({FORMS[kind].style} calls): {model.describe()}."
        for kind, model in summary.time_models.items()
    ]
    sizes = summary.batch_sizes
    lines += ["", "Predicted stand-alone seconds per query, one call after another:", ""]
    lines += _table(
        ["strategy", *(f"b={b}" for b in sizes)],
        [
            [r.label, *(f"{r.predicted_s[b]:.3g}" if r.predicted_s else "n/a" for b in sizes)]
            for r in summary.rows
        ],
    )
    return lines


def _estimate_section(summary: Summary, at: int) -> list[str]:
    model = summary.cost_model
    if model is None:
        return ["No time cost model: no judge call was measured and no `--cost-model` was given."]
    sizes = summary.batch_sizes
    lines = [
        f"Estimates, not measurements. Time cost model {model.describe()}.",
        "",
        "GPU-seconds (the sum of the calls' times) and latency (the sum over sequential rounds of "
        "each round's slowest call, the round's calls side by side) per query, stand-alone, at "
        "each batch size; tokens are those of the distinct prompts a query needs.",
        "",
    ]
    header = [
        "strategy",
        summary.primary,
        "prompt tokens",
        "completion tokens",
        *(f"GPU-s b={b}" for b in sizes),
        *(f"latency s b={b}" for b in sizes),
    ]
    body = [
        [
            row.label,
            f"{row.metrics[summary.primary]:.4f}",
            _count(row.cost.prompt_tokens),
            _count(row.cost.completion_tokens),
            *(_seconds(row.time[b].gpu_s) if row.time else "n/a" for b in sizes),
            *(_seconds(row.time[b].latency_s) if row.time else "n/a" for b in sizes),
        ]
        for row in summary.rows
    ]
    lines += _table(header, body)
    if summary.fitted is not None and summary.fitted is not model:
        lines += ["", f"Fitted on this comparison's own calls: {summary.fitted.describe()}."]
    lines += ["", f"The figure `{COST_FIGURE}` draws these at batch size {at}."]
    return lines


def _seconds(value: float) -> str:
    return f"{value:.3g}"


def _spend_section(summary: Summary, experiment: Experiment) -> list[str]:
    header = [
        "strategy",
        "prompts run",
        "judge calls",
        "tokens",
        "judge s measured",
        "judge s predicted",
        "wall s",
    ]
    body = [_spend_cells(r.label, r.spend) for r in summary.rows]
    body.append(_spend_cells("**total**", summary.total_spend()))
    standalone = sum(r.cost.distinct_prompts * r.cost.queries for r in summary.rows)
    ran = summary.total_spend().inferences
    saved = 1 - ran / standalone if standalone else 0.0
    return [
        "All strategies shared one judgment cache; judge calls held up to "
        f"{experiment.batch_size} prompts (batches span queries). A strategy's prompts found in "
        "the cache cost it nothing here.",
        "",
        *_table(header, body),
        "",
        f"Run alone, the strategies would have needed {standalone:,.0f} prompts; the comparison "
        f"ran {ran:,} ({saved:.0%} saved by sharing the cache).",
    ]


def _spend_cells(label: str, spend: Spend) -> list[str]:
    predicted = f"{spend.predicted_judge_s:.3g}" if spend.predicted_judge_s is not None else "n/a"
    return [
        label,
        f"{spend.inferences:,}",
        f"{spend.judge_calls:,}",
        f"{spend.prompt_tokens + spend.completion_tokens:,}",
        f"{spend.judge_s:.3g}",
        predicted,
        f"{spend.wall_s:.3g}",
    ]


def _count(value: float) -> str:
    return f"{value:,.0f}" if value >= 1000 else f"{value:.1f}"


def _table(header: Sequence[str], body: Sequence[Sequence[str]]) -> list[str]:
    return [
        "| " + " | ".join(header) + " |",
        "|" + "|".join("---" if i == 0 else "---:" for i in range(len(header))) + "|",
        *("| " + " | ".join(cells) + " |" for cells in body),
    ]
