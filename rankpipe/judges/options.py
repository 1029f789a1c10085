"""The options of every judge backend, declared once as typed dataclass fields.

`rankpipe.options.parse_options` turns a spec's `key=value` items into one of these (unknown keys,
wrong types and out-of-range values named), `describe` gives the `--help` text, and `canonical` the
canonical `key=value,...` that a judge's cache identity carries for its identity options (those
marked `identity=True`; prompts enter identities by name and digest, weights by their source). The
backends' modules build their judges from these objects; this module imports nothing heavy, so the
help text of every backend is there without its extra."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from rankpipe.options import option

DEFAULT_MIN_MASS = 0.5
"""Below this share of the probability on the answer labels, an answer is counted invalid."""
DEFAULT_PREFIX_CACHE_MB = 1024
DEFAULT_LOGPROBS = 20
DEFAULT_TOKENIZER = "HuggingFaceTB/SmolLM2-135M-Instruct"


@dataclass(frozen=True)
class Prompts:
    """The prompt templates of a backend (names under prompts/ or file paths)."""

    prompt: str = option("prp", "pairwise prompt template")
    list_prompt: str = option("rankgpt", "listwise prompt template")
    set_prompt: str = option("setwise", "setwise prompt template")


@dataclass(frozen=True)
class HFOptions(Prompts):
    """`hf:MODEL,...`: a transformers model scored by its answer-token log-probabilities."""

    device: str = option("auto", "auto (a GPU when torch sees one), cpu, cuda, cuda:1, mps")
    dtype: str | None = option(
        None, "float32, bfloat16 or float16 (default: bf16 on a GPU)", identity=True
    )
    batch_size: int | None = option(
        None, "prompts per forward pass (default: 16 GPU, 1 CPU)", minimum=0
    )
    min_mass: float = option(
        DEFAULT_MIN_MASS, "least probability on the labels", identity=True, minimum=0
    )
    prefix_reuse: bool = option(True, "reuse the key-values of shared prompt prefixes")
    prefix_cache_mb: int = option(DEFAULT_PREFIX_CACHE_MB, "prefix cache size", minimum=0)
    fewshot: str | None = option(None, "a training set to retrieve pairwise examples from")
    shots: int = option(2, "examples per prompt with fewshot", minimum=0)


@dataclass(frozen=True)
class VLLMOptions(Prompts):
    """`vllm:MODEL,...`: an in-process vLLM engine."""

    dtype: str = option("auto", "the engine's dtype", identity=True)
    max_model_len: int | None = option(None, "the engine's context length", minimum=1)
    tensor_parallel_size: int = option(1, "GPUs per engine", minimum=0)
    gpu_memory_utilization: float = option(0.9, "share of GPU memory for the engine", minimum=0)
    enforce_eager: bool = option(False, "no CUDA graphs")
    min_mass: float = option(
        DEFAULT_MIN_MASS, "least probability on the labels", identity=True, minimum=0
    )
    prefix_caching: bool = option(True, "vLLM's automatic prefix caching")
    prefix_order: bool = option(True, "submit prompts sharing a prefix together")


@dataclass(frozen=True)
class OpenAIOptions(Prompts):
    """`openai:MODEL@URL[;URL...],...`: OpenAI-compatible completion servers."""

    concurrency: int = option(8, "requests in flight per server", minimum=1)
    timeout: float = option(60.0, "seconds per attempt, connect and all reads", minimum=0)
    retries: int = option(3, "more attempts after the first", minimum=0)
    backoff: float = option(0.5, "seconds before the first retry, doubling", minimum=0)
    recheck: float = option(30.0, "seconds before a down server is tried again", minimum=0)
    logprobs: int = option(DEFAULT_LOGPROBS, "top log-probabilities asked per token", minimum=0)
    format: Literal["chat", "plain"] = option("chat", "chat template (needs [hf]) or plain text")
    tokenizer: str | None = option(None, "the tokenizer of the chat template (default: MODEL)")


@dataclass(frozen=True)
class EmbedOptions:
    """`embed:MODEL,...`: a bi-encoder's cosine similarities as preferences."""

    temperature: float = option(
        0.05, "P(A) = sigmoid(cosine margin / temperature)", identity=True, minimum=0
    )
    device: str = option("auto", "auto, cpu, cuda, mps")
    batch_size: int = option(64, "texts per encoder batch", minimum=0)


@dataclass(frozen=True)
class SimOptions(Prompts):
    """`sim:...`: a simulated judge answering from relevance labels (or text overlap)."""

    qrels: str | None = option(None, "a qrels file (default: the data set's)")
    grades: Literal["overlap"] | None = option(None, "grade by query words instead of qrels")
    noise: float = option(0.0, "probability of flipping a preference", identity=True, minimum=0)
    bias: float = option(0.0, "probability of answering the first shown", identity=True, minimum=0)
    seed: int = option(0, "seed of the noise and bias draws", identity=True, minimum=0)
    latency: float = option(0.0, "seconds slept per judge call", minimum=0)
    tokens: bool | None = option(None, "count the tokens of the prompts it stands in for")
    tokenizer: str = option(DEFAULT_TOKENIZER, "the tokenizer those tokens are counted with")


BACKEND_OPTIONS: dict[str, type] = {
    "hf": HFOptions,
    "vllm": VLLMOptions,
    "openai": OpenAIOptions,
    "embed": EmbedOptions,
    "sim": SimOptions,
}
