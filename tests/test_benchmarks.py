"""Smoke test of ``python -m benchmarks --quick``, and the measuring helpers it relies on.

No timing assertions: only that the tables have their rows and columns, that every ratio is
a positive finite number, and that the memory and FLOP measurements measure what they say.
"""

import math

import pandas as pd
import pytest
import torch

from benchmarks import __main__ as bench
from benchmarks.d2l_reference import d2l_available
from benchmarks.flops import attention_flops
from benchmarks.memory import attention_matrix_bytes, peak_bytes
from benchmarks.report import markdown_table
from benchmarks.speed import GOALS, IMPLEMENTATIONS, Point

SPEED_COLUMNS = [
    "point",
    "implementation",
    "vs",
    "forward ms",
    "forward ratio",
    "forward ratio range",
    "fwd+bwd ms",
    "fwd+bwd ratio",
    "fwd+bwd ratio range",
    "goal",
    "met",
]


@pytest.fixture(scope="module")
def quick(tmp_path_factory):
    out = tmp_path_factory.mktemp("bench") / "quick.md"
    return bench.run(["--quick", "--out", str(out)])


def _positive_finite(values) -> bool:
    return all(isinstance(v, float) and math.isfinite(v) and v > 0 for v in values)


def test_speed_table_rows_and_columns(quick):
    speed = quick["speed"]
    assert list(speed.columns) == SPEED_COLUMNS
    compared = [
        name
        for name, base in IMPLEMENTATIONS.items()
        if name != base and (name != "d2l 1.0.3" or d2l_available())
    ]
    expected = [(str(p), name) for p in bench.QUICK["points"] for name in compared]
    assert list(zip(speed["point"], speed["implementation"], strict=True)) == expected
    assert set(speed["vs"]) == {"torch weights", "torch fused"}
    for column in ("forward ms", "forward ratio", "fwd+bwd ms", "fwd+bwd ratio"):
        assert _positive_finite(speed[column]), column
    goals = speed[speed["implementation"].isin(list(GOALS))]
    assert set(goals["met"]) <= {"yes", "no"} and (goals["goal"] != "").all()


def test_memory_table_measures_the_attention_matrix(quick):
    memory = quick["memory"].set_index("path")
    assert list(memory.index) == ["d2lmha weights", "d2lmha fused", "torch weights", "torch fused"]
    B, T, _, h = bench.QUICK["memory"]
    assert (memory["attention matrix MiB"] == attention_matrix_bytes(B, h, T) / 2**20).all()
    # the weights path holds at least one [B, h, T, T] matrix; the fused path does not
    assert memory.loc["d2lmha weights", "peak / matrix"] >= 1
    assert memory.loc["d2lmha fused", "peak MiB"] < memory.loc["d2lmha weights", "peak MiB"]


def test_flops_table(quick):
    flops = quick["flops"]
    assert list(flops.columns) == [
        "matmul GFLOP/s",
        "d2lmha fused GFLOP/s",
        "torch fused GFLOP/s",
        "d2lmha fused / matmul",
        "torch fused / matmul",
    ]
    assert _positive_finite(flops.iloc[0].tolist())


def test_report_written_with_machine_description(quick):
    text = quick["path"].read_text(encoding="utf-8")
    assert text == quick["text"]
    for needle in (
        f"- torch: {torch.__version__}",
        "- CPU: ",
        "- logical cores: ",
        "| point | implementation | vs |",
        "| path | attention matrix MiB |",
        "| matmul GFLOP/s |",
    ):
        assert needle in text, needle


def test_quick_run_restores_thread_count(quick):
    before = torch.get_num_threads()
    bench.run(["--quick", "--out", str(quick["path"]), "--rounds", "1", "--threads", "1"])
    assert torch.get_num_threads() == before


def test_command_line_points_and_errors():
    args = bench.parse_args(["--point", "16,256,512,8", "--point", "2,8,16,4,padded"])
    assert args.point == [Point(16, 256, 512, 8), Point(2, 8, 16, 4, padded=True)]
    for bad in (
        ["--point", "1,2,3"],
        ["--point", "1,2,3,4,masked"],
        ["--rounds", "0"],
        ["--threads", "-1"],
    ):
        with pytest.raises(SystemExit):
            bench.parse_args(bad)


def test_markdown_table():
    frame = pd.DataFrame({"name": ["a", "b"], "ratio": [1.0, 0.25], "n": [3, 4]})
    assert markdown_table(frame) == (
        "| name | ratio | n |\n|---|---|---|\n| a | 1.00 | 3 |\n| b | 0.25 | 4 |"
    )


def test_peak_bytes_sees_an_allocation(device):
    n = 1_000_000
    peak = peak_bytes(lambda: torch.ones(n, device=device).sum(), device)
    assert 4 * n <= peak < 8 * n


def test_attention_flops_formula():
    B, T, d = 2, 10, 16
    assert attention_flops(B, T, d, 4) == 8 * B * T * d**2 + 4 * B * T**2 * d
    assert attention_flops(B, T, d, 1) == attention_flops(B, T, d, 16)


def test_decode_tables(quick):
    """Every way of generating is listed with positive finite ratios (the ids agree, or
    decode_table raises); the K/V-head table's cache sizes follow 2·blocks·kv·d_k·4."""
    from benchmarks.decoding import MODES

    decode = quick["decode"]
    assert list(decode["way"]) == list(MODES)
    assert decode.set_index("way").loc["recompute", "time / baseline (median)"] == 1.0
    for column in ("ms per token", "time / baseline (median)", "min", "max"):
        assert _positive_finite(list(decode[column])), column
    kv = quick["kv_heads"].set_index("layer")
    config = bench.QUICK["decode"]
    d_k = config["num_hiddens"] // config["num_heads"]
    for _, row in kv.iterrows():
        assert row["cache bytes per token"] == 2 * config["blocks"] * row["kv heads"] * d_k * 4
    assert list(kv.index) == ["MHA", "GQA g=2", "MQA"]
    assert kv.loc["MQA", "decoder parameters"] < kv.loc["MHA", "decoder parameters"]
    assert "KV cache against recomputing" in quick["text"]
