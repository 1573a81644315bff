"""Generating token by token: the KV cache against recomputing, and MHA / GQA / MQA.

A :class:`~d2lmha.seq2seq.Seq2SeqTransformer` generates ``num_tokens`` tokens greedily
(:func:`~d2lmha.seq2seq.greedy_decode`) from a fixed source, four ways:

* ``recompute``: each step runs the decoder on the whole prefix (the weights path, as
  chapter 06 decodes), so step t costs a pass over t tokens;
* ``recompute fused``: the same on the fused ``scaled_dot_product_attention`` path;
* ``cache``: one :class:`~d2lmha.KVCache` per block; each step runs the new token only, the
  cross-attention's keys and values of the source are projected once (weights path);
* ``cache fused``: the cache on the fused path, what a deployed decoder does.

In each round every way runs once, in a rotating order, and each time is divided by
``recompute``'s time in the same round; reported are the median and the min–max over
rounds. The same ids come out of every way (checked). The K/V-head table times ``cache
fused`` for MHA, GQA and MQA the same way (relative to MHA) and gives the cache's size,
``2 · blocks · kv_heads · d_k · 4`` bytes per token and sequence (float32), plus the
source's keys and values kept for the cross-attention.

Source: Shazeer (2019) for why the cache's size bounds decoding speed; Ainslie et al.
(2023) for grouped-query attention.
"""

from __future__ import annotations

import statistics
import time

import torch

from d2lmha import seq2seq

__all__ = ["MODES", "GOAL", "decode_table", "kv_heads_table"]

#: way of generating -> (use_cache, need_weights)
MODES = {
    "recompute": (False, True),
    "recompute fused": (False, False),
    "cache": (True, True),
    "cache fused": (True, False),
}
#: the issue's goal: cache fused at least this many times faster than recompute (2-core CPU)
GOAL = 4.0


def _model(config: dict, num_kv_heads, device):
    torch.manual_seed(0)
    model = seq2seq.Seq2SeqTransformer(
        config["vocab"],
        config["num_hiddens"],
        config["num_heads"],
        num_enc_blks=1,
        num_dec_blks=config["blocks"],
        ffn_num_hiddens=4 * config["num_hiddens"],
        max_len=config["num_tokens"] + 1,
        num_kv_heads=num_kv_heads,
    )
    model = model.to(device).eval()
    src = torch.randint(
        3,
        config["vocab"],
        (config["batch"], config["source_len"]),
        generator=torch.Generator().manual_seed(1),
    ).to(device)
    lens = torch.full((config["batch"],), config["source_len"], device=device)
    return model, src, lens


def _time(fn, device) -> float:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    start = time.perf_counter()
    fn()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return time.perf_counter() - start


def _rounds(runs: dict, baseline: str, rounds: int, device) -> dict:
    """Paired, rotating rounds: name -> list of (seconds, seconds / baseline's seconds)."""
    names = list(runs)
    for fn in runs.values():  # warm-up
        fn()
    times = {name: [] for name in names}
    for r in range(rounds):
        for name in names[r % len(names) :] + names[: r % len(names)]:
            times[name].append(_time(runs[name], device))
    return {
        name: [(t, t / b) for t, b in zip(times[name], times[baseline], strict=True)]
        for name in names
    }


def _summary(pairs, num_tokens: int) -> dict:
    seconds = [t for t, _ in pairs]
    ratios = [r for _, r in pairs]
    return {
        "ms per token": statistics.median(seconds) / num_tokens * 1e3,
        "time / baseline (median)": statistics.median(ratios),
        "min": min(ratios),
        "max": max(ratios),
    }


def decode_table(config: dict, device, rounds: int) -> list[dict]:
    """One row per way of generating (see the module docstring), MHA."""
    model, src, lens = _model(config, None, device)
    n = config["num_tokens"]

    def way(use_cache, need_weights):
        return lambda: seq2seq.greedy_decode(
            model, src, lens, n, use_cache=use_cache, need_weights=need_weights
        )[0]

    ids = {name: way(*flags)() for name, flags in MODES.items()}
    if any(not torch.equal(ids["recompute"], other) for other in ids.values()):
        raise RuntimeError("the ways of generating disagree on the ids")
    results = _rounds(
        {name: way(*flags) for name, flags in MODES.items()}, "recompute", rounds, device
    )
    rows = []
    for name, pairs in results.items():
        row = {"way": name, **_summary(pairs, n)}
        row["speed-up vs recompute"] = 1 / row["time / baseline (median)"]
        rows.append(row)
    return rows


def kv_heads_table(config: dict, device, rounds: int) -> list[dict]:
    """MHA, GQA (g = h/2, h/4 ...) and MQA with the cache on the fused path."""
    h, d = config["num_heads"], config["num_hiddens"]
    kv_options = [k for k in (h, h // 2, h // 4, 1) if k >= 1 and h % k == 0]
    kv_options = list(dict.fromkeys(kv_options))
    n, runs, sizes = config["num_tokens"], {}, {}
    for kv in kv_options:
        model, src, lens = _model(config, kv, device)
        name = "MHA" if kv == h else "MQA" if kv == 1 else f"GQA g={h // kv}"
        runs[name] = lambda m=model, s=src, v=lens: seq2seq.greedy_decode(
            m, s, v, n, use_cache=True, need_weights=False
        )[0]
        per_token = 2 * config["blocks"] * kv * (d // h) * 4
        params = sum(p.numel() for p in model.decoder.parameters())
        sizes[name] = {
            "kv heads": kv,
            "cache bytes per token": per_token,
            "decoder parameters": params,
        }
    results = _rounds(runs, "MHA", rounds, device)
    return [{"layer": name, **sizes[name], **_summary(pairs, n)} for name, pairs in results.items()]
