import math

import pytest
import torch
from torch import nn

from cnn_tutorial.calculus import max_relative_error, numerical_gradient


def test_matches_a_known_derivative():
    x = torch.tensor([0.0, 0.3, -1.2, 2.0])
    estimate = numerical_gradient(lambda t: torch.exp(t).sum(), x)
    assert estimate.dtype == torch.float64
    assert max_relative_error(estimate, torch.exp(x.double())) < 1e-9


def test_keeps_the_shape_and_leaves_x_untouched():
    x = torch.arange(6.0).reshape(2, 3)
    before = x.clone()
    estimate = numerical_gradient(lambda t: (t * torch.arange(6.0, dtype=torch.float64).reshape(2, 3)).sum(), x)
    assert estimate.shape == (2, 3)
    assert torch.equal(x, before)
    torch.testing.assert_close(estimate, torch.arange(6.0, dtype=torch.float64).reshape(2, 3))


def test_agrees_with_autograd_on_a_network_loss():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 1)).double()
    inputs, targets = torch.randn(5, 3, dtype=torch.float64), torch.randn(5, 1, dtype=torch.float64)
    nn.functional.mse_loss(net(inputs), targets).backward()
    weight = net[0].weight

    def loss_at(w):
        hidden = torch.tanh(inputs @ w.T + net[0].bias)
        return nn.functional.mse_loss(net[2](hidden), targets)

    assert max_relative_error(numerical_gradient(loss_at, weight), weight.grad) < 1e-8


def test_zero_dimensional_point():
    estimate = numerical_gradient(lambda t: t ** 3, torch.tensor(2.0))
    assert estimate.shape == ()
    assert math.isclose(estimate.item(), 12.0, rel_tol=1e-9)


def test_error_shrinks_like_eps_squared():
    x = torch.tensor([1.0], dtype=torch.float64)
    exact = torch.cos(x)
    errors = [max_relative_error(numerical_gradient(lambda t: torch.sin(t).sum(), x, eps), exact) for eps in (1e-2, 1e-3)]
    assert 50 < errors[0] / errors[1] < 200  # ten times smaller step, about a hundred times smaller error


def test_rejects_integer_points_and_bad_steps():
    with pytest.raises(TypeError, match="floating-point tensor, got a torch.int64 tensor"):
        numerical_gradient(lambda t: t.sum(), torch.tensor([1, 2]))
    with pytest.raises(TypeError, match="got list"):
        numerical_gradient(lambda t: t.sum(), [1.0, 2.0])
    with pytest.raises(ValueError, match="eps must be > 0, got 0"):
        numerical_gradient(lambda t: t.sum(), torch.ones(2), eps=0)


def test_rejects_functions_that_are_not_scalar():
    with pytest.raises(ValueError, match=r"one element, got shape \(2,\)"):
        numerical_gradient(lambda t: t * 2, torch.ones(2))
    with pytest.raises(TypeError, match="one element, got float"):
        numerical_gradient(lambda t: float(t.sum()), torch.ones(2))


def test_max_relative_error():
    assert max_relative_error(torch.tensor([2.0, 4.0]), torch.tensor([2.0, 4.0])) == 0.0
    assert math.isclose(max_relative_error(torch.tensor([0.0, 10.0]), torch.tensor([1.0, 10.0])), 0.1)
    assert max_relative_error(torch.empty(0), torch.empty(0)) == 0.0
    with pytest.raises(ValueError, match=r"same shape, got \(2,\) and \(3,\)"):
        max_relative_error(torch.zeros(2), torch.zeros(3))
