"""Pair building on a cluster: the out-of-core path's kernel run by Dask.

Needs the ``dask`` extra (``pip install 'dpo_frames[dask]'``); importing this package
does not, so a missing extra is reported when a build starts, with the install line.

Example (a local cluster of two worker processes)::

    from dpo_frames.scale.dask import build_dataset
    result = build_dataset("s3://bucket/candidates/*.parquet", "s3://bucket/dpo/r1", workers=2)
    result = build_dataset("runs/*.parquet", "out/r1", address="tcp://scheduler:8786")
"""

from dpo_frames.errors import ClusterError, DistributedError, EngineMissingError
from dpo_frames.scale.dask.build import ENGINES, DistributedResult, build_dataset, connect, require_extra

__all__ = [
    "ENGINES",
    "ClusterError",
    "DistributedError",
    "DistributedResult",
    "EngineMissingError",
    "build_dataset",
    "connect",
    "require_extra",
]
