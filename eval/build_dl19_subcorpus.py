"""Build the DL19 evaluation sub-corpus: the union of the passages (with texts) in the shared BM25
and Contriever top-100 candidate files, 7,230 passages. Written outside the repository's tracked
files (`eval/out/` is git-ignored): the data stays in the shared folder.

Usage: python eval/build_dl19_subcorpus.py [--data ../shared/data] [--out
eval/out/dl19_subcorpus.tsv]"""

from __future__ import annotations

import argparse
from pathlib import Path

from rankpipe.data.candidates import read_candidates
from rankpipe.data.corpus import write_corpus
from rankpipe.data.datasets import data_dir

SOURCES = ("dl19/bm25_top100.jsonl", "dl19/contriever_top100.jsonl")
DEFAULT_OUT = Path(__file__).resolve().parent / "out" / "dl19_subcorpus.tsv"


def subcorpus(data: Path) -> dict[str, str]:
    """docid -> text over every hit of the source files (a docid seen twice has one text)."""
    corpus: dict[str, str] = {}
    for source in SOURCES:
        for item in read_candidates(data / source):
            for candidate in item.candidates:
                text = " ".join(candidate.text.split())
                if corpus.setdefault(candidate.docid, text) != text:
                    raise ValueError(f"{source}: passage {candidate.docid} has two different texts")
    return corpus


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=data_dir(), help="folder holding dl19/")
    parser.add_argument(
        "--out", type=Path, default=DEFAULT_OUT, help="TSV to write (docid<TAB>text)"
    )
    args = parser.parse_args()
    corpus = subcorpus(args.data)
    write_corpus(corpus, args.out)
    print(f"wrote {len(corpus)} passages to {args.out}")


if __name__ == "__main__":
    main()
