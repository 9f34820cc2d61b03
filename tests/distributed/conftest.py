"""One real two-node Ray cluster for all of the Ray executor's tests (started on first use)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.distributed.cluster import RayCluster, two_nodes


@pytest.fixture(scope="session")
def cluster() -> Iterator[RayCluster]:
    with two_nodes() as found:
        yield found
