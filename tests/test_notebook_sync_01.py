"""Chapter 01 builds masked_softmax, dot_product_attention and SelfAttentionHead in the open;
these tests hold them equal to the package's versions on random inputs (masks included), check
the chapter's restatement of d2l 1.0.3's masked_softmax against d2l's own source, and check the
notebook_defs helper the other chapters reuse."""

import ast
import importlib.util
from importlib import metadata
from pathlib import Path

import nbformat
import pytest
import torch
from torch.testing import assert_close

import d2lmha
from notebook_defs import load_defs, tagged_cells

NOTEBOOK = Path(__file__).resolve().parents[1] / "notebooks" / "01_single_head_attention.ipynb"
SHAPES = [(3, 4, 6), (2, 5, 5), (3, 2, 4, 6)]  # [batch, q, k] and [batch, heads, q, k]
CASES = ["none", "per_sequence", "per_query", "bool_mask", "causal", "lens_and_mask", "empty_rows"]


@pytest.fixture(scope="module")
def nb():
    return load_defs(NOTEBOOK)


def masking(case, shape, device):
    """Keyword arguments of one masking case for scores of ``shape`` (random, seeded)."""
    batch, num_q, num_k = shape[0], shape[-2], shape[-1]
    g = torch.Generator().manual_seed(1)
    per_sequence = torch.randint(1, num_k + 1, (batch,), generator=g).to(device)
    per_query = torch.randint(0, num_k + 1, (batch, num_q), generator=g).to(device)
    per_query[0, 0] = 0  # one empty row at least
    mask_shape = (batch, *[1] * (len(shape) - 3), num_q, num_k)
    bool_mask = (torch.rand(mask_shape, generator=g) > 0.3).to(device)
    causal = d2lmha.causal_mask(num_q, num_k, device=device)
    empty = torch.tensor([0] + [num_k] * (batch - 1), device=device)  # sequence 0: no key
    return {
        "none": {},
        "per_sequence": {"valid_lens": per_sequence},
        "per_query": {"valid_lens": per_query},
        "bool_mask": {"mask": bool_mask},
        "causal": {"mask": causal},
        "lens_and_mask": {"valid_lens": per_sequence, "mask": causal},
        "empty_rows": {"valid_lens": empty},
    }[case]


def test_notebook_builds_these_in_the_open(nb):
    assert {"masked_softmax", "dot_product_attention", "SelfAttentionHead"} <= set(nb)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("shape", SHAPES)
def test_masked_softmax_matches_package(nb, device, shape, case, dtype):
    X = 3 * torch.randn(shape, device=device, dtype=dtype)
    before = X.clone()
    kwargs = masking(case, shape, device)
    ours = nb["masked_softmax"](X, **kwargs)
    theirs = d2lmha.masked_softmax(X, **kwargs)
    assert ours.dtype == dtype and ours.shape == X.shape
    assert_close(ours, theirs)
    assert torch.equal(ours == 0, theirs == 0)  # exactly the same entries are exactly 0
    assert torch.isfinite(ours).all()
    assert torch.equal(X, before)  # the caller's scores are left alone


def test_masked_softmax_empty_row_is_zeros_not_uniform(nb, device):
    X = torch.randn(2, 3, 4, device=device)
    W = nb["masked_softmax"](X, torch.tensor([0, 4], device=device))
    assert torch.equal(W[0], torch.zeros(3, 4, device=device))
    assert_close(W[1].sum(-1), torch.ones(3, device=device))


@pytest.mark.filterwarnings("ignore:Anomaly Detection has been enabled")
@pytest.mark.parametrize("case", ["per_query", "lens_and_mask", "empty_rows"])
def test_masked_softmax_gradients_match_package(nb, device, case):
    shape = (3, 2, 4, 6)
    kwargs = masking(case, shape, device)
    upstream = torch.randn(shape, device=device)
    X = torch.randn(shape, device=device)
    results = []
    for fn in (nb["masked_softmax"], d2lmha.masked_softmax):
        leaf = X.clone().requires_grad_()
        # Anomaly mode raises if any step of the backward pass makes a NaN, even one that a
        # later masked_fill would hide: a learner debugging with it must not trip on ours.
        with torch.autograd.detect_anomaly(check_nan=True):
            (fn(leaf, **kwargs) * upstream).sum().backward()
        results.append(leaf.grad)
    assert torch.isfinite(results[0]).all()
    assert_close(results[0], results[1])


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("shape", SHAPES)
def test_dot_product_attention_matches_package(nb, device, shape, case):
    queries = torch.randn(shape[:-1] + (8,), device=device)
    keys = torch.randn(shape[:-2] + (shape[-1], 8), device=device)
    values = torch.randn(shape[:-2] + (shape[-1], 3), device=device)
    kwargs = masking(case, shape, device)
    outputs, weights = nb["dot_product_attention"](queries, keys, values, **kwargs)
    layer = d2lmha.DotProductAttention()
    assert_close(outputs, layer(queries, keys, values, **kwargs))
    assert_close(weights, layer.attention_weights)


@pytest.mark.parametrize("bias", [False, True])
@pytest.mark.parametrize("case", ["none", "per_sequence", "per_query", "causal", "empty_rows"])
def test_self_attention_head_is_one_head_multihead_attention(nb, device, bias, case):
    num_hiddens, head_size, shape = 12, 4, (3, 5, 5)
    head = nb["SelfAttentionHead"](num_hiddens, head_size, bias=bias).to(device)
    one_head = d2lmha.MultiHeadAttention(
        head_size,
        1,
        bias=bias,
        query_size=num_hiddens,
        key_size=num_hiddens,
        value_size=num_hiddens,
    ).to(device)
    for name in ("W_q", "W_k", "W_v"):
        getattr(one_head, name).load_state_dict(getattr(head, name).state_dict())
    with torch.no_grad():  # a single head needs no output mixing
        one_head.W_o.weight.copy_(torch.eye(head_size))
        if bias:
            one_head.W_o.bias.zero_()
    X = torch.randn(shape[0], shape[1], num_hiddens, device=device)
    kwargs = masking(case, shape, device)
    assert_close(head(X, **kwargs), one_head(X, X, X, **kwargs))
    assert head.attention_weights.shape == shape
    assert_close(head.attention_weights, one_head.attention_weights[:, 0])


def _function_def(source: str, name: str) -> ast.FunctionDef:
    return next(
        node
        for node in ast.parse(source).body
        if isinstance(node, ast.FunctionDef) and node.name == name
    )


@pytest.fixture(scope="module")
def d2l_source():
    spec = importlib.util.find_spec("d2l")
    if spec is None or metadata.version("d2l") != "1.0.3":
        pytest.skip("d2l 1.0.3 source is not installed (make install adds it with --no-deps)")
    # Read the file rather than `import d2l.torch`, which needs torchvision.
    return Path(spec.submodule_search_locations[0], "torch.py").read_text()


def test_restated_d2l_masked_softmax_is_d2l_1_0_3(d2l_source):
    ((_, cell),) = tagged_cells(NOTEBOOK, tag="d2l-1.0.3")
    restated = _function_def(cell, "d2l_masked_softmax")
    restated.name = "masked_softmax"
    assert ast.dump(restated) == ast.dump(_function_def(d2l_source, "masked_softmax"))


def test_restated_d2l_masked_softmax_behaves_like_d2l(d2l_source, device):
    namespace = {"torch": torch, "nn": torch.nn}
    exec(
        compile(
            ast.Module([_function_def(d2l_source, "masked_softmax")], []), "d2l/torch.py", "exec"
        ),
        namespace,
    )
    original = namespace["masked_softmax"]
    restated = load_defs(NOTEBOOK, tag="d2l-1.0.3")["d2l_masked_softmax"]
    X = torch.randn(2, 3, 4, device=device)
    for lens in (
        None,
        torch.tensor([0, 3], device=device),
        torch.tensor([[1, 0, 4], [2, 2, 3]], device=device),
    ):
        for dtype in (torch.float32, torch.float16):
            given_to_original, given_to_restated = X.to(dtype), X.to(dtype)
            expected = original(given_to_original, lens)
            assert_close(restated(given_to_restated, lens), expected, equal_nan=True)
            assert torch.equal(given_to_restated, given_to_original)  # same in-place writes
    # The behaviour the chapter shows: uniform in float32, NaN in float16, input overwritten.
    lens = torch.tensor([0, 3], device=device)
    given = X.clone()
    assert_close(restated(given, lens)[0], torch.full((3, 4), 0.25, device=device))
    assert torch.isnan(restated(X.half(), lens)[0]).all()
    assert (given[0] == -1e6).all()


def _write_notebook(path, cells):
    notebook = nbformat.v4.new_notebook()
    for source, tags in cells:
        cell = nbformat.v4.new_code_cell(source)
        if tags:
            cell.metadata["tags"] = tags
        notebook.cells.append(cell)
    nbformat.write(notebook, path)
    return path


def test_load_defs_runs_imports_and_tagged_cells_only(tmp_path):
    path = _write_notebook(
        tmp_path / "nb.ipynb",
        [
            ("%matplotlib inline\nimport math", None),
            ("def root(x):\n    return math.sqrt(x)\nSCALE = 2", ["in-the-open"]),
            ("raise RuntimeError('an untagged cell must not run')", None),
            ("def twice(x):\n    return SCALE * root(x)", ["in-the-open", "other"]),
        ],
    )
    defs = load_defs(path)
    assert set(defs) == {"root", "SCALE", "twice"}
    assert defs["twice"](16) == 8
    assert set(load_defs(path, tag="other")) == {"twice"}


def test_load_defs_errors(tmp_path):
    path = _write_notebook(tmp_path / "nb.ipynb", [("x = 1", None)])
    with pytest.raises(ValueError, match="no code cell tagged 'in-the-open'"):
        load_defs(path)
    with pytest.raises(FileNotFoundError, match="notebook_path"):
        load_defs(tmp_path / "missing.ipynb")
