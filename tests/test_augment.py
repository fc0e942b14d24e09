"""cnn_tutorial.augment: padding modes of random_shift and its argument checks."""

import pytest
import torch

from cnn_tutorial.augment import PADDING_MODES, random_shift


def test_reflect_fill_leaves_no_black_border_and_zero_fill_does():
    batch = torch.rand(16, 3, 8, 8) + 0.5  # no zero anywhere in the images
    assert (random_shift(3, seed=0)(batch) > 0).all()
    assert (random_shift(3, seed=0, padding_mode="constant")(batch) == 0).any()


@pytest.mark.parametrize("mode", PADDING_MODES)
def test_every_mode_is_seeded_and_keeps_the_shape(mode):
    batch = torch.rand(4, 3, 8, 8)
    a, b = random_shift(2, seed=1, padding_mode=mode)(batch), random_shift(2, seed=1, padding_mode=mode)(batch)
    assert a.shape == batch.shape and torch.equal(a, b)


def test_shifts_move_content_by_whole_pixels():
    batch = torch.arange(64.0).reshape(1, 1, 8, 8).repeat(32, 1, 1, 1)
    shifted = random_shift(1, seed=0, padding_mode="replicate")(batch)
    # Away from the border, every shifted image is the original moved by (dy, dx) in {-1, 0, 1}².
    for image in shifted[:, 0]:
        assert any(
            torch.equal(image[2:6, 2:6], batch[0, 0, 2 + dy : 6 + dy, 2 + dx : 6 + dx])
            for dy in (-1, 0, 1)
            for dx in (-1, 0, 1)
        )


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match="padding_mode"):
        random_shift(padding_mode="zeros")
    with pytest.raises(ValueError, match="max_shift"):
        random_shift(-1)
