"""cnn_tutorial.experiments: fair comparisons of training configurations."""

import math

import pytest
import torch
from torch import nn

from cnn_tutorial.augment import random_shift
from cnn_tutorial.data import ImageSet, make_shapes
from cnn_tutorial.experiments import (
    Config,
    DenseHeadCNN,
    Run,
    compare,
    per_class_accuracy,
    plot_validation_curves,
    results_table,
    standard_error,
    train_config,
)
from cnn_tutorial.models import ConvNet, SimpleCNN
from cnn_tutorial.training import History, evaluate, set_seed


@pytest.fixture(scope="module")
def tiny():
    return make_shapes(40, seed=0), make_shapes(20, seed=1)


def small_convnet(dropout):
    return ConvNet(widths=(4,), dropout=dropout)


# DenseHeadCNN


def test_dense_head_cnn_is_simple_cnn_with_a_dropout_switch():
    simple, dense = SimpleCNN(), DenseHeadCNN(dropout=0.5)
    mapping = {"conv1": "features.0", "fc1": "classifier.2", "fc2": "classifier.4"}
    renamed = {}
    for name, tensor in simple.state_dict().items():
        layer, kind = name.split(".")
        renamed[f"{mapping[layer]}.{kind}"] = tensor
    dense.load_state_dict(renamed)  # strict: the same parameters, no more, no fewer
    dense.eval()
    x = torch.rand(5, 3, 32, 32)
    assert torch.allclose(dense(x), simple(x), atol=1e-6)


def test_dropout_acts_in_training_mode_only():
    torch.manual_seed(0)
    model, x = DenseHeadCNN(dropout=0.5), torch.rand(4, 3, 32, 32)
    model.train()
    assert not torch.equal(model(x), model(x))
    model.eval()
    assert torch.equal(model(x), model(x))


def test_dense_head_cnn_sizes_its_head_from_the_image_size():
    model = DenseHeadCNN(in_channels=1, widths=(8, 16), hidden=20, image_size=16)
    assert model.classifier[2].in_features == 16 * 4 * 4
    assert model(torch.zeros(3, 1, 16, 16)).shape == (3, 10)
    with pytest.raises(ValueError, match="too small"):
        DenseHeadCNN(widths=(4, 4, 4), image_size=4)
    with pytest.raises(ValueError, match=r"\(N, C, H, W\)"):
        DenseHeadCNN()(torch.zeros(3, 32, 32))


# Config


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"dropout": 1.0}, "dropout"),
        ({"dropout": -0.1}, "dropout"),
        ({"weight_decay": -1.0}, "weight_decay"),
        ({"schedule": "linear"}, "cosine"),
    ],
)
def test_config_rejects_impossible_settings(kwargs, message):
    with pytest.raises(ValueError, match=message):
        Config("x", **kwargs)
    with pytest.raises(ValueError, match="name"):
        Config("")


# train_config and compare


def test_identical_configurations_give_identical_runs(tiny):
    train, val = tiny
    configs = [
        Config(name, dropout=0.3, weight_decay=0.1, schedule="cosine", augment=lambda: random_shift(2))
        for name in ("a", "b")
    ]
    a, b = compare(configs, train, val, make_model=small_convnet, epochs=3)
    assert a.history == b.history
    assert a.train_accuracy == b.train_accuracy


def test_a_shared_augmentation_would_break_the_comparison(tiny):
    # Why Config takes a factory: one augmentation object shared by two runs
    # keeps drawing from the same generator, so the second run sees other shifts.
    train, val = tiny
    shared = random_shift(2)
    configs = [Config("first", augment=lambda: shared), Config("second", augment=lambda: shared)]
    first, second = compare(configs, train, val, make_model=small_convnet, epochs=2)
    assert first.history.train_loss != second.history.train_loss


def test_every_configuration_starts_from_the_same_weights(tiny):
    train, val = tiny
    initial = []

    def spy(dropout):
        model = small_convnet(dropout)
        initial.append({k: v.clone() for k, v in model.state_dict().items()})
        return model

    configs = [Config("plain"), Config("dropout", dropout=0.5), Config("decay", weight_decay=1.0)]
    compare(configs, train, val, make_model=spy, epochs=1)
    assert len(initial) == 3
    for other in initial[1:]:
        assert all(torch.equal(initial[0][k], other[k]) for k in initial[0])


def test_the_configuration_reaches_the_model_and_fit(tiny):
    train, val = tiny
    seen = []

    def spy(dropout):
        seen.append(dropout)
        return small_convnet(dropout)

    plain, decayed = compare(
        [Config("plain"), Config("decayed", dropout=0.25, weight_decay=50.0)],
        train,
        val,
        make_model=spy,
        epochs=2,
        lr=0.01,
    )
    assert seen == [0.0, 0.25]
    assert plain.model.classifier[2].p == 0.0 and decayed.model.classifier[2].p == 0.25
    norm = lambda run: sum(p.norm() ** 2 for p in run.model.parameters())  # noqa: E731
    assert norm(decayed) < 0.5 * norm(plain)


def test_run_measures_train_accuracy_on_clean_images_and_val_every_epoch(tiny):
    train, val = tiny
    run = train_config(
        Config("shifted", augment=lambda: random_shift(3)), train, val, make_model=small_convnet, epochs=3
    )
    assert run.history.epochs == 3 and len(run.history.test_accuracy) == 3
    assert run.train_accuracy == evaluate(run.model, train).accuracy
    assert run.val_accuracy == evaluate(run.model, val).accuracy
    assert run.gap == pytest.approx(run.train_accuracy - run.val_accuracy)


def test_compare_defaults_to_a_dense_head_cnn_for_the_images(tiny):
    train, val = tiny
    (run,) = compare([Config("default", dropout=0.2)], train, val, epochs=1)
    assert isinstance(run.model, DenseHeadCNN)
    assert run.model.classifier[1].p == 0.2


def test_compare_rejects_no_configs_and_repeated_names(tiny):
    train, val = tiny
    with pytest.raises(ValueError, match="at least one"):
        compare([], train, val, epochs=1)
    with pytest.raises(ValueError, match=r"\['twice'\]"):
        compare([Config("twice"), Config("once"), Config("twice")], train, val, epochs=1)


# Run, results_table, plot_validation_curves


def hand_made_run(name="toy", train_accuracy=0.9):
    history = History(
        train_loss=[2.0, 1.0, 0.5, 0.2],
        train_accuracy=[0.3, 0.6, 0.8, 0.95],
        test_loss=[2.1, 1.5, 1.6, 1.9],
        test_accuracy=[0.25, 0.7, 0.7, 0.6],
    )
    return Run(Config(name), nn.Identity(), history, train_accuracy)


def test_run_properties_follow_the_history():
    run = hand_made_run()
    assert run.val_accuracy == 0.6
    assert run.best_val_accuracy == 0.7
    assert run.best_epoch == 2  # the first of the two best epochs, counted from 1
    assert run.gap == pytest.approx(0.3)


def test_results_table_has_one_row_per_run_with_the_numbers():
    runs = [hand_made_run("baseline", 1.0), hand_made_run("a much longer name", 0.8)]
    lines = results_table(runs).splitlines()
    assert len(lines) == 3
    assert lines[0].split()[0] == "configuration"
    assert len({len(line) for line in lines}) == 1  # aligned columns
    assert lines[1].split() == ["baseline", "100.0%", "60.0%", "70.0%", "2", "40.0"]
    assert lines[2].split()[-5:] == ["80.0%", "60.0%", "70.0%", "2", "20.0"]


def test_plot_validation_curves_draws_each_run():
    runs = [hand_made_run("a"), hand_made_run("b")]
    fig = plot_validation_curves(runs, title="t")
    lines = fig.axes[0].lines
    assert [line.get_label() for line in lines] == ["a", "b"]
    assert list(lines[0].get_ydata()) == runs[0].history.test_accuracy
    assert fig.axes[0].get_title() == "t"


# per_class_accuracy and standard_error


def test_per_class_accuracy_agrees_with_an_independent_count():
    set_seed(0)
    model, data = small_convnet(0.0), make_shapes(60, seed=3)
    per_class = per_class_accuracy(model, data)
    assert list(per_class) == list(data.classes)
    with torch.no_grad():
        predicted = model(data.images).argmax(dim=1)
    for index, name in enumerate(data.classes):
        chosen = data.labels == index
        assert per_class[name] == pytest.approx((predicted[chosen] == index).float().mean().item())
    counts = data.class_counts()
    overall = sum(per_class[name] * counts[name] for name in data.classes) / len(data)
    assert overall == pytest.approx(evaluate(model, data).accuracy)


def test_per_class_accuracy_is_nan_for_an_absent_class():
    data = ImageSet(torch.zeros(2, 1, 2, 2), torch.tensor([0, 0]), ["a", "b"])
    result = per_class_accuracy(nn.Sequential(nn.Flatten(), nn.Linear(4, 2)), data)
    assert result["a"] in (0.0, 1.0) and math.isnan(result["b"])


def test_standard_error_matches_the_scatter_of_simulated_accuracies():
    generator = torch.Generator().manual_seed(0)
    p, n = 0.7, 400
    accuracies = (torch.rand(4000, n, generator=generator) < p).float().mean(dim=1)
    assert accuracies.std().item() == pytest.approx(standard_error(p, n), rel=0.05)
    assert standard_error(1.0, 10) == 0.0
    with pytest.raises(ValueError):
        standard_error(1.5, 10)
    with pytest.raises(ValueError):
        standard_error(0.5, 0)
