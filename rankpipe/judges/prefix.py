"""Shared-prefix key-value reuse for causal LMs: a prefix's keys and values are computed once and
every prompt that starts with the same tokens continues from them.

A `Row` is a prefix's key-value tensor (or none) and the tokens that follow it; `forward_rows` runs
rows of different prefixes and lengths in one forward pass (prefixes left-padded in the cache,
tokens left-padded after them, pads masked, positions continued from each prefix), returning the
log-softmax at each row's last token and, when asked, each row's whole key-value tensor without
its pads. `PrefixCache` keeps prefix tensors by their token ids under a memory budget (least
recently used evicted first): keyed by the exact tokens, so a cached prefix is only ever reused
for a prompt that really begins with it, and a miss costs time, never a wrong answer.

Written here rather than taken from a library because transformers offers the cache objects but
no batched reuse across prompts with different prefixes, and vLLM's automatic prefix caching (the
`vllm` backend) needs its own engine. Models whose cache is not a plain `DynamicLayer` per layer
(sliding-window or linear-attention layers) are not supported: `supports_prefix_reuse` says so and
the `hf` judge then runs its plain path."""

from __future__ import annotations

import inspect
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from rankpipe.extras import require

require("torch", "hf", "the hf judge")  # before torch: a missing extra is one line naming it
import torch  # noqa: E402

KV = torch.Tensor
"""A prefix's keys and values, shape (layers, 2, kv_heads, length, head_dim)."""


@dataclass(frozen=True)
class Row:
    """Tokens to run after `prefix` (the key-value tensor of the tokens before them, or None)."""

    prefix: KV | None
    tokens: Sequence[int]

    @property
    def prefix_length(self) -> int:
        return 0 if self.prefix is None else int(self.prefix.shape[-2])


@dataclass
class PrefixStats:
    """What prefix reuse saved: prompt tokens asked for and tokens actually run through the model,
    and the prefix cache's hits and misses."""

    prompt_tokens: int = 0
    computed_tokens: int = 0
    hits: int = 0
    misses: int = 0


class PrefixCache:
    """Prefix key-value tensors by their token ids, least recently used evicted beyond
    `budget_bytes`."""

    def __init__(self, budget_bytes: int) -> None:
        self.budget_bytes = budget_bytes
        self.used_bytes = 0
        self._entries: OrderedDict[tuple[int, ...], KV] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: tuple[int, ...]) -> KV | None:
        kv = self._entries.get(key)
        if kv is not None:
            self._entries.move_to_end(key)
        return kv

    def put(self, key: tuple[int, ...], kv: KV) -> None:
        size = kv.numel() * kv.element_size()
        if key in self._entries or size > self.budget_bytes:
            return
        self._entries[key] = kv
        self.used_bytes += size
        while self.used_bytes > self.budget_bytes:
            _, evicted = self._entries.popitem(last=False)
            self.used_bytes -= evicted.numel() * evicted.element_size()


def supports_prefix_reuse(model: Any) -> bool:
    """Whether `model` keeps one plain, growing key-value cache per layer (no sliding windows,
    no linear attention), the only kind `forward_rows` pads and splits."""
    from transformers import DynamicCache
    from transformers.cache_utils import DynamicLayer

    if getattr(model.config, "is_encoder_decoder", False):
        return False
    try:
        cache = DynamicCache(config=model.config)
    except (TypeError, ValueError, AttributeError):
        return False
    return bool(cache.layers) and all(type(layer) is DynamicLayer for layer in cache.layers)


def cache_argument(model: Any) -> str:
    """`cache` where the model's forward takes it (transformers 5.24 renamed `past_key_values`)."""
    return "cache" if "cache" in inspect.signature(model.forward).parameters else "past_key_values"


def forward_rows(
    model: Any, rows: Sequence[Row], pad_id: int, keep_kv: bool
) -> tuple[torch.Tensor, list[KV] | None]:
    """One forward pass over `rows`: log-softmax over the vocabulary at each row's last token
    (float32, on the CPU), and with `keep_kv` each row's key-value tensor (prefix + tokens, pads
    removed, on the model's device). Every row needs at least one token."""
    from transformers import DynamicCache

    device = model.device
    count = len(rows)
    width = max(len(row.tokens) for row in rows)
    past = max(row.prefix_length for row in rows)
    input_ids = torch.full((count, width), pad_id, dtype=torch.long)
    mask = torch.zeros((count, past + width), dtype=torch.long)
    positions = torch.zeros((count, width), dtype=torch.long)
    for i, row in enumerate(rows):
        n, start = len(row.tokens), row.prefix_length
        input_ids[i, width - n :] = torch.as_tensor(row.tokens, dtype=torch.long)
        mask[i, past - start : past] = 1
        mask[i, past + width - n :] = 1
        positions[i, :] = start
        positions[i, width - n :] = torch.arange(start, start + n)
    cache = None
    if past:
        first = next(row.prefix for row in rows if row.prefix is not None)
        layers, _, heads, _, dim = first.shape
        kv = first.new_zeros((layers, 2, count, heads, past, dim))
        for i, row in enumerate(rows):
            if row.prefix is not None:
                kv[:, :, i, :, past - row.prefix_length :] = row.prefix
        cache = DynamicCache(
            ddp_cache_data=[(kv[layer, 0], kv[layer, 1]) for layer in range(layers)],
            config=model.config,
        )
    elif keep_kv:
        cache = DynamicCache(config=model.config)
    output = model(
        input_ids=input_ids.to(device),
        attention_mask=mask.to(device),
        position_ids=positions.to(device),
        use_cache=cache is not None,
        logits_to_keep=1,
        **{cache_argument(model): cache},
    )
    logprobs = output.logits[:, -1, :].float().log_softmax(dim=-1).cpu()
    if not keep_kv:
        return logprobs, None
    assert cache is not None
    # supports_prefix_reuse admitted only models whose layers are all DynamicLayer
    layers_kv = [(layer.keys, layer.values) for layer in cache.layers]  # type: ignore[union-attr]
    full = torch.stack([torch.stack(pair) for pair in layers_kv])  # type: ignore[arg-type]
    kept = []
    for i, row in enumerate(rows):
        n, start = len(row.tokens), row.prefix_length
        kept.append(
            torch.cat(
                (full[:, :, i, :, past - start : past], full[:, :, i, :, past + width - n :]),
                dim=-2,
            )
        )
    return logprobs, kept
