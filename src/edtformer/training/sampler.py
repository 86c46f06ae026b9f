"""A deterministic, resumable, rank-sharded batch order.

Epoch ``e`` is a permutation of the dataset drawn from ``seed + e``; rank ``r`` of ``W`` takes
every ``W``-th index starting at ``r`` (indices are padded by wrapping so all ranks see the same
number of batches). The position ``(epoch, batch_in_epoch)`` fully determines what comes next,
so a resumed run continues exactly where the interrupted one stopped.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np


class ResumableBatchOrder:
    """Yields lists of dataset indices for one rank, from a given position onwards.

    Args:
        n: dataset size (> 0).
        batch_size: samples per batch per rank.
        seed: base seed of the epoch permutations.
        rank: this process's rank.
        world_size: number of processes.
        drop_last: drop the last incomplete batch of each epoch (keeps shapes steady).
    """

    def __init__(
        self,
        n: int,
        batch_size: int,
        seed: int = 0,
        rank: int = 0,
        world_size: int = 1,
        drop_last: bool = True,
    ) -> None:
        if n <= 0:
            raise ValueError(f"cannot sample batches from an empty dataset (n={n})")
        self.n, self.batch_size, self.seed = n, batch_size, seed
        self.rank, self.world_size, self.drop_last = rank, world_size, drop_last

    def epoch_indices(self, epoch: int) -> np.ndarray:
        """This rank's indices for ``epoch``, ``int64 [ceil(n / world_size)]``."""
        perm = np.random.default_rng(self.seed + epoch).permutation(self.n)
        per_rank = -(-self.n // self.world_size)
        total = per_rank * self.world_size
        if total > self.n:
            perm = np.concatenate([perm, perm[: total - self.n]])
        return perm[self.rank : total : self.world_size]

    def batches_per_epoch(self) -> int:
        """Number of batches each rank sees per epoch (at least 1)."""
        per_rank = -(-self.n // self.world_size)
        full, rest = divmod(per_rank, self.batch_size)
        return max(1, full if (self.drop_last and full > 0) else full + (1 if rest else 0))

    def iterate(
        self, epoch: int = 0, batch_in_epoch: int = 0
    ) -> Iterator[tuple[int, int, list[int]]]:
        """Yield ``(epoch, batch_in_epoch, indices)`` forever, starting at the given position."""
        while True:
            idx = self.epoch_indices(epoch)
            n_batches = self.batches_per_epoch()
            for b in range(batch_in_epoch, n_batches):
                chunk = idx[b * self.batch_size : (b + 1) * self.batch_size]
                if len(chunk) < self.batch_size and self.drop_last and len(idx) >= self.batch_size:
                    break
                yield epoch, b, chunk.tolist()
            epoch, batch_in_epoch = epoch + 1, 0
