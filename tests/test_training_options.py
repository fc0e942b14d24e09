"""fit's regularisation options (the augmentation functions themselves: test_augment.py)."""

import pytest
from torch import nn

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
