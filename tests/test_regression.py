"""`make_line` and `diabetes_feature`: shapes, determinism, the line they encode, clear errors."""

import pytest
import torch

from cnn_tutorial.regression import DIABETES_FEATURES, diabetes_feature, make_line


def test_make_line_is_deterministic_and_shaped_for_nn_linear():
    x, y = make_line(100, seed=3)
    again_x, again_y = make_line(100, seed=3)
    assert x.shape == y.shape == (100, 1)
    assert x.dtype == y.dtype == torch.float32
    assert torch.equal(x, again_x) and torch.equal(y, again_y)
    assert not torch.equal(x, make_line(100, seed=4)[0])


def test_make_line_keeps_x_in_range():
    x, _ = make_line(1000, low=-2.0, high=5.0, seed=0)
    assert x.min() >= -2.0 and x.max() < 5.0
    assert x.min() < -1.5 and x.max() > 4.5  # spread over the whole range


def test_without_noise_every_point_is_on_the_line():
    x, y = make_line(50, slope=-0.5, intercept=7.0, noise=0.0, seed=1)
    torch.testing.assert_close(y, -0.5 * x + 7.0)


def test_least_squares_recovers_the_line_from_many_noisy_points():
    x, y = make_line(20_000, slope=2.0, intercept=3.0, noise=0.25, seed=0)
    X = torch.cat([x, torch.ones_like(x)], dim=1)
    w, b = torch.linalg.lstsq(X, y).solution[:, 0].tolist()
    assert w == pytest.approx(2.0, abs=0.02) and b == pytest.approx(3.0, abs=0.02)
    residual = y - (w * x + b)
    assert residual.std().item() == pytest.approx(0.25, rel=0.03)


@pytest.mark.parametrize(
    "kwargs, error, message",
    [
        ({"num_samples": 1}, ValueError, "at least 2"),
        ({"num_samples": 10.0}, TypeError, "must be an int, got float"),
        ({"num_samples": True}, TypeError, "must be an int, got bool"),
        ({"noise": -0.1}, ValueError, "noise is a standard deviation"),
        ({"low": 1.0, "high": 1.0}, ValueError, "low must be smaller than high"),
    ],
)
def test_make_line_rejects_bad_arguments(kwargs, error, message):
    with pytest.raises(error, match=message):
        make_line(**kwargs)


def test_diabetes_feature_names_match_scikit_learn():
    from sklearn.datasets import load_diabetes

    assert tuple(load_diabetes().feature_names) == DIABETES_FEATURES


def test_diabetes_feature_is_in_original_units():
    from sklearn.datasets import load_diabetes

    data = load_diabetes(scaled=False)
    for column, name in enumerate(DIABETES_FEATURES):
        x, y = diabetes_feature(name)
        assert x.shape == y.shape == (442, 1)
        torch.testing.assert_close(x[:, 0], torch.tensor(data.data[:, column], dtype=torch.float32))
    torch.testing.assert_close(y[:, 0], torch.tensor(data.target, dtype=torch.float32))


def test_diabetes_feature_rejects_unknown_names():
    with pytest.raises(ValueError, match="no feature 'BMI'.*choose one of age, sex, bmi"):
        diabetes_feature("BMI")


def test_diabetes_feature_falls_back_to_scikit_learn(monkeypatch):
    import importlib.util

    expected = diabetes_feature("bp")
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)  # as if the files were elsewhere
    x, y = diabetes_feature("bp")
    assert torch.equal(x, expected[0]) and torch.equal(y, expected[1])


def test_diabetes_feature_does_not_import_scikit_learn():
    import subprocess
    import sys

    code = "import sys; from cnn_tutorial.regression import diabetes_feature; diabetes_feature(); print('sklearn' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"
