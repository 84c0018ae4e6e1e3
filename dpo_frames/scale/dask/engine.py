"""The Dask engine: a ``distributed`` cluster (local, or an existing one by address) runs the tasks.

Polars frames travel between workers as they are (pickled); nothing is converted to
pandas. The turn shuffle is a Dask graph: one task per input split with one output per
turn partition (``delayed(..., nout=n)``), one pair task per partition on its pieces.
Dask schedules, moves, spills and retries; this module only builds the graph.
"""

from __future__ import annotations

import logging
import os
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from dpo_frames.errors import ClusterError, EngineMissingError

NAME = "dask"
EXTRA = "dask"
CONNECT_TIMEOUT_SECONDS = 30


def require_extra():
    """The ``distributed`` module, or :class:`EngineMissingError` naming the extra to install."""
    try:
        import dask  # noqa: F401
        import distributed
        import fsspec  # noqa: F401  (a dask dependency; the backend reads and writes through it)
    except ImportError as exc:
        raise EngineMissingError(NAME, EXTRA, exc.name or "distributed") from None
    return distributed


class DaskEngine:
    """Runs task graphs on a ``distributed.Client``. Create it with :meth:`connect`."""

    name = NAME

    def __init__(self, client: Any) -> None:
        self.client = client

    @classmethod
    @contextmanager
    def connect(
        cls, address: str | None = None, *, workers: int = 2, timeout: float = CONNECT_TIMEOUT_SECONDS
    ) -> Iterator[DaskEngine]:
        """Connect to the scheduler at ``address``, or start a local cluster of ``workers`` processes.

        A local cluster listens on loopback only, gives each worker one task thread and
        an equal share of the cores for Polars, and is shut down on exit. A cluster
        reached by address is left running (only the client is closed).
        """
        distributed = require_extra()
        if address is not None:
            try:
                client = distributed.Client(address, timeout=timeout, set_as_default=False)
            except (OSError, TimeoutError) as exc:
                raise ClusterError(f"cannot connect to the Dask scheduler at {address}: {exc}") from None
            try:
                yield cls(client)
            finally:
                client.close()
            return
        polars_threads = max(1, (os.cpu_count() or 1) // workers)
        with (
            distributed.LocalCluster(
                n_workers=workers,
                threads_per_worker=1,
                processes=True,
                host="127.0.0.1",
                dashboard_address="127.0.0.1:0",
                silence_logs=logging.WARNING,
                env={"POLARS_MAX_THREADS": str(polars_threads)},
            ) as cluster,
            distributed.Client(cluster, set_as_default=False) as client,
        ):
            yield cls(client)

    @property
    def worker_threads(self) -> int:
        """Task threads over all workers (the useful number of partitions running at once)."""
        return max(1, sum(self.client.nthreads().values()))

    def shuffle_reduce(
        self,
        map_fn: Callable[..., tuple],
        inputs: Sequence[Any],
        outputs: int,
        reduce_fn: Callable[..., Any],
        *,
        map_args: tuple = (),
        reduce_args: tuple = (),
    ) -> list[Any]:
        """``reduce_fn(i, [map_fn(x, *map_args)[i] for x in inputs], *reduce_args)`` for each ``i < outputs``.

        Returns the reduce results in order of ``i``; a task's exception is raised as is.
        """
        from dask import delayed

        run = uuid.uuid4().hex[:12]  # keys unique per build: a shared cluster may run several
        mapped = [
            delayed(map_fn, nout=outputs, pure=False)(x, *map_args, dask_key_name=f"dpo-split-{run}-{j}")
            for j, x in enumerate(inputs)
        ]
        reduced = [
            delayed(reduce_fn, pure=False)(
                i, [m[i] for m in mapped], *reduce_args, dask_key_name=f"dpo-partition-{run}-{i}"
            )
            for i in range(outputs)
        ]
        return self._gather(self.client.compute(reduced))

    def map(
        self, fn: Callable[..., Any], parts: Sequence[int], per_part: Sequence[Any], *, args: tuple = ()
    ) -> list[Any]:
        """``fn(part, per_part[k], *args)`` for each ``parts[k]``; ``per_part`` items are scattered first."""
        scattered = self.client.scatter(list(per_part)) if per_part else []
        futures = self.client.map(fn, list(parts), scattered, *[[a] * len(parts) for a in args], pure=False)
        return self._gather(futures)

    def _gather(self, futures: list[Any]) -> list[Any]:
        """The futures' results; a task's own exception is raised as is, a lost worker as ClusterError."""
        from distributed import KilledWorker

        try:
            return self.client.gather(futures)
        except KilledWorker as exc:
            raise ClusterError(
                f"Dask workers died running {exc.task!r} (out of memory? more partitions make smaller tasks): {exc}"
            ) from exc
