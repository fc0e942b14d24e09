"""Data for the linear-regression chapter: a noisy line and one real feature.

`make_line` draws points around a known line, so a fitted slope and
intercept can be compared with the truth; `diabetes_feature` returns one
column of scikit-learn's bundled diabetes data (442 patients), in its
original units, with the disease-progression target. Both return column
tensors shaped (N, 1), the shape `nn.Linear(1, 1)` expects.
"""

import importlib.util
from pathlib import Path

import numpy as np
import torch

DIABETES_FEATURES = ("age", "sex", "bmi", "bp", "s1", "s2", "s3", "s4", "s5", "s6")


def make_line(
    num_samples: int = 256,
    slope: float = 2.0,
    intercept: float = 3.0,
    noise: float = 0.25,
    seed: int = 0,
    low: float = 0.0,
    high: float = 1.0,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Points scattered around the line `y = slope * x + intercept`.

    `x` is uniform in `[low, high)`; each `y` gets Gaussian noise with
    standard deviation `noise`. The same arguments always give the same
    tensors (the generator is seeded with `seed`).

    Args:
        num_samples: How many points; at least 2, or no line is determined.
        slope: The true slope.
        intercept: The true intercept (the value at `x = 0`).
        noise: Standard deviation of the noise added to `y`; 0 puts every point on the line.
        seed: Seed of the generator.
        low: Smallest possible `x`.
        high: `x` stays below this.

    Returns:
        `(x, y)`, two float32 tensors shaped (num_samples, 1).

    Raises:
        TypeError: If `num_samples` is not an int.
        ValueError: If `num_samples` < 2, `noise` < 0 or `low` >= `high`.

    Examples:
        >>> x, y = make_line(5, seed=0)
        >>> x.shape, y.shape, x.dtype
        (torch.Size([5, 1]), torch.Size([5, 1]), torch.float32)
        >>> x, y = make_line(4, slope=-1.0, intercept=0.5, noise=0.0, low=0.0, high=10.0)
        >>> bool(torch.allclose(y, -x + 0.5))
        True
        >>> make_line(1)
        Traceback (most recent call last):
            ...
        ValueError: num_samples must be at least 2 to determine a line, got 1
    """
    if not isinstance(num_samples, int) or isinstance(num_samples, bool):
        raise TypeError(f"num_samples must be an int, got {type(num_samples).__name__}")
    if num_samples < 2:
        raise ValueError(f"num_samples must be at least 2 to determine a line, got {num_samples}")
    if noise < 0:
        raise ValueError(f"noise is a standard deviation and must be >= 0, got {noise}")
    if not low < high:
        raise ValueError(f"low must be smaller than high, got low={low} and high={high}")
    generator = torch.Generator().manual_seed(seed)
    x = low + (high - low) * torch.rand(num_samples, 1, generator=generator)
    y = slope * x + intercept + noise * torch.randn(num_samples, 1, generator=generator)
    return x, y


def diabetes_feature(name: str = "bmi") -> tuple[torch.Tensor, torch.Tensor]:
    """One feature of scikit-learn's diabetes data, in its original units, and the target.

    The data ship with scikit-learn (no download): 442 patients, ten
    baseline measurements each, and a measure of disease progression one
    year later (the target, from 25 to 346). `scaled=False` keeps the
    original units, e.g. body-mass index (`"bmi"`) in kg/m², so the effect
    of feature scaling on gradient descent can be seen.

    Args:
        name: One of `DIABETES_FEATURES`: "age", "sex", "bmi", "bp"
            (blood pressure) or "s1" to "s6" (blood serum measurements).

    Returns:
        `(x, y)`, two float32 tensors shaped (442, 1).

    Raises:
        ValueError: If `name` is not a feature of the data set.

    Examples:
        >>> x, y = diabetes_feature("bmi")
        >>> x.shape, y.shape
        (torch.Size([442, 1]), torch.Size([442, 1]))
        >>> round(x.min().item(), 1), round(x.max().item(), 1)
        (18.0, 42.2)
        >>> diabetes_feature("weight")
        Traceback (most recent call last):
            ...
        ValueError: no feature 'weight' in the diabetes data; choose one of age, sex, bmi, bp, s1, s2, s3, s4, s5, s6
    """
    if name not in DIABETES_FEATURES:
        raise ValueError(
            f"no feature {name!r} in the diabetes data; choose one of {', '.join(DIABETES_FEATURES)}"
        )
    data, target = _diabetes_arrays()
    column = DIABETES_FEATURES.index(name)
    x = torch.tensor(data[:, column], dtype=torch.float32).unsqueeze(1)
    y = torch.tensor(target, dtype=torch.float32).unsqueeze(1)
    return x, y


def _diabetes_arrays() -> tuple[np.ndarray, np.ndarray]:
    """The data and target of `sklearn.datasets.load_diabetes(scaled=False)`.

    They are two small files inside scikit-learn; reading them directly skips
    importing scikit-learn, which takes more than a second and loads a second
    OpenMP runtime next to torch's (on machines with few cores, small torch
    computations then slow down). If the files are not where scikit-learn
    1.x keeps them, `load_diabetes` reads them.
    """
    spec = importlib.util.find_spec("sklearn")  # finds the package without importing it
    if spec is not None and spec.submodule_search_locations:
        folder = Path(spec.submodule_search_locations[0]) / "datasets" / "data"
        try:
            return np.loadtxt(folder / "diabetes_data_raw.csv.gz"), np.loadtxt(folder / "diabetes_target.csv.gz")
        except (OSError, ValueError):
            pass
    from sklearn.datasets import load_diabetes

    bunch = load_diabetes(scaled=False)
    return bunch.data, bunch.target
