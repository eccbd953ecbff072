"""Fixtures shared by every test package."""
import pytest
import torch


@pytest.fixture
def one_thread():
    """Small batched problems run fastest single-threaded on a shared 2-core machine."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
