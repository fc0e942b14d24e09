"""The feature-extraction chapter's torchvision block: not executed by the site (it downloads
weights), so checked here: the same in both languages, valid Python, not a notebook cell, and it
runs against a torchvision stand-in (a ResNet-shaped model and an in-memory image folder)."""

import re
import sys
import textwrap
import types
from pathlib import Path

import pytest
import torch
from torch import nn
from torch.utils.data import Dataset

from cnn_tutorial_docs.notebook_source import code_cells, code_without_comments, read_notebook

DOCS = Path(__file__).resolve().parents[1] / "docs"
CHAPTER = "feature-extraction.md"
ADMONITION = re.compile(r'^!!! example "[^"\n]*"\n((?:[ ]{4}[^\n]*\n|[ \t]*\n)+)', re.MULTILINE)


def online_block(language: str) -> str:
    text = (DOCS / language / CHAPTER).read_text(encoding="utf-8")
    blocks = ADMONITION.findall(text)
    assert len(blocks) == 1, f"{language}: expected one '!!! example' admonition, found {len(blocks)}"
    body = textwrap.dedent(blocks[0])
    fences = re.findall(r"^```python\n(.*?)^```", body, re.MULTILINE | re.DOTALL)
    assert len(fences) == 1, f"{language}: expected one python fence in the admonition, found {len(fences)}"
    return fences[0]


@pytest.mark.parametrize("language", ["zh", "en"])
def test_online_block_is_plain_torchvision_valid_python_and_not_a_notebook_cell(language):
    code = online_block(language)
    compile(code, f"{language}/{CHAPTER}:online-block", "exec")
    assert "resnet18(weights=weights)" in code and "weights.transforms()" in code
    assert "model.fc = nn.Linear(model.fc.in_features" in code
    assert "cnn_tutorial" not in code, "the online block must run without this project's package"
    text = (DOCS / language / CHAPTER).read_text(encoding="utf-8")
    assert not any("torchvision" in cell for cell in code_cells(read_notebook(text)))


def test_online_block_is_the_same_in_both_languages():
    assert code_without_comments(online_block("zh")) == code_without_comments(online_block("en"))


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


class _StubWeights:
    """Stands in for `ResNet18_Weights`: `DEFAULT.transforms()` gives a preprocessing callable."""

    DEFAULT = None

    def transforms(self):
        return lambda image: image


_StubWeights.DEFAULT = _StubWeights()


class _StubImageFolder(Dataset):
    """Stands in for `ImageFolder`: 20 random 3×24×24 images in each of 5 class folders."""

    def __init__(self, root, transform=None):
        generator = torch.Generator().manual_seed(len(root))
        self.classes = ["a", "b", "c", "d", "e"]
        self.images = torch.rand(100, 3, 24, 24, generator=generator)
        self.targets = torch.arange(100) % 5
        self.transform = transform

    def __len__(self):
        return len(self.targets)

    def __getitem__(self, index):
        return self.transform(self.images[index]), int(self.targets[index])


def test_online_block_runs_against_a_torchvision_stand_in(monkeypatch):
    calls = []

    def resnet18(weights=None):
        calls.append(weights)
        return TinyResNet()

    models = types.ModuleType("torchvision.models")
    models.resnet18, models.ResNet18_Weights = resnet18, _StubWeights
    datasets = types.ModuleType("torchvision.datasets")
    datasets.ImageFolder = _StubImageFolder
    package = types.ModuleType("torchvision")
    package.models, package.datasets = models, datasets
    for name, module in [("torchvision", package), ("torchvision.models", models), ("torchvision.datasets", datasets)]:
        monkeypatch.setitem(sys.modules, name, module)
    code = online_block("en")
    for many, few in [("range(100)", "range(2)"), ("range(5)", "range(1)")]:  # fewer epochs, same statements
        assert many in code
        code = code.replace(many, few)
    namespace = {}
    exec(compile(code, "online-block", "exec"), namespace)
    assert calls == [_StubWeights.DEFAULT]
    head = namespace["model"].fc
    assert isinstance(head, nn.Linear) and (head.in_features, head.out_features) == (8, 5)
    assert namespace["train_features"].shape == (100, 8)  # one 8-number vector per image
    assert all(p.requires_grad for p in namespace["model"].parameters())  # unfrozen for fine-tuning
