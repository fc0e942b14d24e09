"""fit's regularisation options and the augmentation functions."""

import pytest
import torch
from torch import nn

from cnn_tutorial.augment import compose, random_flip, random_shift
from cnn_tutorial.data import load_digits
from cnn_tutorial.training import fit, set_seed


def linear_model():
    set_seed(0)
    return nn.Sequential(nn.Flatten(), nn.Linear(64, 10))


def test_augment_sees_every_training_batch_and_never_the_test_set():
    train, test = load_digits("train"), load_digits("test")
    seen = []

    def spy(batch):
        seen.append(len(batch))
        return batch

    fit(linear_model(), train, epochs=2, test_set=test, batch_size=100, augment=spy, progress=False)
    assert sum(seen) == 2 * len(train)


def test_weight_decay_shrinks_the_weights():
    train = load_digits("train")
    plain, decayed = linear_model(), linear_model()
    fit(plain, train, epochs=3, lr=0.01, progress=False)
    fit(decayed, train, epochs=3, lr=0.01, weight_decay=1.0, progress=False)
    assert decayed[1].weight.norm() < 0.9 * plain[1].weight.norm()


@pytest.mark.parametrize("schedule", ["cosine", "step"])
def test_a_schedule_changes_training_but_stays_deterministic(schedule):
    train = load_digits("train")
    constant = fit(linear_model(), train, epochs=4, lr=0.05, progress=False)
    first = fit(linear_model(), train, epochs=4, lr=0.05, schedule=schedule, progress=False)
    second = fit(linear_model(), train, epochs=4, lr=0.05, schedule=schedule, progress=False)
    assert first.train_loss == second.train_loss
    assert first.train_loss[-1] != constant.train_loss[-1]


def test_unknown_schedule_is_rejected_with_the_choices():
    with pytest.raises(ValueError, match="cosine"):
        fit(linear_model(), load_digits("train"), epochs=1, schedule="linear", progress=False)


def test_shift_moves_pixels_without_losing_them_and_is_seeded():
    batch = torch.zeros(16, 1, 8, 8)
    batch[:, 0, 3:5, 3:5] = 1.0  # a 2×2 square in the middle: any shift up to 2 keeps it inside
    a, b = random_shift(2, seed=1)(batch), random_shift(2, seed=1)(batch)
    assert torch.equal(a, b)
    assert torch.equal(a.sum(dim=(1, 2, 3)), batch.sum(dim=(1, 2, 3)))
    assert not torch.equal(a, batch)


def test_flip_mirrors_some_images_and_keeps_the_rest():
    batch = torch.rand(64, 3, 4, 4)
    flipped = random_flip(seed=0)(batch)
    mirrored = [torch.equal(f, x.flip(-1)) for f, x in zip(flipped, batch)]
    kept = [torch.equal(f, x) for f, x in zip(flipped, batch)]
    assert all(m or k for m, k in zip(mirrored, kept))
    assert 10 < sum(mirrored) < 54


def test_augmentations_reject_a_single_image():
    with pytest.raises(ValueError, match=r"\(N, C, H, W\)"):
        compose(random_flip())(torch.rand(3, 4, 4))
