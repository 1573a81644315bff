"""Within one `make test` run, a model trained by one edition's chapter is not trained again
by its twin (issue 21: "a trained model cached within a run").

Both editions of a chapter run the same code with the same seeds, so each ``train`` call of
the 中文 chapter starts from exactly the state the English one started from: the same initial
weights, the same global RNG state (dropout draws from it), the same task and arguments. This
module wraps :func:`d2lmha.training.train` so that such a call loads the result the first one
saved — the trained weights, the history it returned and the global RNG state it left —
instead of repeating the optimisation. Anything that differs (one weight, the RNG, a
hyper-parameter, a parameter frozen or tied, the default dtype, the torch version) gives
another key, hence a real training run; so does a model off the CPU (no GPU state is saved).
What a hit does not restore: the parameters' ``.grad`` (None, where training leaves the last
step's) and a module's record of its last forward pass (e.g. ``attention_weights``), which no
cell reads before the next forward pass.

It is loaded only into the kernels of the nbval run, as an IPython start-up file
(``conftest.py`` sets ``IPYTHONDIR`` and ``D2LMHA_TRAIN_CACHE``, a folder private to the run),
and the English chapters run first (``conftest.py`` schedules the 中文 ones last). The package
itself never caches: a learner's kernel always trains. Results are stored as safetensors and
JSON (no pickle).
"""

from __future__ import annotations

import functools
import hashlib
import inspect
import json
import os
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

# Arguments that change what is shown, not what is computed.
DISPLAY_ONLY = ("progress", "desc")


def cache_key(train, model: torch.nn.Module, *args, **kwargs) -> str | None:
    """sha256 of everything a ``train(model, ...)`` call's result depends on; ``None`` when
    it cannot be cached (a parameter or buffer off the CPU)."""
    try:
        bound = inspect.signature(train).bind(model, *args, **kwargs)
    except TypeError:  # let train itself say what is wrong with the call
        return None
    bound.apply_defaults()
    state = model.state_dict()
    if any(t.device.type != "cpu" for t in state.values()):
        return None
    h = hashlib.sha256()
    settings = {k: v for k, v in bound.arguments.items() if k not in ("model", *DISPLAY_ONLY)}
    h.update(repr((torch.__version__, torch.get_default_dtype(), _type(model))).encode())
    h.update(repr(sorted((k, _type(v), repr(v)) for k, v in settings.items())).encode())
    h.update(repr(model.training).encode())
    # What the optimiser updates, and which parameters are one tensor (tied weights).
    parameters = list(model.named_parameters(remove_duplicate=False))
    owners = {}
    h.update(
        repr(
            [(n, p.requires_grad, owners.setdefault(p.data_ptr(), n)) for n, p in parameters]
        ).encode()
    )
    # The structure: models with the same weights can differ in their settings (a model
    # with 1 head and one with 4 have the same parameters, drawn from the same seed).
    for name, module in model.named_modules():
        plain = {
            k: v
            for k, v in vars(module).items()
            if not k.startswith("_") and isinstance(v, (bool, int, float, str, tuple, type(None)))
        }
        h.update(repr((name, type(module).__qualname__, sorted(plain.items()))).encode())
    for name, tensor in state.items():
        h.update(repr((name, tensor.dtype, tuple(tensor.shape))).encode())
        h.update(tensor.detach().contiguous().view(-1).view(torch.uint8).numpy().tobytes())
    h.update(torch.get_rng_state().numpy().tobytes())
    return h.hexdigest()


def _type(value) -> str:
    return f"{type(value).__module__}.{type(value).__qualname__}"


def cached(train, folder: Path):
    """``train`` that saves each result under ``folder`` and loads it for an identical call."""
    folder = Path(folder)

    @functools.wraps(train)
    def wrapper(model, *args, **kwargs):
        key = cache_key(train, model, *args, **kwargs)
        if key is None:
            return train(model, *args, **kwargs)
        tensors, record = folder / f"{key}.safetensors", folder / f"{key}.json"
        if record.is_file():  # written last: the pair is complete
            saved = load_file(tensors)
            model.load_state_dict({k[6:]: v for k, v in saved.items() if k.startswith("state.")})
            torch.set_rng_state(saved["rng"])
            meta = json.loads(record.read_text())
            model.train(meta["training"])
            return meta["history"]
        history = train(model, *args, **kwargs)
        folder.mkdir(parents=True, exist_ok=True)
        state = {
            f"state.{k}": v.detach().clone().contiguous() for k, v in model.state_dict().items()
        }
        part = f".{os.getpid()}.part"
        save_file({**state, "rng": torch.get_rng_state()}, str(tensors) + part)
        os.replace(str(tensors) + part, tensors)
        meta = {"history": history, "training": model.training}
        Path(str(record) + part).write_text(json.dumps(meta))
        os.replace(str(record) + part, record)
        return history

    wrapper.uncached = train
    return wrapper


def install() -> None:
    """Wrap :func:`d2lmha.training.train` in this process when ``D2LMHA_TRAIN_CACHE`` names
    the run's folder (the kernels' start-up file calls this)."""
    folder = os.environ.get("D2LMHA_TRAIN_CACHE")
    if not folder:
        return
    import d2lmha.training as training

    if not hasattr(training.train, "uncached"):
        training.train = cached(training.train, Path(folder))
