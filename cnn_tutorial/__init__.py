"""Code for the tutorial *卷积神经网络 with PyTorch*.

Every chapter imports its models, data, training loop and plots from here,
so the code a reader sees on the site is the code that is tested.

Modules:
    models: the networks the chapters build, starting with the seed's `SimpleCNN`.
    blocks: reusable blocks: MLP, ConvBlock (conv → batch norm → ReLU → pool), Residual.
    arithmetic: output sizes of convolution and pooling layers.
    inspection: parameter counts, shape traces and captured activations.
    data: the bundled digits and a generated 3×32×32 shapes data set.
    archives: CIFAR-10 and MNIST from their published files: checked downloads, safe unpacking, loaders.
    training: seeding, device choice, the one training loop (`train_one_epoch`, `fit`), `evaluate`.
    evaluation: hold-out and k-fold validation, scorers, learning curves and their plots.
    plotting: training curves, images and feature maps (and the CJK font for Chinese data).
    augment: batch data augmentation (shifts, flips).
    cli: `python -m cnn_tutorial train | evaluate | predict`, with its checkpoints and torchrun setup.
    sequences: seeded sequence data: noisy sine waves with next-step pairs, a symbol-order classification task.
    text_corpus: the Chinese teaching corpus shipped in cnn_tutorial/corpus/: loading, word segmentation, vocabulary.
    expression_trees: arithmetic expression trees, the generated data of the recursive-nn chapter.
"""

from cnn_tutorial.arithmetic import conv_output_size, pool_output_size
from cnn_tutorial.data import ImageSet, load_digits, make_shapes
from cnn_tutorial.inspection import (
    capture_activations,
    count_parameters,
    parameters_by_layer,
    trace_shapes,
)
from cnn_tutorial.models import SimpleCNN
from cnn_tutorial.training import Evaluation, History, evaluate, fit, pick_device, set_seed

__version__ = "0.1.0"

__all__ = [
    "Evaluation",
    "History",
    "ImageSet",
    "SimpleCNN",
    "capture_activations",
    "conv_output_size",
    "count_parameters",
    "evaluate",
    "fit",
    "load_digits",
    "make_shapes",
    "parameters_by_layer",
    "pick_device",
    "pool_output_size",
    "set_seed",
    "trace_shapes",
]
