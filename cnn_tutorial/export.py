"""Export a trained model's weights to JSON, for inference in a web page.

The playground page runs `DigitCNN` in plain JavaScript; it needs the
weights as numbers it can read. JSON keeps the file readable and small for
a model of a few thousand parameters (floats are written with 9 significant
digits, enough to round-trip float32 exactly).
"""

import json
from pathlib import Path

import torch
from torch import nn

FORMAT = "cnn-tutorial-weights/1"


def model_to_json(model: nn.Module) -> str:
    """Every tensor of the model's `state_dict` as `{"shape": [...], "data": [...]}`.

    Args:
        model: Any module; its parameters and buffers are exported.

    Returns:
        A JSON document: `{"format": ..., "model": class name, "tensors": {...}}`.

    Examples:
        >>> from cnn_tutorial.models import DigitCNN
        >>> doc = json.loads(model_to_json(DigitCNN()))
        >>> doc["model"], doc["tensors"]["conv1.weight"]["shape"]
        ('DigitCNN', [8, 1, 3, 3])
    """
    tensors = {
        name: {"shape": list(t.shape), "data": [float(f"{v:.9g}") for v in t.detach().cpu().flatten().tolist()]}
        for name, t in model.state_dict().items()
    }
    return json.dumps({"format": FORMAT, "model": type(model).__name__, "tensors": tensors}, separators=(",", ":"))


def save_model_json(model: nn.Module, path: str | Path) -> Path:
    """Write `model_to_json(model)` to `path` and return the path."""
    path = Path(path)
    path.write_text(model_to_json(model), encoding="utf-8")
    return path


def load_model_json(model: nn.Module, path: str | Path) -> nn.Module:
    """Load weights written by `save_model_json` into `model` (same architecture).

    Raises:
        FileNotFoundError: If `path` does not exist.
        ValueError: If the file is not such an export, or its tensors do not fit `model`.

    Examples:
        >>> import tempfile
        >>> from cnn_tutorial.models import DigitCNN
        >>> original, copy = DigitCNN(), DigitCNN()
        >>> with tempfile.TemporaryDirectory() as folder:
        ...     _ = load_model_json(copy, save_model_json(original, Path(folder) / "m.json"))
        >>> all(torch.equal(a, b) for a, b in zip(original.parameters(), copy.parameters()))
        True
    """
    path = Path(path)
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise FileNotFoundError(f"no exported model at {path}") from None
    except ValueError as error:
        raise ValueError(f"{path} is not valid JSON ({error}); expected a file written by save_model_json") from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise ValueError(f"{path} is not a {FORMAT} export (format: {doc.get('format') if isinstance(doc, dict) else None!r})")
    state = {}
    for name, tensor in model.state_dict().items():
        entry = doc["tensors"].get(name)
        if entry is None or list(entry["shape"]) != list(tensor.shape):
            found = None if entry is None else entry["shape"]
            raise ValueError(f"{path}: tensor {name!r} should have shape {list(tensor.shape)}, found {found}")
        state[name] = torch.tensor(entry["data"], dtype=tensor.dtype).reshape(tensor.shape)
    model.load_state_dict(state)
    return model
