"""Moved to `cnn_tutorial.checkpoints`; these names are re-exported from there for older code.

中文：已移至 `cnn_tutorial.checkpoints`；这里为旧代码保留同名的再导出。

The API reference documents them once, in `cnn_tutorial.checkpoints` (no `__all__` here, so
the documentation does not list them a second time).
"""

from cnn_tutorial.checkpoints import (  # noqa: F401 (re-exported)
    FORMAT,
    Checkpoint,
    ResumeError,
    check_resumable,
    get_rng_state,
    load_checkpoint,
    read_checkpoint,
    restore_checkpoint,
    save_checkpoint,
    set_rng_state,
)

