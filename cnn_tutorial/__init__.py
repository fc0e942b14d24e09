"""Code for the tutorial *卷积神经网络 with PyTorch*: what several chapters and the command line reuse.

Each chapter shows the code it teaches in its own cells; this package holds the
models, data, training loop, shape arithmetic and plots that chapters share.
Where a chapter's code and a package object are the same thing, the chapter
checks at build time that they agree.

The API reference lists the modules (generated from their docstrings).
"""

import importlib
import importlib.util

# The names below are imported on first use, not all at once: a chapter that imports
# `cnn_tutorial.plotting` then depends on plotting (and what it imports) only, so the build
# re-executes just the chapters that use a module someone edits.
_EXPORTS = {
    "conv_output_size": "arithmetic",
    "pool_output_size": "arithmetic",
    "ImageSet": "data",
    "load_digits": "data",
    "make_shapes": "data",
    "capture_activations": "inspection",
    "count_parameters": "inspection",
    "parameters_by_layer": "inspection",
    "trace_shapes": "inspection",
    "SimpleCNN": "models",
    "Evaluation": "training",
    "History": "history",
    "evaluate": "training",
    "fit": "training",
    "pick_device": "runtime",
    "set_seed": "runtime",
}


def __getattr__(name: str):
    if name == "__version__":  # one source, the installed distribution's metadata (from pyproject.toml)
        from importlib.metadata import PackageNotFoundError, version

        try:
            return version("cnn-tutorial")
        except PackageNotFoundError:  # imported from a folder without installing: no metadata to read
            raise AttributeError("cnn_tutorial.__version__ comes from the installed distribution; "
                                 "install it (pip install -e .)") from None
    module = _EXPORTS.get(name)
    if module is None:  # a submodule used as an attribute (`cnn_tutorial.models.ConvNet`)
        if name.startswith("_") or importlib.util.find_spec(f"cnn_tutorial.{name}") is None:
            raise AttributeError(f"module 'cnn_tutorial' has no attribute {name!r}")
        return importlib.import_module(f"cnn_tutorial.{name}")
    value = getattr(importlib.import_module(f"cnn_tutorial.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_EXPORTS})


__all__ = sorted(_EXPORTS)
