"""The distillation training set: a `datasets.Dataset` with one row per query, saved as a folder.

Schema (Arrow types):

| column | type | what |
|---|---|---|
| qid | string | query id |
| query | string | query text |
| docids | list<string> | the query's candidates, in mining order (first stage or a teacher's run) |
| passages | list<string> | their texts, aligned with `docids` |
| teacher_scores | list<float64> | one pointwise teacher score per candidate (higher is better) |
| pairs | list<struct<i: int32, j: int32, p: float64>> | judged pairs: P(candidate i beats j) |

`i` and `j` index `docids`. The folder holds `training_set.parquet` (or, written by
`write_shards` as mining streams, `training_set-00000.parquet`, `-00001`, ..., read back as one
set), `metadata.json` (the
`TrainingSetInfo` fields: teacher judge identity, pair rule, orders, score source, counts, queries
skipped and why) and `mining.cost.json` (the executor's cost ledger of the mining run).

Teacher scores come from a pointwise source when one is given (`first-stage`: the candidates' own
scores; a TREC run file: its scores, a candidate it lacks gets the query's lowest score, counted),
else from the mined pairs with the Bradley-Terry aggregator (`bradley-terry`; a candidate in no
pair gets 0, the prior's mean). A query whose candidates are all tied (equal teacher scores and no
pair off 0.5) teaches nothing: it is left out, logged and listed in `skipped`.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import logging
import os
import shutil
import tempfile
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from rankpipe.cost import CostLedger
from rankpipe.data.types import Ranking
from rankpipe.distill.mining import Mined, MinedQuery
from rankpipe.errors import InputError
from rankpipe.strategies.aggregate import BradleyTerry

log = logging.getLogger(__name__)

DATA_FILE = "training_set.parquet"
INFO_FILE = "metadata.json"
COST_FILE = "mining.cost.json"
COLUMNS = ("qid", "query", "docids", "passages", "teacher_scores", "pairs")
SCORE_SOURCES = ("bradley-terry", "first-stage")


@dataclass(frozen=True)
class TrainingSetInfo:
    """What made a training set (stored as metadata.json beside it)."""

    teacher: str
    """The judge's identity (its cache key prefix)."""
    pairs_rule: str
    both_orders: bool
    score_source: str
    """`bradley-terry` (from the mined pairs), `first-stage`, or `run:PATH`."""
    queries: int
    judged_pairs: int
    inferences: int
    """Judge inferences the mining run itself made (cache hits excluded)."""
    skipped: dict[str, str] = field(default_factory=dict)
    """qid -> why the query was left out."""
    missing_scores: int = 0
    """Candidates a score run lacked (given the query's lowest score)."""
    created: str = ""


@dataclass(frozen=True)
class TrainingSet:
    data: Any
    """The `datasets.Dataset` (schema in the module docstring)."""
    info: TrainingSetInfo


def teacher_scores(
    query: MinedQuery, source: str, run: Mapping[str, Ranking] | None = None
) -> tuple[list[float], int]:
    """Pointwise teacher scores for a query's candidates, and how many a score run lacked."""
    candidates = query.item.candidates
    if source == "bradley-terry":
        return [float(s) for s in BradleyTerry().scores(len(candidates), query.pairs)], 0
    if source == "first-stage":
        return [float(c.score) for c in candidates], 0
    if run is None:
        raise ValueError(f"score source {source!r} needs a run")
    ranking = run.get(query.item.query.qid)
    scores = dict(zip(ranking.docids, ranking.scores, strict=True)) if ranking else {}
    lowest = min(scores.values(), default=0.0)
    values = [float(scores.get(c.docid, lowest)) for c in candidates]
    return values, sum(c.docid not in scores for c in candidates)


def build_training_set(
    mined: Mined,
    source: str = "bradley-terry",
    run: Mapping[str, Ranking] | None = None,
    run_name: str = "",
) -> TrainingSet:
    """The training set of a mining run; refuses one with no judged pairs (InputError)."""
    from datasets import Dataset

    rows: dict[str, list[Any]] = {name: [] for name in COLUMNS}
    skipped: dict[str, str] = {}
    missing = 0
    for query in mined.queries:
        qid = query.item.query.qid
        if not query.pairs and source == "bradley-terry":
            skipped[qid] = "no judged pairs"
            continue
        scores, lacked = teacher_scores(query, source, run)
        missing += lacked
        if len(set(scores)) <= 1 and all(p == 0.5 for _, _, p in query.pairs):
            skipped[qid] = "all candidates tied (equal teacher scores, every pair 0.5)"
            continue
        rows["qid"].append(qid)
        rows["query"].append(query.item.query.text)
        rows["docids"].append([c.docid for c in query.item.candidates])
        rows["passages"].append([c.text for c in query.item.candidates])
        rows["teacher_scores"].append(scores)
        rows["pairs"].append([{"i": i, "j": j, "p": p} for i, j, p in query.pairs])
    for qid, why in skipped.items():
        log.info("distill: query %s left out of the training set: %s", qid, why)
    if skipped:
        reasons = ", ".join(f"{n} {why}" for why, n in Counter(skipped.values()).items())
        log.warning(
            "distill: %d queries left out of the training set: %s (-v lists them)",
            len(skipped),
            reasons,
        )
    judged = sum(len(p) for p in rows["pairs"])
    if not rows["qid"]:
        raise InputError(
            f"the training set is empty: all {len(mined.queries)} queries were left out "
            f"({'; '.join(sorted(set(skipped.values())))})"
        )
    if judged == 0:
        raise InputError("the training set has no judged pairs: nothing to distill")
    if missing:
        log.warning(
            "distill: %d candidates missing from the score run got their query's lowest score",
            missing,
        )
    info = TrainingSetInfo(
        teacher=mined.judge,
        pairs_rule=str(mined.rule),
        both_orders=mined.both_orders,
        score_source=f"run:{run_name}" if run is not None else source,
        queries=len(rows["qid"]),
        judged_pairs=judged,
        inferences=int(mined.ledger.total()["inferences"]),
        skipped=skipped,
        missing_scores=missing,
        created=datetime.now(timezone.utc).isoformat(timespec="seconds"),
    )
    return TrainingSet(Dataset.from_dict(rows, features=features()), info)


def features() -> Any:
    """The Arrow schema of the training set, as `datasets.Features`."""
    from datasets import Features, Value

    return Features(  # a list in Features is a variable-length list in every datasets version
        {
            "qid": Value("string"),
            "query": Value("string"),
            "docids": [Value("string")],
            "passages": [Value("string")],
            "teacher_scores": [Value("float64")],
            "pairs": [{"i": Value("int32"), "j": Value("int32"), "p": Value("float64")}],
        }
    )


def save_training_set(
    training: TrainingSet,
    out: str | Path,
    ledger: CostLedger | None = None,
    overwrite: bool = False,
) -> Path:
    """Write the training set folder (atomically: a staging folder renamed into place)."""
    with staged_folder(out, overwrite, "training set") as folder:
        training.data.to_parquet(str(folder / DATA_FILE))
        (folder / INFO_FILE).write_text(json.dumps(asdict(training.info), indent=1) + "\n")
        if ledger is not None:
            ledger.write(folder / COST_FILE)
    return Path(out)


def write_shards(
    shards: Iterable[tuple[TrainingSet, CostLedger]], out: str | Path, overwrite: bool = False
) -> Path:
    """Write training sets as they come as shards of one folder (metadata summed, one cost ledger
    file per shard: nothing kept in memory beyond one shard)."""
    first: TrainingSetInfo | None = None
    queries = pairs = inferences = missing = 0
    skipped: dict[str, str] = {}
    with staged_folder(out, overwrite, "training set") as folder:
        for n, (shard, ledger) in enumerate(shards):
            shard.data.to_parquet(str(folder / f"{Path(DATA_FILE).stem}-{n:05d}.parquet"))
            ledger.write(folder / f"{Path(COST_FILE).stem}-{n:05d}.json")
            info = shard.info
            first = first or info
            queries += info.queries
            pairs += info.judged_pairs
            inferences += info.inferences
            missing += info.missing_scores
            skipped.update(info.skipped)
        if first is None:
            raise InputError("no queries to mine: the training set would be empty")
        total = replace(
            first,
            queries=queries,
            judged_pairs=pairs,
            inferences=inferences,
            skipped=skipped,
            missing_scores=missing,
        )
        (folder / INFO_FILE).write_text(json.dumps(asdict(total), indent=1) + "\n")
    return Path(out)


def data_files(folder: Path) -> list[Path]:
    """The training set's parquet file, or its shards in order."""
    single = folder / DATA_FILE
    if single.is_file():
        return [single]
    return sorted(folder.glob(f"{Path(DATA_FILE).stem}-*.parquet"))


def load_training_set(folder: str | Path) -> TrainingSet:
    """Read a folder written by `save_training_set` or `write_shards` (InputError when it is not
    one). The set comes back memory-mapped (`memory_mapped`): reading it holds one record batch,
    not the set, so a 500k-query set trains in the memory of a small one."""
    import pyarrow.parquet as pq

    folder = Path(folder)
    files, info_file = data_files(folder), folder / INFO_FILE
    data_file = files[0] if files else folder / DATA_FILE
    if not files or not info_file.is_file():
        raise InputError(
            f"{folder} is not a distillation training set (expected {DATA_FILE} and {INFO_FILE}; "
            "write one with rankpipe distill --mine-only)"
        )
    try:
        info = TrainingSetInfo(**json.loads(info_file.read_text()))
    except (json.JSONDecodeError, TypeError) as error:
        raise InputError(f"{info_file}: not a training set description ({error})") from None
    for file in files:
        missing = [c for c in COLUMNS if c not in pq.read_schema(file).names]
        if missing:
            raise InputError(f"{file}: lacks the columns {', '.join(missing)}")
    data = memory_mapped(files)
    if pair_count(data) == 0:
        raise InputError(f"{data_file}: the training set has no judged pairs: nothing to distill")
    return TrainingSet(data, info)


def memory_mapped(files: Sequence[Path], batch_rows: int = 1000) -> Any:
    """The parquet `files` as one memory-mapped `datasets.Dataset`: copied a record batch at a
    time into an Arrow stream file in a temporary folder (removed at exit), which the Dataset maps
    (what `datasets` itself does with its cache files; `Dataset.from_parquet` would write the same
    copy into the user's Hugging Face cache and keep it there). Later `map`s write beside it."""
    import pyarrow as pa
    import pyarrow.parquet as pq
    from datasets import Dataset

    schema = features().arrow_schema
    scratch = Path(tempfile.mkdtemp(prefix="rankpipe-training-set-"))
    atexit.register(shutil.rmtree, scratch, True)
    path = scratch / "data.arrow"
    with pa.OSFile(str(path), "wb") as sink, pa.ipc.new_stream(sink, schema) as writer:
        for file in files:
            for batch in pq.ParquetFile(file).iter_batches(batch_rows, columns=list(COLUMNS)):
                writer.write_table(pa.Table.from_batches([batch]).cast(schema))
    return Dataset.from_file(str(path))


def arrow_batches(data: Any, column: str, batch_rows: int = 1000) -> Iterator[Any]:
    """`column` of `data` (a Dataset, selections honoured) as Arrow arrays, a batch at a time."""
    for batch in data.select_columns([column]).with_format("arrow").iter(batch_rows):
        yield batch[column]


def pair_count(data: Any) -> int:
    """The number of judged pairs in `data`, read a batch at a time."""
    import pyarrow.compute as pc

    return sum(
        int(pc.sum(pc.list_value_length(b)).as_py() or 0) for b in arrow_batches(data, "pairs")
    )


def longest(data: Any, column: str) -> int:
    """The longest list in `data`'s list column `column`, read a batch at a time."""
    import pyarrow.compute as pc

    return max(
        (int(pc.max(pc.list_value_length(b)).as_py() or 0) for b in arrow_batches(data, column)),
        default=0,
    )


@contextlib.contextmanager
def staged_folder(out: str | Path, overwrite: bool, what: str) -> Iterator[Path]:
    """A fresh folder beside `out`, renamed to `out` when the block succeeds (deleted if it fails).
    An existing `out` is refused unless `overwrite`."""
    out = Path(out)
    if out.exists() and not overwrite:
        raise InputError(f"{out} exists; choose a new --out folder or pass --overwrite")
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}.", suffix=".partial"))
    try:
        yield staging
        if out.exists():
            retired = out.with_name(f".{out.name}.{os.getpid()}.replaced")
            out.rename(retired)
            staging.rename(out)
            shutil.rmtree(retired)
        else:
            staging.rename(out)
    finally:
        if staging.exists():
            shutil.rmtree(staging)
    log.info("wrote %s %s", what, out)


def pairs_of(row: Mapping[str, Any]) -> Sequence[tuple[int, int, float]]:
    """A row's judged pairs as (i, j, p) tuples."""
    return [(int(x["i"]), int(x["j"]), float(x["p"])) for x in row["pairs"]]
