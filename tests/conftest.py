import pytest

from harness import Cluster


@pytest.hookimpl(tryfirst=True, hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    setattr(item, "rep_" + rep.when, rep)


@pytest.fixture
def cluster(request):
    """Starts brokers and gateways for one test; prints their logs if the test fails."""
    c = Cluster()
    yield c
    failed = getattr(request.node, "rep_call", None) is not None and request.node.rep_call.failed
    c.close(failed)


@pytest.fixture
def postgres(cluster):
    """A throwaway PostgreSQL server with an empty database `gatehouse` (see harness.Postgres)."""
    return cluster.postgres()
