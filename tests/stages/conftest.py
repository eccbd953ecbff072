"""Stage tests run single-threaded: tiny models are faster that way on a shared 2-core machine."""
import pytest


@pytest.fixture(autouse=True)
def _single_thread(one_thread):
    """Every stage test uses the shared `one_thread` fixture (tests/conftest.py)."""
    yield
