"""The `hf` judge: transformers models, causal LMs and encoder-decoders (FLAN-T5 style).

    hf:MODEL_OR_PATH[,prompt=prp,list_prompt=rankgpt,set_prompt=setwise,device=auto,dtype=...,
                     batch_size=...,min_mass=0.5,prefix_reuse=true,prefix_cache_mb=1024]

Pairwise, after PRP (Qin et al. 2023, "Large Language Models are Effective Text Rankers with
Pairwise Ranking Prompting"): the prompt ends where the answer's choice token comes ("... Passage");
one forward pass, no sampling, gives the log-probabilities of the two choice tokens (" A", " B") at
that position, and P(A) = P(A) / (P(A) + P(B)). The answer is "neither" when P(A) + P(B) under the
full softmax is below `min_mass`: it is then invalid and scored 0.5 (counted, logged once per call).

Setwise, after Zhuang et al. 2024 ("A Setwise Approach to Effective and Highly Efficient Zero-Shot
Ranking with Large Language Models"): the `set_prompt` template labels a set's passages A, B, C,
...; one forward pass gives the labels' log-probabilities at the answer position, renormalised
over the labels shown: P(each passage is the most relevant). Invalid (uniform) below `min_mass`.

Listwise, after RankGPT (Sun et al. 2023, "Is ChatGPT Good at Search?"): greedy generation with the
`list_prompt` template (the answer prefix "[" already given), read by `parse_permutation`, which
counts its repairs.

Causal LMs reuse shared prefixes (`prefix_reuse=true`, rankpipe.judges.prefix): the prompts of one
query share the instruction and the query, and those of one (query, passage A) share passage A
too. Each such prefix is run once, its keys and values kept (up to `prefix_cache_mb` megabytes,
across calls, least recently used dropped first), and each prompt runs only its remaining tokens;
answers equal the plain path's within float tolerance (tests/hotpath). Prompts are tokenized whole,
in one tokenizer call per judge call: the executor never asks a prompt twice, so a memo of
prompts would never hit, and tokenizing passages apart would change tokens at their edges.
With `prefix_reuse=false` (and for models whose cache holds sliding windows) prompts run whole.
Either way rows are left-padded with position ids continued past each prefix, so a padded prompt
scores as it does alone; only the last position's logits are computed, under inference mode; the
rows of a call are sorted by length so that each micro-batch of `batch_size` pads little (16 on a
GPU; 1 on a CPU, where a row of 60 or more tokens already keeps the matrix kernels at their peak,
so any pad is lost work: a heap sort ran 1.11x faster at 1 than at 4, eval/results/hotpath.md).
Encoder-decoder models read the prompt in the encoder and the answer prefix in the decoder.
`device=auto` takes a GPU when there is one; `dtype` defaults to bfloat16 on a GPU and float32 on a
CPU; attention is PyTorch's sdpa. A model is loaded once per process for each (model, device,
dtype) and shared by every judge that names it. `.gguf` files load through
`rankpipe.models.resolve_weights` (dequantized once), and the identity names the weights that
loaded (`weights=`: hub revision, or GGUF file, quantization and digest), so answers of a packaged
quantized copy are never served to a run with the real weights."""

from __future__ import annotations

import inspect
import logging
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from rankpipe.data.types import Qrels
from rankpipe.errors import InputError, JudgeError
from rankpipe.judges.answers import (
    REPAIRED,
    pair_answer,
    pair_probability,
    parse_permutation,
    set_answer,
    unchosen,
    unlabelled,
    warn_unusable,
)
from rankpipe.judges.base import (
    BlockJudgment,
    BlockPrompt,
    Judgment,
    PairPrompt,
    SetJudgment,
    SetPrompt,
)
from rankpipe.judges.encoding import (
    answer_token_ids,
    encode_blocks,
    encode_pairs,
    encode_pairs_with_prefixes,
    encode_prompt,
    permutation_token_budget,
    render,
)
from rankpipe.judges.fewshot import ExampleRetriever, fewshot_examples
from rankpipe.judges.options import DEFAULT_MIN_MASS, DEFAULT_PREFIX_CACHE_MB, HFOptions
from rankpipe.judges.prompts import PromptTemplate, load_prompt_of_kind, prompts_identity
from rankpipe.judges.spec import JudgeSpec, judge_options
from rankpipe.models import ResolvedModel, free_memory, resolve_device, resolve_weights
from rankpipe.options import canonical

if TYPE_CHECKING:
    from rankpipe.judges.prefix import PrefixCache, PrefixStats, Row

log = logging.getLogger(__name__)

DTYPES = ("float32", "bfloat16", "float16")
EXAMPLE_MODEL = "HuggingFaceTB/SmolLM2-135M-Instruct"
"""An answer counts when the model gives its choices even odds or better against every other
token. SmolLM2-135M-Instruct puts 0.89-0.96 of its mass on " A" + " B" with the PRP prompt on DL19
pairs; eval/results/judges.md measures how often the threshold fires."""


@dataclass(frozen=True)
class LoadedModel:
    """A model, its tokenizer, and what its forward pass accepts."""

    model: Any
    tokenizer: Any
    seq2seq: bool
    device: str
    pad_id: int
    eos_ids: frozenset[int]
    max_positions: int | None
    takes_position_ids: bool
    takes_logits_to_keep: bool
    reuses_prefixes: bool


@dataclass(frozen=True)
class ChoiceLogprobs:
    """Log-probabilities of the two choice tokens under the full softmax, for one prompt, its
    prompt tokens and how many of them came from a prefix computed for another prompt."""

    first: float
    second: float
    prompt_tokens: int
    prefix_reused_tokens: int = 0

    @property
    def mass(self) -> float:
        """P(first) + P(second): how much the model answers with one of the choices at all."""
        return pair_probability(self.first, self.second)[1]

    @property
    def p_first(self) -> float:
        """P(first) / (P(first) + P(second))."""
        return pair_probability(self.first, self.second)[0]


def load_model(path: str, device: str, dtype: str) -> LoadedModel:
    """Load a causal LM or encoder-decoder for (path, device, dtype); the judge that asked owns it
    (no process-wide copy) and frees it in `close()`."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM, AutoModelForSeq2SeqLM, AutoTokenizer

    try:
        config = AutoConfig.from_pretrained(path)
        seq2seq = bool(getattr(config, "is_encoder_decoder", False))
        loader = AutoModelForSeq2SeqLM if seq2seq else AutoModelForCausalLM
        tokenizer = AutoTokenizer.from_pretrained(path)
        model = loader.from_pretrained(
            path, dtype=getattr(torch, dtype), attn_implementation="sdpa"
        )
        # transformers wraps PreTrainedModel.to with functools.wraps, whose typeshed stub is no
        # descriptor, so mypy takes the bound call's first argument for `self`
        model = model.to(device).eval()  # type: ignore[arg-type]
    except (OSError, ValueError, KeyError) as error:
        raise JudgeError(f"model {path} could not be loaded: {error}") from error
    return wrap_model(model, tokenizer, device, name=path)


def wrap_model(model: Any, tokenizer: Any, device: str, name: str = "model") -> LoadedModel:
    """A model already in memory (in eval mode, on `device`) and its tokenizer, described for the
    judge: benchmarks pass models built with `from_config`."""
    from rankpipe.judges.prefix import supports_prefix_reuse

    seq2seq = bool(getattr(model.config, "is_encoder_decoder", False))
    pad_id = tokenizer.pad_token_id
    pad_id = tokenizer.eos_token_id if pad_id is None else pad_id
    if pad_id is None:
        raise JudgeError(f"model {name}: its tokenizer has neither a padding nor an end token")
    eos = model.generation_config.eos_token_id
    eos = tokenizer.eos_token_id if eos is None else eos
    eos_ids = frozenset(eos if isinstance(eos, list) else [] if eos is None else [eos])
    accepted = inspect.signature(model.forward).parameters
    return LoadedModel(
        model=model,
        tokenizer=tokenizer,
        seq2seq=seq2seq,
        device=device,
        pad_id=int(pad_id),
        eos_ids=eos_ids,
        max_positions=None if seq2seq else getattr(model.config, "max_position_embeddings", None),
        takes_position_ids="position_ids" in accepted,
        takes_logits_to_keep="logits_to_keep" in accepted,
        reuses_prefixes=supports_prefix_reuse(model) and "logits_to_keep" in accepted,
    )


class TransformersJudge:
    """Pairwise (choice-token log-probabilities) and listwise (greedy permutation) answers from
    one transformers model."""

    reads_text = True

    def __init__(
        self,
        model: str,
        *,
        prompt: str = "prp",
        list_prompt: str = "rankgpt",
        set_prompt: str = "setwise",
        device: str = "auto",
        dtype: str | None = None,
        batch_size: int | None = None,
        min_mass: float = DEFAULT_MIN_MASS,
        prefix_reuse: bool = True,
        prefix_cache_mb: int = DEFAULT_PREFIX_CACHE_MB,
        fewshot: ExampleRetriever | None = None,
        loaded: LoadedModel | None = None,
    ) -> None:
        """`loaded`: a model already in memory (see `wrap_model`) instead of loading `model`;
        its weights are then named `in-memory` in the identity. `fewshot`: pairwise examples
        retrieved per query from a training set (rankpipe.judges.fewshot) instead of the
        template's own."""
        self.fewshot = fewshot
        self.template = load_prompt_of_kind(prompt, "pairwise", "prompt", "hf")
        self.list_template = load_prompt_of_kind(list_prompt, "listwise", "list_prompt", "hf")
        self.set_template = load_prompt_of_kind(set_prompt, "setwise", "set_prompt", "hf")
        if not 0.0 <= min_mass <= 1.0:
            raise InputError(f"hf judge: min_mass must lie in [0, 1], got {min_mass}")
        device = resolve_device(device)
        on_gpu = device.startswith("cuda")
        batch_size = (16 if on_gpu else 1) if batch_size is None else batch_size
        if batch_size < 1:
            raise InputError(f"hf judge: batch_size must be at least 1, got {batch_size}")
        dtype = dtype or ("bfloat16" if on_gpu else "float32")
        if dtype not in DTYPES:
            raise InputError(f"hf judge: dtype must be one of {', '.join(DTYPES)}, got {dtype!r}")
        self.batch_size, self.min_mass = batch_size, min_mass
        if loaded is None:
            self.weights = resolve_weights(model)
            self.loaded = load_model(self.weights.path, device, dtype)
        else:
            self.weights, self.loaded = ResolvedModel(model, "in-memory"), loaded
        self.choice_ids = answer_token_ids(self.loaded.tokenizer, self.template)
        self.label_ids = answer_token_ids(self.loaded.tokenizer, self.set_template)
        self.identity = (
            f"hf:{model},weights={self.weights.source},"
            f"{prompts_identity(self.template, self.list_template)},"
            f"set_prompt={self.set_template.name}#{self.set_template.digest},"
            f"{canonical(HFOptions(dtype=dtype, min_mass=min_mass))}"
            + (f",{fewshot.identity}" if fewshot is not None else "")
        )
        from rankpipe.judges.prefix import PrefixCache, PrefixStats

        self.prefix_kv: PrefixCache | None = None
        if prefix_reuse and self.loaded.reuses_prefixes:
            self.prefix_kv = PrefixCache(prefix_cache_mb * 2**20)
        elif prefix_reuse and not self.loaded.seq2seq:
            log.info("%s: this model's cache cannot be split by prefix; prompts run whole", model)
        self.stats: PrefixStats = PrefixStats()

    def close(self) -> None:
        """Free the model, its tokenizer and the prefix cache (this judge's own)."""
        self.loaded = None  # type: ignore[assignment]
        self.prefix_kv = None
        free_memory()

    def choice_logprobs(self, prompts: Sequence[PairPrompt]) -> list[ChoiceLogprobs]:
        """The two choice tokens' log-probabilities at the answer position, for each prompt."""
        if self.prefix_kv is not None:
            return self._choice_logprobs_reusing_prefixes(prompts, self.prefix_kv)
        encoded = encode_pairs(
            self.template,
            self.loaded.tokenizer,
            prompts,
            prefix=not self.loaded.seq2seq,
            fewshot=self.fewshot,
        )
        self._check_fits(encoded, answer_tokens=1)
        decoder_prefix = self._decoder_prefix(self.template)
        scores: list[ChoiceLogprobs] = [ChoiceLogprobs(0.0, 0.0, 0)] * len(prompts)
        for indices in self._micro_batches(encoded):
            logprobs = self._next_token_logprobs([encoded[i] for i in indices], decoder_prefix)
            chosen = logprobs[:, list(self.choice_ids)].tolist()
            for (first, second), i in zip(chosen, indices, strict=True):
                scores[i] = ChoiceLogprobs(first, second, len(encoded[i]) + len(decoder_prefix))
        self.stats.prompt_tokens += sum(map(len, encoded))
        self.stats.computed_tokens += sum(map(len, encoded))
        return scores

    def _choice_logprobs_reusing_prefixes(
        self, prompts: Sequence[PairPrompt], cache: PrefixCache
    ) -> list[ChoiceLogprobs]:
        """As `choice_logprobs`, running each shared prefix once: first the query prefixes that
        no cached passage prefix covers, then the passage prefixes not cached (continuing their
        query prefix), then each prompt's rest (continuing its passage prefix)."""
        from rankpipe.judges.prefix import Row

        encoded = encode_pairs_with_prefixes(
            self.template, self.loaded.tokenizer, prompts, fewshot=self.fewshot
        )
        self._check_fits([e.ids for e in encoded], answer_tokens=1)
        kv: dict[tuple[int, ...], Any] = {}  # this call's prefixes, safe from eviction

        def lookup(key: tuple[int, ...]) -> Any:
            found = kv.get(key)
            if found is None:
                found = cache.get(key)
                self.stats.hits += found is not None
                if found is not None:
                    kv[key] = found
            return found

        passage_keys = [tuple(e.ids[: e.passage_prefix]) for e in encoded]
        missing: dict[tuple[int, ...], int] = {}  # passage prefix -> the first prompt needing it
        for i, key in enumerate(passage_keys):
            if key not in missing and lookup(key) is None:
                missing[key] = i
        query_keys = {i: tuple(encoded[i].ids[: encoded[i].query_prefix]) for i in missing.values()}
        queries: dict[tuple[int, ...], int] = {}  # query prefix -> the first prompt needing it
        for i, key in query_keys.items():
            if key not in queries and lookup(key) is None:
                queries[key] = i
        self.stats.misses += len(missing) + len(queries)
        # prefix tokens run in this call, each charged to the first prompt that needed them
        run_here = [0] * len(encoded)
        for i in missing.values():
            run_here[i] += encoded[i].passage_prefix - encoded[i].query_prefix
        for i in queries.values():
            run_here[i] += encoded[i].query_prefix
        self._run_prefixes({key: Row(None, key) for key in queries}, kv, cache)
        passage_rows = {}
        for key, i in missing.items():
            if key not in kv:  # else a passage prefix no longer than its query prefix, run above
                e = encoded[i]
                passage_rows[key] = Row(kv[query_keys[i]], e.ids[e.query_prefix : e.passage_prefix])
        self._run_prefixes(passage_rows, kv, cache)
        rows = [
            Row(kv[key], e.ids[e.passage_prefix :])
            for key, e in zip(passage_keys, encoded, strict=True)
        ]
        scores: list[ChoiceLogprobs] = [ChoiceLogprobs(0.0, 0.0, 0)] * len(prompts)
        for indices in self._row_batches(rows):
            logprobs, _ = self._forward_rows([rows[i] for i in indices], keep_kv=False)
            chosen = logprobs[:, list(self.choice_ids)].tolist()
            for (first, second), i in zip(chosen, indices, strict=True):
                e = encoded[i]
                reused = e.passage_prefix - run_here[i]
                scores[i] = ChoiceLogprobs(first, second, len(e.ids), reused)
        self.stats.prompt_tokens += sum(len(e.ids) for e in encoded)
        return scores

    def _run_prefixes(
        self, rows: dict[tuple[int, ...], Row], kv: dict[tuple[int, ...], Any], cache: PrefixCache
    ) -> None:
        """Run prefix rows, keeping each one's keys and values under its token ids."""
        keys, batch = list(rows), list(rows.values())
        for indices in self._row_batches(batch):
            _, kept = self._forward_rows([batch[i] for i in indices], keep_kv=True)
            assert kept is not None
            for i, tensor in zip(indices, kept, strict=True):
                kv[keys[i]] = tensor
                cache.put(keys[i], tensor)

    def _row_batches(self, rows: list[Row]) -> Iterator[list[int]]:
        """Indices into `rows` in groups of `batch_size`, sorted so that rows of like lengths
        (tokens to run, then prefix) meet and pad little."""
        order = sorted(range(len(rows)), key=lambda i: (len(rows[i].tokens), rows[i].prefix_length))
        for start in range(0, len(order), self.batch_size):
            yield order[start : start + self.batch_size]

    def _forward_rows(self, rows: list[Row], keep_kv: bool) -> tuple[Any, list[Any] | None]:
        import torch

        from rankpipe.judges.prefix import forward_rows

        self.stats.computed_tokens += sum(len(row.tokens) for row in rows)
        with torch.inference_mode(), _out_of_memory_is_a_judge_error(len(rows)):
            return forward_rows(self.loaded.model, rows, self.loaded.pad_id, keep_kv)

    def judge(self, prompts: Sequence[PairPrompt]) -> list[Judgment]:
        answers = []
        for scores in self.choice_logprobs(prompts):
            p_a, valid = pair_answer(scores.first, scores.second, self.min_mass)
            answers.append(
                Judgment(
                    p_a=p_a,
                    prompt_tokens=scores.prompt_tokens,
                    completion_tokens=1,
                    valid=valid,
                    prefix_reused_tokens=scores.prefix_reused_tokens,
                )
            )
        warn_unusable(log, self.identity, answers, unchosen(self.template.choices, self.min_mass))
        return answers

    def choose(self, prompts: Sequence[SetPrompt]) -> list[SetJudgment]:
        """Setwise answers: the labels' probabilities at the answer position, renormalised over
        the labels shown (uniform and invalid when their mass is below `min_mass`)."""
        template, tokenizer = self.set_template, self.loaded.tokenizer
        prefix = "" if self.loaded.seq2seq else template.answer_prefix
        encoded = [
            encode_prompt(
                tokenizer,
                render(
                    tokenizer,
                    template.set_messages(p.query.text, [c.text for c in p.passages]),
                    prefix,
                ),
            )
            for p in prompts
        ]
        self._check_fits(encoded, answer_tokens=1)
        decoder_prefix = self._decoder_prefix(template)
        answers: list[SetJudgment] = [SetJudgment(())] * len(prompts)
        for indices in self._micro_batches(encoded):
            logprobs = self._next_token_logprobs([encoded[i] for i in indices], decoder_prefix)
            for row, i in zip(logprobs, indices, strict=True):
                k = len(prompts[i].passages)
                shown = row[list(self.label_ids[:k])].tolist()
                probs, valid = set_answer(shown, self.min_mass)
                answers[i] = SetJudgment(
                    probs=probs,
                    prompt_tokens=len(encoded[i]) + len(decoder_prefix),
                    completion_tokens=1,
                    valid=valid,
                )
        warn_unusable(log, self.identity, answers, unlabelled(self.min_mass))
        return answers

    def rank(self, prompts: Sequence[BlockPrompt]) -> list[BlockJudgment]:
        tokenizer = self.loaded.tokenizer
        encoded = encode_blocks(
            self.list_template, tokenizer, prompts, prefix=not self.loaded.seq2seq
        )
        budgets = [permutation_token_budget(tokenizer, len(p.passages)) for p in prompts]
        self._check_fits(encoded, answer_tokens=max(budgets, default=0))
        decoder_prefix = self._decoder_prefix(self.list_template)
        answers: list[BlockJudgment] = [BlockJudgment(())] * len(prompts)
        for indices in self._micro_batches(encoded):
            budget = max(budgets[i] for i in indices)
            generated = self._generate([encoded[i] for i in indices], decoder_prefix, budget)
            for new_tokens, i in zip(generated, indices, strict=True):
                stop = next((n for n, t in enumerate(new_tokens) if t in self.loaded.eos_ids), None)
                answer = tokenizer.decode(new_tokens[:stop], skip_special_tokens=True)
                order, repairs = parse_permutation(
                    self.list_template.answer_prefix + answer, len(prompts[i].passages)
                )
                answers[i] = BlockJudgment(
                    order=order,
                    prompt_tokens=len(encoded[i]) + len(decoder_prefix),
                    completion_tokens=len(new_tokens) if stop is None else stop + 1,
                    repairs=repairs,
                )
        warn_unusable(log, self.identity, answers, REPAIRED)
        return answers

    def _decoder_prefix(self, template: PromptTemplate) -> list[int]:
        """An encoder-decoder's decoder input: its start token, then the answer prefix."""
        if not self.loaded.seq2seq:
            return []
        start = self.loaded.model.config.decoder_start_token_id
        prefix = self.loaded.tokenizer(template.answer_prefix, add_special_tokens=False)
        return [start, *prefix["input_ids"]]

    def _check_fits(self, encoded: list[list[int]], answer_tokens: int) -> None:
        """A prompt longer than the model's positions is bad input, not a silent truncation."""
        limit, longest = self.loaded.max_positions, max(map(len, encoded), default=0)
        if limit is not None and longest + answer_tokens > limit:
            raise InputError(
                f"{self.identity}: a prompt of {longest} tokens (+{answer_tokens} to answer) "
                f"exceeds the model's {limit} positions; use a prompt file with a lower max_words"
            )

    def _micro_batches(self, encoded: list[list[int]]) -> Iterator[list[int]]:
        """Indices into `encoded`, shortest first, in groups of `batch_size`."""
        order = sorted(range(len(encoded)), key=lambda i: len(encoded[i]))
        for start in range(0, len(order), self.batch_size):
            yield order[start : start + self.batch_size]

    def _left_padded(self, batch: list[list[int]]) -> tuple[Any, Any]:
        import torch

        width = max(len(ids) for ids in batch)
        input_ids = torch.full((len(batch), width), self.loaded.pad_id, dtype=torch.long)
        mask = torch.zeros((len(batch), width), dtype=torch.long)
        for row, ids in enumerate(batch):
            input_ids[row, width - len(ids) :] = torch.tensor(ids, dtype=torch.long)
            mask[row, width - len(ids) :] = 1
        return input_ids.to(self.loaded.device), mask.to(self.loaded.device)

    def _next_token_logprobs(self, batch: list[list[int]], decoder_prefix: list[int]) -> Any:
        """Log-softmax over the vocabulary at the answer position, a row per prompt, on the CPU."""
        import torch

        input_ids, mask = self._left_padded(batch)
        inputs: dict[str, Any] = {"input_ids": input_ids, "attention_mask": mask}
        inputs["use_cache"] = False  # one forward pass: no key-value cache to keep
        if self.loaded.seq2seq:
            decoder = torch.tensor([decoder_prefix] * len(batch), device=self.loaded.device)
            inputs["decoder_input_ids"] = decoder
        else:
            if self.loaded.takes_position_ids:
                inputs["position_ids"] = (mask.cumsum(-1) - 1).clamp(min=0)
            if self.loaded.takes_logits_to_keep:
                inputs["logits_to_keep"] = 1
        with torch.inference_mode(), _out_of_memory_is_a_judge_error(len(batch)):
            logits = self.loaded.model(**inputs).logits[:, -1, :]
        return logits.float().log_softmax(dim=-1).cpu()

    def _generate(
        self, batch: list[list[int]], decoder_prefix: list[int], budget: int
    ) -> list[list[int]]:
        """Greedy continuations (new tokens only) of left-padded prompts."""
        import torch
        from transformers import GenerationConfig

        input_ids, mask = self._left_padded(batch)
        model = self.loaded.model
        config = GenerationConfig(
            max_new_tokens=budget,
            do_sample=False,
            pad_token_id=self.loaded.pad_id,
            eos_token_id=sorted(self.loaded.eos_ids) or None,
            decoder_start_token_id=getattr(model.config, "decoder_start_token_id", None),
        )
        inputs: dict[str, Any] = {"input_ids": input_ids, "attention_mask": mask}
        if self.loaded.seq2seq:
            inputs["decoder_input_ids"] = torch.tensor(
                [decoder_prefix] * len(batch), device=self.loaded.device
            )
        with torch.inference_mode(), _out_of_memory_is_a_judge_error(len(batch)):
            output = model.generate(**inputs, generation_config=config)
        skip = len(decoder_prefix) if self.loaded.seq2seq else input_ids.shape[1]
        return [row[skip:].tolist() for row in output.cpu()]


@contextmanager
def _out_of_memory_is_a_judge_error(batch_size: int) -> Iterator[None]:
    import torch

    try:
        yield
    except torch.cuda.OutOfMemoryError as error:
        raise JudgeError(
            f"out of GPU memory on a micro-batch of {batch_size} prompts; lower batch_size"
        ) from error


def _build(spec: JudgeSpec, qrels: Qrels | None) -> TransformersJudge:
    options: HFOptions = judge_options(spec)
    if not spec.target:
        raise InputError(f"judge {spec}: hf needs a model, e.g. hf:{EXAMPLE_MODEL}")
    values = asdict(options)
    path, shots = values.pop("fewshot"), values.pop("shots")
    fewshot = fewshot_examples(path, shots) if path is not None else None
    return TransformersJudge(spec.target, **values, fewshot=fewshot)


pairwise_judge = _build
list_judge = _build
