"""cnn_tutorial.transfer: freezing, new heads, stored features, the label-budget experiment,
and the chapter's torchvision block (not executed by the site, so checked here)."""

import copy
import math
import re
import sys
import textwrap
import types
from pathlib import Path

import pytest
import torch
from torch import nn
from torch.utils.data import TensorDataset

from cnn_tutorial.data import ImageSet, make_shapes
from cnn_tutorial.inspection import count_parameters
from cnn_tutorial.models import ConvNet
from cnn_tutorial.training import evaluate, fit, set_seed
from cnn_tutorial.transfer import (
    METHODS,
    BudgetCurve,
    Recipe,
    epochs_for,
    extract_features,
    freeze,
    label_budget_curve,
    new_head,
    per_class_indices,
    plot_budget_curve,
    reinitialize,
    select_classes,
    take_per_class,
    train_head,
    unfreeze,
)
from cnn_tutorial_docs.notebook_source import code_cells, code_without_comments, read_notebook

DOCS = Path(__file__).resolve().parents[1] / "docs"
CHAPTER = "feature-extraction.md"


@pytest.fixture(scope="module")
def shapes():
    return make_shapes(200, seed=0)


# select_classes, per_class_indices, take_per_class


def test_select_classes_keeps_exactly_the_chosen_images_and_relabels_them(shapes):
    chosen = [8, 5, 9]  # ring, cross, disk: deliberately not in order
    subset = select_classes(shapes, chosen)
    expected = [(image, chosen.index(int(label)))
                for image, label in zip(shapes.images, shapes.labels) if int(label) in chosen]
    assert len(subset) == len(expected)
    for (image, label), (want_image, want_label) in zip(zip(subset.images, subset.labels), expected):
        assert torch.equal(image, want_image) and int(label) == want_label
    assert subset.classes == ("ring", "cross", "disk")


def test_select_classes_accepts_names_and_indices_alike(shapes):
    by_name = select_classes(shapes, ["cross", "square outline", "filled square", "ring", "disk"])
    by_index = select_classes(shapes, range(5, 10))
    assert by_name.classes == by_index.classes
    assert torch.equal(by_name.images, by_index.images) and torch.equal(by_name.labels, by_index.labels)


def test_source_and_target_tasks_share_no_class(shapes):
    source, target = select_classes(shapes, range(5)), select_classes(shapes, range(5, 10))
    assert not set(source.classes) & set(target.classes)
    assert len(source) + len(target) == len(shapes)


@pytest.mark.parametrize(
    "classes, message",
    [([], "at least one"), (["nope"], "unknown class"), ([10], "out of range"), ([1, "vertical bar"], "repeat")],
)
def test_select_classes_rejects_bad_requests(shapes, classes, message):
    with pytest.raises(ValueError, match=message):
        select_classes(shapes, classes)


def test_per_class_indices_are_balanced_ordered_and_nested(shapes):
    small, large = per_class_indices(shapes.labels, 3), per_class_indices(shapes.labels, 7)
    assert torch.bincount(shapes.labels[small]).tolist() == [3] * 10
    assert small.tolist() == sorted(small.tolist())
    assert set(small.tolist()) <= set(large.tolist())
    # The first k of each class, found independently:
    for label in range(10):
        positions = [i for i, y in enumerate(shapes.labels.tolist()) if y == label][:3]
        assert set(positions) <= set(small.tolist())


def test_per_class_indices_refuses_a_budget_larger_than_a_class(shapes):
    with pytest.raises(ValueError, match="fewer than per_class=21"):
        per_class_indices(shapes.labels, 21)
    with pytest.raises(ValueError, match=">= 1"):
        per_class_indices(shapes.labels, 0)


def test_take_per_class_notices_a_class_with_no_image_at_all():
    data = ImageSet(torch.zeros(4, 1, 2, 2), torch.tensor([0, 1, 0, 1]), ["a", "b", "c"])
    with pytest.raises(ValueError, match="class 2 has only 0 examples"):
        take_per_class(data, 1)


def test_take_per_class_returns_the_indexed_images(shapes):
    subset = take_per_class(shapes, 4)
    keep = per_class_indices(shapes.labels, 4)
    assert torch.equal(subset.images, shapes.images[keep])
    assert subset.class_counts() == {name: 4 for name in shapes.classes}


# freeze, unfreeze, new_head, reinitialize


def test_training_a_frozen_feature_extractor_leaves_it_unchanged(shapes):
    set_seed(0)
    model = ConvNet(widths=(4, 8))
    freeze(model.features)
    features_before = copy.deepcopy(model.features.state_dict())
    head_before = model.classifier[-1].weight.detach().clone()
    fit(model, shapes, epochs=2, lr=0.05, device="cpu", progress=False)
    for name, value in model.features.state_dict().items():
        assert torch.equal(value, features_before[name]), name
    assert not torch.equal(model.classifier[-1].weight, head_before)  # the head did learn


def test_after_freeze_and_new_head_only_the_head_is_trainable():
    model = ConvNet(num_classes=10, widths=(8, 16))
    freeze(model.features)
    head = new_head(model, 3)
    trainable = {name for name, p in model.named_parameters() if p.requires_grad}
    assert trainable == {"classifier.3.weight", "classifier.3.bias"}
    assert model.classifier[3] is head
    assert count_parameters(model, trainable_only=True) == 16 * 3 + 3


def test_unfreeze_undoes_freeze():
    model = ConvNet(widths=(4,))
    unfreeze(freeze(model))
    assert all(p.requires_grad for p in model.parameters())


class TinyResNet(nn.Module):
    """The layout of torchvision's ResNets (children in this order, `fc` last), scaled down."""

    def __init__(self, num_classes: int = 1000, width: int = 8) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, width, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.relu = nn.ReLU()
        self.maxpool = nn.MaxPool2d(2)
        for i in range(1, 5):
            setattr(self, f"layer{i}", nn.Sequential(nn.Conv2d(width, width, 3, padding=1), nn.ReLU()))
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(width, num_classes)

    def forward(self, x):
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(torch.flatten(self.avgpool(x), 1))


def test_new_head_replaces_the_fc_layer_of_a_resnet_layout():
    model = freeze(TinyResNet())
    head = new_head(model, 5)
    assert model.fc is head and head.in_features == 8 and head.out_features == 5
    assert head.weight.requires_grad
    assert model(torch.zeros(2, 3, 16, 16)).shape == (2, 5)


def test_new_head_keeps_dtype_and_refuses_models_without_a_linear_layer():
    model = ConvNet(widths=(4,)).double()
    assert new_head(model, 2).weight.dtype == torch.float64
    with pytest.raises(ValueError, match="no nn.Linear"):
        new_head(nn.Sequential(nn.Conv2d(1, 1, 3)), 2)


def test_reinitialize_changes_every_weight_but_not_the_architecture():
    set_seed(0)
    model = ConvNet(widths=(4, 8))
    fresh = reinitialize(copy.deepcopy(model))
    for (name, old), (_, new) in zip(model.named_parameters(), fresh.named_parameters()):
        assert old.shape == new.shape
        assert not torch.equal(old, new), name


# extract_features, train_head


def test_extract_features_equals_running_the_extractor_by_hand(shapes):
    set_seed(0)
    features = ConvNet(widths=(4, 8)).features
    stored = extract_features(features, shapes, batch_size=64)
    with torch.no_grad():
        expected = features(shapes.images)
    assert torch.allclose(stored.tensors[0], expected, atol=1e-6)
    assert torch.equal(stored.tensors[1], shapes.labels)


def test_extract_features_runs_in_eval_mode_and_restores_the_mode(shapes):
    extractor = nn.Sequential(nn.Conv2d(3, 4, 3), nn.Dropout(0.5)).train()
    first = extract_features(extractor, shapes).tensors[0]
    second = extract_features(extractor, shapes).tensors[0]
    assert torch.equal(first, second)  # dropout off: deterministic
    assert extractor.training  # the caller's mode is back


def test_train_head_on_stored_features_equals_training_through_the_frozen_network(shapes):
    data = take_per_class(shapes, 4)  # 40 images, trained in one full batch so shuffling cannot differ
    set_seed(0)
    through = ConvNet(widths=(4, 8))
    stored_model = copy.deepcopy(through)
    freeze(through.features)
    fit(through, data, epochs=5, lr=0.05, batch_size=len(data), device="cpu", progress=False)
    freeze(stored_model.features)
    history = train_head(stored_model.classifier, extract_features(stored_model.features, data),
                         epochs=5, lr=0.05, batch_size=len(data))
    assert history.epochs == 5
    for a, b in zip(through.classifier.parameters(), stored_model.classifier.parameters()):
        assert torch.allclose(a, b, atol=1e-5)


def test_train_head_learns_separable_features():
    torch.manual_seed(0)
    labels = torch.arange(60) % 3
    features = torch.randn(60, 4, 2, 2) * 0.1
    features[torch.arange(60), labels] += 2.0  # class c lights up channel c
    head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 3))
    history = train_head(head, TensorDataset(features, labels), epochs=30, lr=0.05)
    assert history.train_accuracy[-1] == 1.0
    assert history.train_loss[-1] < history.train_loss[0]


def test_train_head_refuses_a_frozen_head():
    with pytest.raises(ValueError, match="no trainable parameter"):
        train_head(freeze(nn.Linear(2, 2)), TensorDataset(torch.zeros(4, 2), torch.zeros(4).long()),
                   epochs=1, lr=0.1)


# epochs_for


@pytest.mark.parametrize("n", [1, 15, 50, 100, 1500])
@pytest.mark.parametrize("batch_size", [16, 32, 256])
@pytest.mark.parametrize("min_steps, min_epochs", [(60, 2), (300, 20), (500, 5)])
def test_epochs_for_is_the_fewest_epochs_meeting_both_minimums(n, batch_size, min_steps, min_epochs):
    epochs = epochs_for(n, batch_size, min_steps, min_epochs)
    per_epoch = math.ceil(n / batch_size)
    assert epochs >= min_epochs and epochs * per_epoch >= min_steps
    assert epochs == min_epochs or (epochs - 1) * per_epoch < min_steps


# label_budget_curve, BudgetCurve, plot_budget_curve

TINY_RECIPE = Recipe(head_steps=20, head_epochs=1, fine_tune_steps=4, fine_tune_epochs=1,
                     scratch_steps=4, scratch_epochs=1)


@pytest.fixture(scope="module")
def tiny_curve():
    pool = select_classes(make_shapes(100, seed=1), range(5, 10))
    test = select_classes(make_shapes(60, seed=2), range(5, 10))
    set_seed(0)
    pretrained = ConvNet(num_classes=5, widths=(4, 8))
    before = copy.deepcopy(pretrained.state_dict())
    curve = label_budget_curve(pretrained, pool, test, [2, 6], recipe=TINY_RECIPE, device="cpu")
    return pretrained, before, pool, test, curve


def test_label_budget_curve_has_every_method_and_budget(tiny_curve):
    *_, curve = tiny_curve
    assert curve.per_class == [2, 6]
    assert list(curve.accuracy) == list(METHODS) and list(curve.steps) == list(METHODS)
    for values in curve.accuracy.values():
        assert len(values) == 2 and all(0.0 <= v <= 1.0 for v in values)
    # 10 and 30 images; heads take one full batch per epoch, the others batches of 16:
    assert curve.steps["frozen"] == [20, 20]
    assert curve.steps["scratch"] == [4, 4]
    assert curve.steps["fine_tune"] == [4, 4]


def test_label_budget_curve_leaves_the_pretrained_model_alone(tiny_curve):
    pretrained, before, *_ = tiny_curve
    for name, value in pretrained.state_dict().items():
        assert torch.equal(value, before[name]), name
    assert all(p.requires_grad for p in pretrained.parameters())


def test_label_budget_curve_is_reproducible_and_its_frozen_point_matches_a_manual_run(tiny_curve):
    pretrained, _, pool, test, curve = tiny_curve
    again = label_budget_curve(pretrained, pool, test, [2, 6], recipe=TINY_RECIPE, device="cpu")
    assert again.accuracy == curve.accuracy
    # The same steps by hand, as the chapter does them:
    model = freeze(copy.deepcopy(pretrained))
    set_seed(0)
    new_head(model, 5)
    few = take_per_class(pool, 6)
    train_head(model.classifier, extract_features(model.features, few),
               epochs=epochs_for(len(few), 256, 20, 1), lr=TINY_RECIPE.head_lr, batch_size=256)
    assert evaluate(model, test).accuracy == curve.accuracy["frozen"][1]


def test_label_budget_curve_rejects_bad_method_lists(tiny_curve):
    pretrained, _, pool, test, _ = tiny_curve
    with pytest.raises(ValueError, match="unknown methods"):
        label_budget_curve(pretrained, pool, test, [2], methods=["frozen", "magic"])
    with pytest.raises(ValueError, match="fine_tune"):
        label_budget_curve(pretrained, pool, test, [2], methods=["fine_tune"])


def test_budget_curve_table_and_plot():
    curve = BudgetCurve([3, 30], {"frozen": [0.5, 0.9], "scratch": [0.25, 0.95]},
                        {"frozen": [1, 1], "scratch": [9, 9]})
    lines = curve.table().splitlines()
    assert lines[0].split() == ["per_class", "frozen", "scratch"]
    assert lines[1].split() == ["3", "50.00%", "25.00%"]
    fig = plot_budget_curve(curve, title="t")
    ax = fig.axes[0]
    assert ax.get_xscale() == "log" and ax.get_title() == "t"
    assert [list(line.get_ydata()) for line in ax.get_lines()] == [[0.5, 0.9], [0.25, 0.95]]


# The chapter's torchvision block: same in both languages, valid Python, not a cell, and it runs.

ADMONITION = re.compile(r'^!!! example "[^"\n]*"\n((?:[ ]{4}[^\n]*\n|[ \t]*\n)+)', re.MULTILINE)


def online_block(language: str) -> str:
    text = (DOCS / language / CHAPTER).read_text(encoding="utf-8")
    blocks = ADMONITION.findall(text)
    assert len(blocks) == 1, f"{language}: expected one '!!! example' admonition, found {len(blocks)}"
    body = textwrap.dedent(blocks[0])
    fences = re.findall(r"^```python\n(.*?)^```", body, re.MULTILINE | re.DOTALL)
    assert len(fences) == 1, f"{language}: expected one python fence in the admonition"
    return fences[0]


@pytest.mark.parametrize("language", ["zh", "en"])
def test_online_block_is_valid_python_and_not_a_notebook_cell(language):
    code = online_block(language)
    compile(code, f"{language}/{CHAPTER}:online-block", "exec")
    assert "resnet18(weights=ResNet18_Weights.DEFAULT)" in code
    assert "ResNet18_Weights.DEFAULT.transforms()" in code
    text = (DOCS / language / CHAPTER).read_text(encoding="utf-8")
    assert not any("torchvision" in cell for cell in code_cells(read_notebook(text)))


def test_online_block_is_the_same_in_both_languages():
    assert code_without_comments(online_block("zh")) == code_without_comments(online_block("en"))


class _StubWeights:
    """Stands in for `ResNet18_Weights`: `DEFAULT.transforms()` gives a preprocessing module."""

    DEFAULT = None

    def transforms(self):
        return nn.Upsample(size=(24, 24), mode="bilinear")  # like the real one: resizes a batch


_StubWeights.DEFAULT = _StubWeights()


def test_online_block_runs_against_a_torchvision_stand_in(monkeypatch):
    calls = []

    def resnet18(weights=None):
        calls.append(weights)
        return TinyResNet()

    models = types.ModuleType("torchvision.models")
    models.resnet18, models.ResNet18_Weights = resnet18, _StubWeights
    package = types.ModuleType("torchvision")
    package.models = models
    monkeypatch.setitem(sys.modules, "torchvision", package)
    monkeypatch.setitem(sys.modules, "torchvision.models", models)
    code = online_block("en")
    # Smaller data and fewer epochs, the same statements:
    for big, small in [("make_shapes(3_000", "make_shapes(300"), ("make_shapes(2_000", "make_shapes(100"),
                       ("epochs=300", "epochs=3"), ("epochs=5", "epochs=1")]:
        assert big in code
        code = code.replace(big, small)
    namespace = {}
    exec(compile(code, "online-block", "exec"), namespace)
    assert calls == [_StubWeights.DEFAULT]
    assert namespace["model"].fc is namespace["head"] and namespace["head"].out_features == 5
    features = namespace["train_features"].tensors[0]
    assert features.shape == (100, 8, 1, 1)  # 20 per class × 5, one 8-channel vector each
    assert all(p.requires_grad for p in namespace["model"].parameters())  # unfrozen for fine-tuning
