"""Training data: the instrument taxonomy and the synthetic multitrack corpus generator."""

# Raise a split's version whenever a change to the generator alters what any (seed, index) of that
# split holds: a corpus folder made by another version is regenerated, and its feature caches with
# it. Split files written before versions existed are version 1.
SPLIT_VERSIONS = {"train": 1, "validation": 1, "extra": 2, "acoustic": 1}  # extra 2: the procedural "synth" part
SHARD_SIZE = 32  # examples per npz shard of a split
