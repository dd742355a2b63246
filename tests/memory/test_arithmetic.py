"""The meter's pure arithmetic against figures computed by hand: no step is run."""
import torch

from autograder.memory import live_at, max_live, required_at_most, storage_bytes, tensor_bytes

F32 = 4


def test_storage_bytes_rounds_like_the_cuda_allocator():
    assert storage_bytes(1, "cpu") == 1
    assert storage_bytes(1, "cuda") == 512          # one 512-byte block
    assert storage_bytes(4096, "cuda") == 4096      # already a multiple of 512
    assert storage_bytes(4097, "cuda") == 4608      # 9 blocks of 512


def test_a_view_is_not_counted_twice_by_tensor_bytes():
    a = torch.empty(1024, 1024)                     # 1024 * 1024 * 4 bytes = 4 MiB
    assert tensor_bytes([a, a.view(-1), a[::2], a.t()]) == 1024 * 1024 * F32


def test_live_intervals():
    iv = [(1, 3, 100), (2, None, 10), (3, 4, 1000)]
    assert live_at(iv, 1) == 100 and live_at(iv, 2) == 110 and live_at(iv, 3) == 1010
    assert max_live(iv) == 1010     # at time 3 the first block is freed, the third allocated
    assert required_at_most(1000, 0.3) == 700
    assert required_at_most(1_310_720, 0.4) == 786_432   # 1,310,720 * 0.6, exactly
