"""Looking inside a model: parameter counts, shapes and activations.

中文：查看模型内部：参数数量、各层形状与激活值。
"""

from collections.abc import Iterable

import torch
from torch import nn


def count_parameters(model: nn.Module, trainable_only: bool = False) -> int:
    """Number of scalar parameters (weights and biases) in a model.

    Args:
        model: Any module.
        trainable_only: Count only parameters with `requires_grad=True`.

    Returns:
        The total number of elements of all parameter tensors.

    Examples:
        >>> from torch import nn
        >>> count_parameters(nn.Linear(4608, 64))  # 4608 * 64 weights + 64 biases
        294976
    """
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)


def parameters_by_layer(model: nn.Module) -> list[tuple[str, int, float]]:
    """Parameter count of each layer that owns parameters, with its share.

    Args:
        model: Any module.

    Returns:
        `(layer name, parameters, share of the total)` for every submodule
        that directly owns parameters, in definition order.

    Examples:
        >>> from cnn_tutorial.models import SimpleCNN
        >>> for name, count, share in parameters_by_layer(SimpleCNN()):
        ...     print(f"{name:6} {count:7,} {share:6.1%}")
        conv1      504   0.2%
        fc1    294,976  99.6%
        fc2        650   0.2%
    """
    total = count_parameters(model)
    rows = []
    for name, module in model.named_modules():
        count = sum(p.numel() for p in module.parameters(recurse=False))
        if count:
            rows.append((name, count, count / total))
    return rows


def trace_shapes(model: nn.Module, x: torch.Tensor) -> list[tuple[str, tuple[int, ...]]]:
    """Run `x` through `model` and record the output shape of every leaf layer.

    The shapes are measured, not computed by hand: a forward hook on each
    layer without children records what actually comes out. The pass runs in
    evaluation mode and changes nothing in the model (batch-norm statistics,
    random generators, its mode).

    Args:
        model: Any module.
        x: An input batch the model accepts.

    Returns:
        `("input", shape)` followed by `(layer name, output shape)` for each
        leaf layer, in the order the layers ran.

    Examples:
        >>> import torch
        >>> from cnn_tutorial.models import SimpleCNN
        >>> for name, shape in trace_shapes(SimpleCNN(), torch.zeros(1, 3, 32, 32)):
        ...     print(f"{name:8} {shape}")
        input    (1, 3, 32, 32)
        conv1    (1, 18, 32, 32)
        pool     (1, 18, 16, 16)
        flatten  (1, 4608)
        fc1      (1, 64)
        fc2      (1, 10)
    """
    trace = [("input", tuple(x.shape))]
    leaves = {n: m for n, m in model.named_modules() if n and not list(m.children())}
    _forward_with_hooks(model, x, leaves, lambda name, out: trace.append((name, tuple(out.shape))))
    return trace


def capture_activations(
    model: nn.Module, x: torch.Tensor, layers: Iterable[str]
) -> dict[str, torch.Tensor]:
    """Outputs of the named layers for input `x` (the feature maps).

    Measured in evaluation mode (dropout off, batch norm with its running
    statistics), as the model predicts; the model is left as it was.

    Args:
        model: Any module.
        x: An input batch the model accepts.
        layers: Names as in `model.named_modules()`, e.g. `["conv1", "pool"]`.

    Returns:
        A dict from layer name to its output, detached from the graph.

    Raises:
        KeyError: If a name is not a layer of the model; the message lists the layers.

    Examples:
        >>> import torch
        >>> from cnn_tutorial.models import SimpleCNN
        >>> maps = capture_activations(SimpleCNN(), torch.zeros(1, 3, 32, 32), ["conv1"])
        >>> maps["conv1"].shape
        torch.Size([1, 18, 32, 32])
    """
    modules = dict(model.named_modules())
    layers = list(layers)
    unknown = [name for name in layers if name not in modules or not name]
    if unknown:
        known = ", ".join(n for n in modules if n)
        raise KeyError(f"no layer named {unknown!r}; the model has: {known}")
    captured: dict[str, torch.Tensor] = {}
    watched = {name: modules[name] for name in layers}
    _forward_with_hooks(model, x, watched, lambda name, out: captured.__setitem__(name, out.detach()))
    return captured


def _forward_with_hooks(model, x, watched: dict[str, nn.Module], on_output) -> None:
    """Run one forward pass in evaluation mode, calling `on_output(name, output)` for each watched layer.

    Looking must not change the model: in training mode batch norm would
    update its running statistics (`no_grad` does not stop that) and dropout
    would draw random masks from the global generator. The model's mode is
    restored afterwards, also after an error.
    """

    def hook_for(name):
        return lambda module, inputs, output: on_output(name, output)

    was_training = model.training
    handles = [module.register_forward_hook(hook_for(name)) for name, module in watched.items()]
    try:
        model.eval()
        with torch.no_grad():
            model(x)
    finally:
        model.train(was_training)
        for handle in handles:
            handle.remove()
