"""The `openai` judge: pairwise, listwise and setwise answers from any OpenAI-compatible completions
server (`vllm serve`, TGI, llama.cpp's server), or several replicas of one. This module holds the
judge (prompts, reading answers, identity); the transport (retries, deadlines, routing, failover)
is `rankpipe.judges.http`.

    openai:MODEL@URL[|URL2|...][,concurrency=8,timeout=60,retries=3,backoff=0.5,recheck=30,
                                 logprobs=20,format=chat,...]

URL is the API base, as OpenAI clients take it (e.g. http://localhost:8000/v1); the judge POSTs to
URL/completions, one prompt per request, up to `concurrency` requests at once to each server. A
server such as `vllm serve` batches the requests it holds at once: for throughput raise both
`concurrency` (e.g. 64) and the executor's --batch-size, which bounds the prompts the judge receives
per call. A server's API key, when it needs one, comes from $OPENAI_API_KEY (never from the spec,
which lands in logs and caches). Several servers (`|` between URLs; quote the spec in a shell) are
replicas serving the same model: each query's prompts go to one of them, failing over to the others
(`rankpipe.judges.http`). The options are declared in `rankpipe.judges.options.OpenAIOptions`.

Pairwise: the prompt ends where the answer letter comes (PRP's answer prefix, "Passage"); the
server generates one token (temperature 0) and returns its top `logprobs` alternatives, from which
P(A) is read (`answers.top_label_logprobs`, then `answers.pair_answer`). A server that offers no
log-probabilities (or `logprobs=0`) is read from its generated text (`parse_choice`: P(A) is 1 or
0). An answer that names neither choice is scored 0.5, marked invalid, and counted in one warning
per batch.

Listwise (`rank`, prompt `list_prompt`, default rankgpt): greedy generation of a permutation, read
by `parse_permutation`.

Setwise (`choose`, prompt `set_prompt`, default setwise): the passages of a set are labelled A, B,
C, ...; one generated token's top `logprobs` give P(label) for each shown label (a label missing
from the list gets the smallest listed probability, as in the pairwise case), normalised over the
shown labels. Without log-probabilities the answer text is read: the label it names gets 1 (a
one-hot); one that names no shown label is uniform, invalid, and counted in one warning per call.

`format=chat` (default) renders prompts with the chat template of the model's tokenizer, loaded
here (`tokenizer=ID`, default MODEL, resolved by `rankpipe.models.resolve_model`), then appends the
answer prefix; `format=plain` sends the template's text and the answer prefix without chat markup
(base models, or models whose tokenizer is not at hand). A query is cut to its prompt's
`max_words`, as passages are (in `rankpipe.judges.prompts`, for every backend).

Failures: a request that every server failed ends the call with a JudgeError carrying the answers
of the call that did succeed (`JudgeError.partial`), which the executor caches: rerunning resumes
and pays for none of them again. A server's refusal of the request itself (HTTP 4xx: unknown model,
bad request) is an InputError at once. Log-probabilities that are there but unusable (NaN,
infinite, above 0) make that one answer invalid, counted and logged, as an answer naming neither
passage is.

`judge.client.prefix_cache()` sums vLLM's prefix-cache counters over the servers (their Prometheus
`/metrics` pages), for a hit rate.

Identity: backend, model name as given, the three prompts by name and digest, format and, when
given, tokenizer and logprobs. The URLs are left out: the same model behind any of its servers
gives the same answers, so their judgments share one cache.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from rankpipe.data.types import Qrels
from rankpipe.errors import InputError, JudgeError
from rankpipe.extras import require
from rankpipe.judges.answers import (
    REPAIRED,
    Completion,
    pair_answer,
    parse_choice,
    parse_permutation,
    set_answer,
    top_label_logprobs,
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
from rankpipe.judges.encoding import has_chat_template, render, render_block, render_pair
from rankpipe.judges.http import CompletionsClient, RetryPolicy
from rankpipe.judges.options import DEFAULT_LOGPROBS, OpenAIOptions
from rankpipe.judges.prompts import load_prompt_of_kind, prompts_identity
from rankpipe.judges.spec import JudgeSpec, judge_options

log = logging.getLogger(__name__)

FORMATS = ("chat", "plain")
URL_SEPARATOR = "|"

Answer = TypeVar("Answer")


def block_max_tokens(size: int) -> int:
    """Enough tokens for a permutation of `size` identifiers written "[12] > [3] > ..."."""
    return 6 * size + 8


class OpenAIJudge:
    """Pairwise and listwise judgments from one or more OpenAI-compatible completions servers."""

    reads_text = True

    def __init__(
        self,
        model: str,
        url: str | Sequence[str],
        *,
        prompt: str = "prp",
        list_prompt: str = "rankgpt",
        set_prompt: str = "setwise",
        chat_format: str = "chat",
        tokenizer: str | None = None,
        logprobs: int = DEFAULT_LOGPROBS,
        concurrency: int = 8,
        policy: RetryPolicy | None = None,
    ) -> None:
        policy = policy or RetryPolicy()
        urls = url.split(URL_SEPARATOR) if isinstance(url, str) else list(url)
        urls = [u.strip() for u in urls]
        for each in urls:
            if not each.startswith(("http://", "https://")):
                raise InputError(f"openai judge: URL {each!r} must start with http:// or https://")
        if len({u.rstrip("/") for u in urls}) != len(urls):
            raise InputError(f"openai judge: a URL is given twice in {URL_SEPARATOR.join(urls)}")
        if chat_format not in FORMATS:
            raise InputError(
                f"openai judge: format must be one of {', '.join(FORMATS)}, got {chat_format!r}"
            )
        if (
            min(concurrency - 1, policy.retries, policy.backoff, policy.recheck, logprobs) < 0
            or policy.timeout <= 0
        ):
            raise InputError(
                "openai judge: concurrency must be at least 1; retries, backoff, recheck and "
                "logprobs at least 0; timeout above 0"
            )
        self.model = model
        self.template = load_prompt_of_kind(prompt, "pairwise", "prompt", "openai")
        self.list_template = load_prompt_of_kind(list_prompt, "listwise", "list_prompt", "openai")
        self.set_template = load_prompt_of_kind(set_prompt, "setwise", "set_prompt", "openai")
        self.logprobs = logprobs
        self.client = CompletionsClient(urls, model, policy, concurrency)
        self.tokenizer = load_tokenizer(tokenizer or model) if chat_format == "chat" else None
        options = f",format={chat_format}"
        options += f",tokenizer={tokenizer}" if tokenizer else ""
        options += f",logprobs={logprobs}" if logprobs != DEFAULT_LOGPROBS else ""
        self.identity = (
            f"openai:{model},{prompts_identity(self.template, self.list_template)},"
            f"set_prompt={self.set_template.name}#{self.set_template.digest}{options}"
        )

    def close(self) -> None:
        """Close the connections this judge holds open to its servers."""
        self.client.close()

    @property
    def retries(self) -> int:
        """Retries made so far, over all servers (read by the telemetry decorators)."""
        return self.client.retries

    def judge(self, prompts: Sequence[PairPrompt]) -> list[Judgment]:
        request: dict[str, Any] = {"max_tokens": 1, "temperature": 0}
        if self.logprobs:
            request["logprobs"] = self.logprobs
        payloads = [
            {
                **request,
                "prompt": render_pair(
                    self.template, self.tokenizer, p.query.text, p.a.text, p.b.text
                ),
            }
            for p in prompts
        ]
        judgments = self._ask(payloads, prompts, lambda _, answer: self._pair_judgment(answer))
        warn_unusable(log, self._who, judgments, unchosen(self.template.choices))
        return judgments

    @property
    def _who(self) -> str:
        """The servers, as warnings name them."""
        return f"openai server {URL_SEPARATOR.join(self.client.urls)}"

    def _unusable_logprobs(self, answer: Completion) -> bool:
        """Whether the answer's log-probabilities were there but unusable (logged: the answer is
        then invalid, not read from its text, which a server sending NaNs may not mean)."""
        if answer.top_problem is None:
            return False
        log.warning(
            "%s: unusable log-probabilities (%s); the answer counts as invalid",
            self._who,
            answer.top_problem,
        )
        return True

    def _pair_judgment(self, answer: Completion) -> Judgment:
        """P(A) from the answer token's top log-probabilities, else from the generated text."""
        tokens = answer.prompt_tokens, answer.completion_tokens
        if self._unusable_logprobs(answer):
            return Judgment(0.5, *tokens, valid=False)
        choices = self.template.choices
        if answer.top:
            p_a, valid = pair_answer(*top_label_logprobs(answer.top, choices), min_mass=0.0)
            return Judgment(p_a, *tokens, valid=valid)
        named = parse_choice(answer.text, choices, self.template.answer_prefix)
        if named is None:
            return Judgment(0.5, *tokens, valid=False)
        return Judgment(1.0 - named, *tokens)

    def rank(self, prompts: Sequence[BlockPrompt]) -> list[BlockJudgment]:
        payloads = [
            {
                "prompt": render_block(
                    self.list_template,
                    self.tokenizer,
                    p.query.text,
                    [c.text for c in p.passages],
                ),
                "max_tokens": block_max_tokens(len(p.passages)),
                "temperature": 0,
            }
            for p in prompts
        ]

        def read(i: int, answer: Completion) -> BlockJudgment:
            text = self.list_template.answer_prefix + answer.text
            order, repairs = parse_permutation(text, len(prompts[i].passages))
            tokens = answer.prompt_tokens, answer.completion_tokens
            return BlockJudgment(order, *tokens, repairs=repairs)

        judgments = self._ask(payloads, prompts, read)
        warn_unusable(log, self._who, judgments, REPAIRED)
        return judgments

    def choose(self, prompts: Sequence[SetPrompt]) -> list[SetJudgment]:
        template = self.set_template
        request: dict[str, Any] = {"max_tokens": 1, "temperature": 0}
        if self.logprobs:
            request["logprobs"] = self.logprobs
        payloads = [
            {
                **request,
                "prompt": render(
                    self.tokenizer,
                    template.set_messages(p.query.text, [c.text for c in p.passages]),
                    template.answer_prefix,
                ),
            }
            for p in prompts
        ]

        def read(i: int, answer: Completion) -> SetJudgment:
            return self._set_judgment(answer, template.choices[: len(prompts[i].passages)])

        judgments = self._ask(payloads, prompts, read)
        warn_unusable(log, self._who, judgments, unlabelled())
        return judgments

    def _set_judgment(self, answer: Completion, labels: Sequence[str]) -> SetJudgment:
        """P(each label) from the answer token's top log-probabilities, else a one-hot from the
        generated text."""
        tokens = answer.prompt_tokens, answer.completion_tokens
        uniform = SetJudgment((1.0 / len(labels),) * len(labels), *tokens, valid=False)
        if answer.top:
            probs, valid = set_answer(top_label_logprobs(answer.top, labels), min_mass=0.0)
            return SetJudgment(probs, *tokens, valid=valid)
        if self._unusable_logprobs(answer):
            return uniform
        named = parse_choice(answer.text, labels, self.set_template.answer_prefix)
        if named is None:
            return uniform
        return SetJudgment(tuple(float(i == named) for i in range(len(labels))), *tokens)

    def _ask(
        self,
        payloads: list[dict[str, Any]],
        prompts: Sequence[PairPrompt | BlockPrompt | SetPrompt],
        read: Callable[[int, Completion], Answer],
    ) -> list[Answer]:
        """The answers read from the servers' completions, in order; a JudgeError carrying those
        that did come when the call failed part-way."""
        answers, failure = self.client.complete_many(payloads, [p.query.qid for p in prompts])
        judged = {i: read(i, answer) for i, answer in answers.items()}
        if failure is not None:
            raise JudgeError(
                f"{failure} ({len(judged)} of {len(payloads)} prompts of the call were answered "
                "and are kept)",
                partial=judged,
            )
        return [judged[i] for i in range(len(payloads))]


def load_tokenizer(name: str) -> Any:
    """The tokenizer of a model named by Hugging Face ID or path (offline copies included)."""
    feature = "the openai judge's format=chat (format=plain does without)"
    AutoTokenizer = require("transformers", "hf", feature).AutoTokenizer

    from rankpipe.models import resolve_model

    tokenizer = AutoTokenizer.from_pretrained(resolve_model(name))
    if not has_chat_template(tokenizer):
        raise InputError(f"model {name}: its tokenizer has no chat template; use format=plain")
    return tokenizer


def _split_target(spec: JudgeSpec) -> tuple[str, str]:
    model, at, url = spec.target.partition("@")
    if not (model and at and url):
        raise InputError(
            f"judge {spec}: expected openai:MODEL@URL or openai:MODEL@URL1|URL2, e.g. "
            "openai:HuggingFaceTB/SmolLM2-135M-Instruct@http://localhost:8000/v1"
        )
    return model, url


def _build(spec: JudgeSpec) -> OpenAIJudge:
    options: OpenAIOptions = judge_options(spec)
    model, url = _split_target(spec)
    return OpenAIJudge(
        model,
        url,
        prompt=options.prompt,
        list_prompt=options.list_prompt,
        set_prompt=options.set_prompt,
        chat_format=options.format,
        tokenizer=options.tokenizer,
        logprobs=options.logprobs,
        concurrency=options.concurrency,
        policy=RetryPolicy(
            retries=options.retries,
            backoff=options.backoff,
            timeout=options.timeout,
            recheck=options.recheck,
        ),
    )


def pairwise_judge(spec: JudgeSpec, qrels: Qrels | None = None) -> OpenAIJudge:
    return _build(spec)


list_judge = pairwise_judge
