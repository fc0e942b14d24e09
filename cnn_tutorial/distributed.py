"""Training on several processes at once with DistributedDataParallel (DDP).

`torchrun --nproc_per_node=2 -m cnn_tutorial train ...` starts two copies of
the program and tells each one its place through environment variables:
`RANK` (which copy, from 0), `WORLD_SIZE` (how many copies) and `LOCAL_RANK`
(which copy on this machine; it picks the GPU). Every copy holds the whole
model and computes gradients on its share of each batch; DDP averages the
gradients across copies before the optimizer step, so all copies keep
identical weights. Without those variables everything here falls back to a
"world" of one process, and the same training code runs unchanged.

How the data is shared decides whether two processes compute what one would.
`ShardedBatchSampler` draws one permutation per epoch, the same on every
process, cuts it into global batches and hands each process a contiguous
slice of every batch. N processes with a global batch of B therefore train
on exactly the batches one process with a batch of B trains on.
"""

import math
import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import Sampler

from cnn_tutorial.training import pick_device


@dataclass(frozen=True)
class World:
    """This process's place among the processes that train together.

    Attributes:
        rank: This process's number, from 0 to `world_size - 1`.
        world_size: How many processes train together (1 without torchrun).
        device: The device this process computes on.

    Examples:
        >>> World().is_main, World(rank=1, world_size=2).is_main
        (True, False)
    """

    rank: int = 0
    world_size: int = 1
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))

    @property
    def is_main(self) -> bool:
        """True for rank 0, the one process that prints and writes files."""
        return self.rank == 0


def free_port(host: str = "127.0.0.1", ports: range = range(29400, 29500)) -> int:
    """A TCP port on `host` that nothing is bound to, for `--rdzv-endpoint` or `--master-port`.

    The port comes from `ports`, which lies below the range the operating
    system hands out for "port 0" (Linux: 32768–60999). A port obtained by
    binding port 0 is released before torchrun binds it again, and in that
    gap any program that asks for port 0 (a Jupyter kernel, say) can be
    given it; the rendezvous then waits forever for a server that is not
    there. Ports outside that range are never handed out by chance.

    Args:
        host: The address the rendezvous will listen on.
        ports: Candidates, tried in order.

    Returns:
        The first candidate that could be bound.

    Raises:
        RuntimeError: If every candidate is in use.

    Examples:
        >>> port = free_port()
        >>> 29400 <= port < 29500
        True
        >>> with socket.socket() as taken:
        ...     taken.bind(("127.0.0.1", port))
        ...     free_port() != port
        True
    """
    for port in ports:
        with socket.socket() as probe:
            try:
                probe.bind((host, port))
            except OSError:
                continue
            return port
    raise RuntimeError(f"no free port on {host} between {ports.start} and {ports.stop - 1}")


def launched_by_torchrun() -> bool:
    """Whether torchrun (or another launcher) set `RANK` and `WORLD_SIZE` for this process.

    Examples:
        >>> import os
        >>> launched_by_torchrun() == ("RANK" in os.environ and "WORLD_SIZE" in os.environ)
        True
    """
    return "RANK" in os.environ and "WORLD_SIZE" in os.environ


@contextmanager
def process_group(device: str | None = None) -> Iterator[World]:
    """Join the other processes for the duration of a `with` block, if torchrun started us.

    Under torchrun this initialises the default process group from the
    environment (backend `gloo` on the CPU, `nccl` on CUDA, each process on
    the GPU numbered by its `LOCAL_RANK`) and destroys it when the block ends,
    even on an error. Otherwise it yields a `World` of one process.

    Args:
        device: As for `pick_device`: `"cpu"`, `"cuda"`, … or `None` to choose.

    Yields:
        This process's `World`.

    Raises:
        ValueError: If the device is unavailable, or is one that neither
            backend supports (Apple's MPS).

    Examples:
        >>> with process_group("cpu") as world:  # no torchrun: a world of one
        ...     world
        World(rank=0, world_size=1, device=device(type='cpu'))
    """
    chosen = pick_device(device)
    if not launched_by_torchrun():
        yield World(device=chosen)
        return
    if chosen.type not in ("cpu", "cuda"):
        raise ValueError(f"distributed training runs on 'cpu' (gloo) or 'cuda' (nccl), not {chosen.type!r}")
    rank, world_size = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
    if chosen.type == "cuda":
        chosen = torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0)))  # one GPU per process
        torch.cuda.set_device(chosen)
        dist.init_process_group("nccl", rank=rank, world_size=world_size, device_id=chosen)
    else:
        dist.init_process_group("gloo", rank=rank, world_size=world_size)
    try:
        yield World(rank, world_size, chosen)
    finally:
        dist.destroy_process_group()


def wrap_model(model: nn.Module, world: World) -> nn.Module:
    """`model` wrapped in `DistributedDataParallel` when a process group is running, else `model` itself.

    DDP copies rank 0's weights to every process when it wraps the model, and
    averages gradients across processes during `backward`. Save and evaluate
    the unwrapped `model`: it shares its parameters with the wrapper.

    Args:
        model: The network, already on `world.device`.
        world: From `process_group`.

    Returns:
        The module to train.

    Examples:
        >>> model = nn.Linear(2, 1)
        >>> wrap_model(model, World()) is model
        True
    """
    if not dist.is_initialized():
        return model
    device_ids = [world.device.index] if world.device.type == "cuda" else None
    return DistributedDataParallel(model, device_ids=device_ids)


def sum_over_processes(values: list[float], world: World) -> list[float]:
    """Element-wise sums of `values` over all processes (the values themselves in a world of one).

    Each process counts the loss and correct answers of its own shares;
    this adds them up into the totals of the whole epoch.

    Args:
        values: Numbers this process computed, in the same order on every process.
        world: From `process_group`.

    Returns:
        The sums, in the same order.

    Examples:
        >>> sum_over_processes([2.5, 3.0], World())
        [2.5, 3.0]
    """
    if not dist.is_initialized():
        return list(values)
    totals = torch.tensor(values, dtype=torch.float64, device=world.device)
    dist.all_reduce(totals, op=dist.ReduceOp.SUM)
    return totals.tolist()


class ShardedBatchSampler(Sampler[list[int]]):
    """Shuffled global batches, each split into one contiguous share per process.

    Every epoch draws one permutation of the data from a generator seeded
    with `seed + epoch`, identical on every process, and cuts it into global
    batches of `batch_size`. Process `rank` receives slice `rank` of each
    batch, `batch_size / world_size` indices (the last, shorter batch is split
    as evenly as possible). With `world_size=1` this is an ordinary shuffled
    batch sampler.

    Why not `torch.utils.data.DistributedSampler`? It deals the permutation
    out round-robin and, when the data does not divide evenly, repeats a few
    samples so that every process gets as many; those repeated samples make
    the result differ from a single process's. Like it, this sampler
    reshuffles through `set_epoch`, and because the permutation depends only
    on `seed` and the epoch, a resumed run needs nothing else to continue
    the same order.

    Args:
        num_samples: Size of the data set.
        batch_size: The global batch, all processes together.
        rank: This process's number.
        world_size: How many processes share each batch.
        seed: Seed of the shuffling.

    Raises:
        ValueError: If `batch_size` is not a multiple of `world_size`, or the
            last batch is too short to give every process at least one sample.

    Examples:
        >>> one = ShardedBatchSampler(10, batch_size=4, seed=0)
        >>> list(one)
        [[4, 1, 7, 5], [3, 9, 0, 8], [6, 2]]
        >>> [list(ShardedBatchSampler(10, 4, rank=r, world_size=2, seed=0)) for r in (0, 1)]
        [[[4, 1], [3, 9], [6]], [[7, 5], [0, 8], [2]]]
        >>> one.set_epoch(1); list(one)[0]  # a new order every epoch
        [5, 6, 1, 2]
    """

    def __init__(self, num_samples: int, batch_size: int, rank: int = 0, world_size: int = 1, seed: int = 0) -> None:
        if batch_size < 1 or batch_size % world_size:
            raise ValueError(
                f"the batch size ({batch_size}) is the global batch and must be a positive "
                f"multiple of the number of processes ({world_size})"
            )
        last = num_samples % batch_size
        if 0 < last < world_size:
            raise ValueError(
                f"{num_samples} samples in batches of {batch_size} leave a last batch of {last}, "
                f"too few for {world_size} processes; choose another batch size"
            )
        self.num_samples, self.batch_size = num_samples, batch_size
        self.rank, self.world_size, self.seed = rank, world_size, seed
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """Use the permutation of epoch `epoch` (call it before every epoch)."""
        self.epoch = epoch

    def global_batch_sizes(self) -> list[int]:
        """Size of each global batch, in order: the whole batch, not this process's share."""
        full, last = divmod(self.num_samples, self.batch_size)
        return [self.batch_size] * full + ([last] if last else [])

    def __iter__(self) -> Iterator[list[int]]:
        generator = torch.Generator().manual_seed(self.seed + self.epoch)
        order = torch.randperm(self.num_samples, generator=generator)
        for batch in order.split(self.batch_size):
            yield batch.tensor_split(self.world_size)[self.rank].tolist()

    def __len__(self) -> int:
        return math.ceil(self.num_samples / self.batch_size)
