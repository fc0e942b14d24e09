"""The record of a training run: one entry per epoch.

中文：一次训练的记录：每轮一项。

`History` lives in a module of its own, apart from the training loop, so that
code that only reads or plots a history (`cnn_tutorial.plotting`,
`cnn_tutorial.checkpoints`) does not depend on the loop.
"""

from dataclasses import dataclass, field


@dataclass
class History:
    """Per-epoch record of a training run; one list entry per epoch.

    Two histories are equal when their numbers are: `seconds` (a timing) is
    left out of the comparison.

    Attributes:
        train_loss: Mean training loss over each epoch's batches.
        train_accuracy: Share of training images classified correctly during the epoch.
        test_loss: Loss on the evaluation set after each epoch (empty without one).
        test_accuracy: Accuracy on the evaluation set after each epoch.
        seconds: Wall-clock seconds of each epoch's training (evaluation excluded).
    """

    train_loss: list[float] = field(default_factory=list)
    train_accuracy: list[float] = field(default_factory=list)
    test_loss: list[float] = field(default_factory=list)
    test_accuracy: list[float] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list, compare=False)

    @property
    def epochs(self) -> int:
        """Number of epochs recorded."""
        return len(self.train_loss)

    def table(self) -> str:
        """The history as a plain-text table, one row per epoch.

        Examples:
            >>> print(History([0.9, 0.3], [0.6, 0.8]).table())
            epoch  train_loss  train_acc
                1      0.9000     60.00%
                2      0.3000     80.00%
        """
        has_test = bool(self.test_loss)
        header = "epoch  train_loss  train_acc" + ("  test_loss  test_acc" if has_test else "")
        rows = [header]
        for i in range(self.epochs):
            row = f"{i + 1:5d}  {self.train_loss[i]:10.4f}  {self.train_accuracy[i]:9.2%}"
            if has_test:
                row += f"  {self.test_loss[i]:9.4f}  {self.test_accuracy[i]:8.2%}"
            rows.append(row)
        return "\n".join(rows)
