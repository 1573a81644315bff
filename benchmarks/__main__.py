"""``python -m benchmarks [--quick] [--out PATH] [--device cpu|cuda] [--rounds N] [--threads N]
[--point B,T,D,h[,padded] ...]``.

Times every multi-head attention version against ``torch.nn.MultiheadAttention`` (paired,
interleaved rounds; forward, and forward + backward), measures the peak memory of the
weights and fused paths at a long length and the fused path's GFLOP/s, times generation
with the KV cache against recomputing and MHA / GQA / MQA caches, prints markdown
tables and writes them, with the machine description, to ``benchmarks/results/latest.md``
(``quick.md`` for ``--quick``).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd
import torch
from tqdm.auto import tqdm

import d2lmha

from .flops import fused_gflops
from .memory import memory_table
from .report import command, machine_description, markdown_table
from .decoding import GOAL as DECODE_GOAL
from .decoding import decode_table, kv_heads_table
from .speed import GOALS, IMPLEMENTATIONS, Point, time_point

RESULTS = Path(__file__).resolve().parent / "results"

FULL = {
    "points": [
        Point(16, 256, 512, 8),
        Point(16, 256, 512, 8, padded=True),
        Point(64, 64, 256, 4),
        Point(4, 128, 768, 12),
        Point(2, 1024, 256, 8),
    ],
    "rounds": 5,
    "target_s": 0.2,
    "memory": (1, 4096, 512, 8),
    "flops": (16, 256, 512, 8),
    "matmul_n": 2048,
    "min_run_time": 0.5,
    "decode": {
        "vocab": 100,
        "num_hiddens": 256,
        "num_heads": 8,
        "blocks": 2,
        "num_tokens": 256,
        "source_len": 32,
        "batch": 1,
    },
}
QUICK = {
    "points": [Point(2, 16, 32, 4), Point(2, 16, 32, 4, padded=True)],
    "rounds": 2,
    "target_s": 0.005,
    "memory": (1, 128, 64, 4),
    "flops": (2, 16, 32, 4),
    "matmul_n": 128,
    "min_run_time": 0.02,
    "decode": {
        "vocab": 20,
        "num_hiddens": 32,
        "num_heads": 4,
        "blocks": 1,
        "num_tokens": 6,
        "source_len": 4,
        "batch": 1,
    },
}


def _positive(text: str) -> int:
    """An argument that must be an int >= 1."""
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"expected an integer >= 1, got {text!r}")
    return int(text)


def _point(text: str) -> Point:
    """``"16,256,512,8"`` or ``"16,256,512,8,padded"`` -> :class:`Point`."""
    parts = text.split(",")
    try:
        sizes = [int(p) for p in parts[:4]]
    except ValueError:
        sizes = []
    if len(sizes) != 4 or len(parts) > 5 or parts[4:] not in ([], ["padded"]):
        raise argparse.ArgumentTypeError(f"--point {text!r}: expected B,T,D,h or B,T,D,h,padded")
    return Point(*sizes, padded=len(parts) == 5)


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--quick", action="store_true", help="tiny sizes, a few seconds: checks the benchmark runs"
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=None,
        help="markdown file to write (default results/latest.md or quick.md)",
    )
    parser.add_argument(
        "--device", choices=["cpu", "cuda"], default=None, help="default: d2lmha.try_gpu()"
    )
    parser.add_argument("--rounds", type=_positive, default=None, help="paired rounds per point")
    parser.add_argument(
        "--threads",
        type=_positive,
        default=None,
        help="torch CPU threads (default: torch's choice; 1 with --quick)",
    )
    parser.add_argument(
        "--point",
        action="append",
        type=_point,
        default=None,
        metavar="B,T,D,h[,padded]",
        help="time only this size point (repeatable), e.g. 16,256,512,8,padded",
    )
    return parser.parse_args(argv)


def speed_table(config: dict, device, rounds: int) -> pd.DataFrame:
    """One row per (point, implementation): median ms, median ratio and the ratio's range
    (min–max over the rounds), forward and fwd+bwd."""
    rows = []
    for point in tqdm(config["points"], desc="speed"):
        modes = {
            mode: time_point(point, device, rounds, config["target_s"], backward)
            for mode, backward in (("forward", False), ("fwd+bwd", True))
        }
        for name in modes["forward"]:
            baseline = IMPLEMENTATIONS[name]
            if name == baseline:
                continue
            row = {"point": str(point), "implementation": name, "vs": baseline}
            for mode, result in modes.items():
                row[f"{mode} ms"] = result[name]["ms"]
                row[f"{mode} ratio"] = result[name]["ratio"]
                row[f"{mode} ratio range"] = (
                    f"{result[name]['ratio min']:.2f}–{result[name]['ratio max']:.2f}"
                )
            goal = GOALS.get(name)
            row["goal"] = "" if goal is None else f"<= {goal}"
            row["met"] = (
                ""
                if goal is None
                else "yes"
                if max(row["forward ratio"], row["fwd+bwd ratio"]) <= goal
                else "no"
            )
            rows.append(row)
    return pd.DataFrame(rows)


def run(argv=None) -> dict:
    """Run the benchmark; return its tables (speed, memory, flops, decode, kv_heads), text."""
    args = parse_args(argv)
    threads = torch.get_num_threads()
    torch.set_num_threads(args.threads or (1 if args.quick else threads))
    try:
        return _run(args)
    finally:
        torch.set_num_threads(threads)


def _run(args: argparse.Namespace) -> dict:
    config = dict(QUICK if args.quick else FULL)
    if args.point:
        config["points"] = args.point
    device = torch.device(args.device) if args.device else d2lmha.try_gpu()
    machine = machine_description(device)
    speed = speed_table(config, device, args.rounds or config["rounds"])
    memory = pd.DataFrame(memory_table(*config["memory"], device=device))
    flops = pd.DataFrame(
        [
            fused_gflops(
                *config["flops"],
                device=device,
                matmul_n=config["matmul_n"],
                min_run_time=config["min_run_time"],
            )
        ]
    )
    rounds = args.rounds or config["rounds"]
    decode = pd.DataFrame(decode_table(config["decode"], device, rounds))
    kv_heads = pd.DataFrame(kv_heads_table(config["decode"], device, rounds))
    met = decode.set_index("way").loc["cache fused", "speed-up vs recompute"] >= DECODE_GOAL
    dc = config["decode"]
    B, T, D, h = config["memory"]
    fB, fT, fD, fh = config["flops"]
    text = (
        "\n\n".join(
            [
                "# d2lmha benchmark"
                + (" (quick run: tiny sizes, not for reading)" if args.quick else ""),
                "\n".join(f"- {key}: {value}" for key, value in machine.items()),
                "## Time relative to torch.nn.MultiheadAttention (same weights)\n\n"
                "Median over paired, interleaved rounds of (time / torch's time in the same "
                "round), and its range (min–max over the rounds); "
                "`vs` names the baseline: `torch weights` = `need_weights=True, "
                "average_attn_weights=False`, `torch fused` = `need_weights=False`. Forward runs "
                "under `no_grad` in eval mode; fwd+bwd adds the gradients of input and weights.",
                markdown_table(speed),
                f"## Peak memory of one forward, B={B} T={T} D={D} h={h}\n\n"
                "Attention matrix = B·h·T²·4 bytes (analytic); peak = measured allocation above "
                "the start (CPU: torch.profiler memory records; CUDA: max_memory_allocated).",
                markdown_table(memory),
                f"## Fused path throughput, B={fB} T={fT} D={fD} h={fh}\n\n"
                f"Matmul reference: {config['matmul_n']}x{config['matmul_n']} float32 matmul. "
                "FLOPs = 8·B·T·d² + 4·B·T²·d (checked with FlopCounterMode).",
                markdown_table(flops),
                f"## Generating {dc['num_tokens']} tokens: KV cache against recomputing\n\n"
                f"Decoder of {dc['blocks']} blocks, d={dc['num_hiddens']}, "
                f"h={dc['num_heads']}, FFN 4·d, {dc['source_len']} source tokens, batch "
                f"{dc['batch']}, greedy. Time / recompute's time in the same round: median "
                f"and min–max over {rounds} rounds; every way gives the same ids. Goal: cache "
                f"fused >= {DECODE_GOAL}x faster than recompute: "
                f"{'met' if met else 'not met'}.",
                markdown_table(decode),
                "## K/V heads: MHA, GQA, MQA with the cache (fused path)\n\n"
                "Cache bytes per token and sequence = 2 · blocks · kv_heads · d_k · 4 "
                "(float32), self-attention only; time relative to MHA in the same round.",
                markdown_table(kv_heads),
            ]
        )
        + "\n"
    )
    out = args.out or RESULTS / ("quick.md" if args.quick else "latest.md")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text, encoding="utf-8")
    return {
        "speed": speed,
        "memory": memory,
        "flops": flops,
        "decode": decode,
        "kv_heads": kv_heads,
        "text": text,
        "path": out,
    }


main = command(run)


if __name__ == "__main__":
    raise SystemExit(main())
