import numpy as np
import torch
from torch.utils.data import DataLoader

from deephash.batches import _Rows, device_batches
from deephash.data.arrays import ImageArrays


def test_worker_rows_equal_the_in_process_batches(rng):
    """What the CUDA loader's worker processes read (uint8, on the host) is what the in-process path
    converts, batch for batch and in order."""
    labels = np.eye(3, dtype=np.uint8)[rng.integers(0, 3, 30)]
    data = ImageArrays(rng.integers(0, 256, (30, 4, 5, 2), dtype=np.uint8), labels)
    batches = [rng.permutation(30)[:8] for _ in range(4)]
    loader = DataLoader(_Rows(data, batches), batch_size=None, num_workers=2)
    cpu = torch.device("cpu")
    for (index, host_images, host_labels), (same, images, labels_f) in zip(
        loader, device_batches(data, batches, cpu, workers=2), strict=True
    ):
        assert np.array_equal(index, same)
        converted = ImageArrays.to_device(host_images, host_labels, cpu)
        assert torch.equal(converted[0], images) and torch.equal(converted[1], labels_f)
        assert torch.equal(images, torch.from_numpy(data.images[index]).permute(0, 3, 1, 2).float() / 255)
