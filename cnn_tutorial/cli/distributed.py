"""Starting and ending the process group when torchrun launched the command line.

中文：由 torchrun 启动命令行时，建立和结束进程组。

`torchrun --nproc_per_node=2 -m cnn_tutorial train ...` starts two copies of
the program and tells each one its place through environment variables:
`RANK` (which copy, from 0), `WORLD_SIZE` (how many copies) and `LOCAL_RANK`
(which copy on this machine; it picks the GPU). `process_group` joins them;
`cnn_tutorial.training.fit` then sees the running group, wraps the model in
`DistributedDataParallel` and gives each process its share of every batch
(`cnn_tutorial.training.ShardedBatchSampler`). Without those variables the
"world" is one process, and the same training code runs unchanged.
"""

import os
import random
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import torch
import torch.distributed as dist

from cnn_tutorial.runtime import pick_device


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


def free_port(host: str = "127.0.0.1", ports: range = range(29510, 32768)) -> int:
    """A TCP port on `host` that nothing is bound to, for `--rdzv-endpoint` or `--master-port`.

    The port comes from `ports`, which lies below the range the operating
    system hands out for "port 0" (Linux: 32768–60999). A port obtained by
    binding port 0 is released before torchrun binds it again, and in that
    gap any program that asks for port 0 (a Jupyter kernel, say) can be
    given it; the rendezvous then waits forever for a server that is not
    there. Ports outside that range are never handed out by chance. The
    range starts above 29400 and 29500, the ports torchrun takes by default
    (its c10d rendezvous and its `--master-port`).

    The candidates are tried in a random order (from the operating system's
    randomness, whatever a program's seed): tried in order, two programs
    asking at the same moment both got the first free port, and the second
    job's torchrun joined the first one's store and failed when that job
    ended.

    Args:
        host: The address the rendezvous will listen on.
        ports: Candidates.

    Returns:
        A candidate that could be bound.

    Raises:
        RuntimeError: If every candidate is in use.

    Examples:
        >>> port = free_port()
        >>> 29510 <= port < 32768
        True
        >>> with socket.socket() as taken:
        ...     taken.bind(("127.0.0.1", port))
        ...     free_port() != port
        True
        >>> len({free_port() for _ in range(10)}) > 1  # not the same port for everyone who asks
        True
    """
    for port in random.SystemRandom().sample(ports, len(ports)):
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


def distributed_device(device: str | None, local_processes: int) -> torch.device:
    """The device type of one of `local_processes` processes on this machine: one GPU each, or the CPU.

    A device chosen automatically (`device` and `CNN_TUTORIAL_DEVICE` unset)
    is CUDA only when every process on the machine can have a GPU of its own;
    otherwise training runs on the CPU (gloo), which is what
    `torchrun --nproc_per_node=2` on a laptop with one GPU needs.

    Args:
        device: As for `pick_device`, or `None` to choose.
        local_processes: Processes on this machine (torchrun's `LOCAL_WORLD_SIZE`).

    Returns:
        `cpu` or `cuda` (the process then takes the GPU numbered by its `LOCAL_RANK`).

    Raises:
        ValueError: If CUDA is asked for with fewer GPUs than processes, or the
            device is one that neither backend supports (Apple's MPS).

    Examples:
        >>> distributed_device("cpu", local_processes=2)
        device(type='cpu')
    """
    automatic = not (device or os.environ.get("CNN_TUTORIAL_DEVICE"))
    chosen = pick_device(device)
    gpus = torch.cuda.device_count() if chosen.type == "cuda" else 0
    if automatic and (chosen.type == "mps" or (chosen.type == "cuda" and gpus < local_processes)):
        return torch.device("cpu")
    if chosen.type == "cuda" and gpus < local_processes:
        raise ValueError(
            f"{local_processes} processes on this machine need a GPU each, but it has {gpus}: "
            "start one process per GPU (torchrun --nproc_per_node=gpu) or train on the CPU (--device cpu)"
        )
    if chosen.type not in ("cpu", "cuda"):
        raise ValueError(f"distributed training runs on 'cpu' (gloo) or 'cuda' (nccl), not {chosen.type!r}")
    return torch.device(chosen.type)


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
    if not launched_by_torchrun():
        yield World(device=pick_device(device))
        return
    chosen = distributed_device(device, int(os.environ.get("LOCAL_WORLD_SIZE", 1)))
    rank, world_size = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
    if chosen.type == "cuda":
        chosen = torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0)))  # one GPU per process
        torch.cuda.set_device(chosen)
        dist.init_process_group("nccl", rank=rank, world_size=world_size, device_id=chosen)
    else:
        dist.init_process_group("gloo", rank=rank, world_size=world_size)
    try:
        yield World(rank, world_size, chosen)
        dist.barrier()  # leave together: a process that tears down while rank 0 still writes can abort (gloo)
    finally:
        dist.destroy_process_group()
