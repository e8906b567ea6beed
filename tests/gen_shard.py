"""gen_shard.py — how accelerate deals an epoch's batches to N processes, from accelerate itself:
its BatchSamplerShard (split_batches=False, even_batches=True, what the Trainer's prepare() uses)
over a BatchSampler of the per-device batch, for a grid of (examples, batch, processes,
drop_last). The sampler is sequential, so each index is a position in the epoch's order.
Writes tests/fixtures/dist/shard.txt (read by tests/test_dist.c).

    python3 tests/gen_shard.py     # needs torch, accelerate
"""
import os
import sys

from accelerate.data_loader import BatchSamplerShard
from torch.utils.data import BatchSampler, SequentialSampler

sys.path.insert(0, os.path.dirname(__file__))
from fixture import write_fixture  # noqa: E402

# (N, per-device batch, processes): even splits, a short last batch, a short last round, a set
# smaller than one round (accelerate's degenerate case), and the trainer fixture's 96 examples.
# One process is not here: accelerate shards only for 2 or more, so one keeps its short last batch.
CASES = [(96, 4, 2), (96, 5, 2), (23, 4, 2), (23, 3, 4), (10, 4, 3), (5, 4, 2), (96, 2, 4)]

out = {}
names = []
for n, b, w in CASES:
    for drop_last in (False, True):
        if drop_last and n // b // w == 0:
            continue  # no full round: nothing to run
        name = f"n{n}_b{b}_w{w}_{'drop' if drop_last else 'keep'}"
        names.append(name)
        out[f"{name}.case"] = [n, b, w, int(drop_last)]
        for rank in range(w):
            base = BatchSampler(SequentialSampler(range(n)), batch_size=b, drop_last=drop_last)
            shard = BatchSamplerShard(base, num_processes=w, process_index=rank, split_batches=False, even_batches=True)
            batches = list(shard)
            out[f"{name}.rank{rank}.len"] = [len(shard)]
            out[f"{name}.rank{rank}.sizes"] = [len(x) for x in batches]
            out[f"{name}.rank{rank}.rows"] = [i for x in batches for i in x]
out = {"cases": names, **out}
path = os.path.join(os.path.dirname(__file__), "fixtures", "dist", "shard.txt")
write_fixture(path, out, header=__doc__.strip().splitlines()[0])
print(f"wrote {path}: {len(names)} cases")
