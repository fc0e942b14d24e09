"""cnn_tutorial.augment: what shifts and flips do, their seeding and argument checks, and that
processes holding shares of a global batch together augment it exactly as one process does."""

import pytest
import torch

from cnn_tutorial.augment import PADDING_MODES, Share, compose, random_flip, random_shift, takes_share
from cnn_tutorial.cli import EpochAugment


def test_reflect_fill_leaves_no_black_border_and_zero_fill_does():
    batch = torch.rand(16, 3, 8, 8) + 0.5  # no zero anywhere in the images
    assert (random_shift(3, seed=0)(batch) > 0).all()
    assert (random_shift(3, seed=0, padding_mode="constant")(batch) == 0).any()


@pytest.mark.parametrize("mode", PADDING_MODES)
def test_every_mode_is_seeded_and_keeps_the_shape(mode):
    batch = torch.rand(4, 3, 8, 8)
    a, b = random_shift(2, seed=1, padding_mode=mode)(batch), random_shift(2, seed=1, padding_mode=mode)(batch)
    assert a.shape == batch.shape and torch.equal(a, b)
    assert not torch.equal(a, random_shift(2, seed=2, padding_mode=mode)(batch))


def test_shifts_move_content_by_whole_pixels_without_losing_any():
    batch = torch.arange(64.0).reshape(1, 1, 8, 8).repeat(32, 1, 1, 1)
    shifted = random_shift(1, seed=0, padding_mode="replicate")(batch)
    # Away from the border, every shifted image is the original moved by (dy, dx) in {-1, 0, 1}².
    for image in shifted[:, 0]:
        assert any(
            torch.equal(image[2:6, 2:6], batch[0, 0, 2 + dy : 6 + dy, 2 + dx : 6 + dx])
            for dy in (-1, 0, 1)
            for dx in (-1, 0, 1)
        )
    square = torch.zeros(16, 1, 8, 8)
    square[:, 0, 3:5, 3:5] = 1.0  # a 2×2 square in the middle: any shift up to 2 keeps it inside
    moved = random_shift(2, seed=1)(square)
    assert torch.equal(moved.sum(dim=(1, 2, 3)), square.sum(dim=(1, 2, 3)))
    assert not torch.equal(moved, square)


def test_flip_mirrors_some_images_and_keeps_the_rest():
    batch = torch.rand(64, 3, 4, 4)
    flipped = random_flip(seed=0)(batch)
    mirrored = [torch.equal(f, x.flip(-1)) for f, x in zip(flipped, batch)]
    kept = [torch.equal(f, x) for f, x in zip(flipped, batch)]
    assert all(m or k for m, k in zip(mirrored, kept))
    assert 10 < sum(mirrored) < 54


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match="max_shift"):
        random_shift(-1)
    with pytest.raises(ValueError, match=r"\(N, C, H, W\)"):
        compose(random_flip())(torch.rand(3, 4, 4))


# ---------------------------------------------------------------- shares of a global batch

AUGMENTS = {
    "shift": lambda: random_shift(2, seed=3),
    "flip": lambda: random_flip(seed=3),
    "compose": lambda: compose(random_flip(seed=3), random_shift(1, seed=4)),
    "epoch augment": lambda: EpochAugment(["shift", "flip"], seed=3),
}


@pytest.mark.parametrize("make", AUGMENTS.values(), ids=AUGMENTS.keys())
@pytest.mark.parametrize("sizes, world_size", [((8, 8, 5), 2), ((9, 3), 3)])
def test_shares_augmented_apart_make_the_single_process_batches(make, sizes, world_size):
    batches = [torch.rand(n, 2, 6, 6) for n in sizes]  # global batches; the last may split unevenly
    single = make()
    expected = [single(batch) for batch in batches]
    per_process = [make() for _ in range(world_size)]  # each process has its own, equally seeded, copy
    for step, batch in enumerate(batches):
        shares = [
            augment(batch.tensor_split(world_size)[rank], share=Share(len(batch), rank, world_size))
            for rank, augment in enumerate(per_process)
        ]
        assert torch.equal(torch.cat(shares), expected[step]), f"step {step}"


@pytest.mark.parametrize("make", AUGMENTS.values(), ids=AUGMENTS.keys())
def test_processes_augment_their_shares_differently(make):
    same = torch.rand(1, 2, 6, 6).repeat(16, 1, 1, 1)  # one image 16 times: only the draws tell the shares apart
    first, second = (make()(same[:8], share=Share(16, rank, 2)) for rank in (0, 1))
    assert not torch.equal(first, second)


def test_a_share_must_match_the_batch_it_augments():
    assert takes_share(random_shift()) and not takes_share(lambda batch: batch)
    with pytest.raises(ValueError, match="holds 3 images, but the batch has 4"):
        random_flip()(torch.rand(4, 1, 2, 2), share=Share(5, 0, 2))
