"""The SFT data source: built examples -> token ids with loss masks -> packed sequences -> step k's
micro-batches for this data-parallel rank.

Every rank encodes and packs the same examples with the same seed, so all agree on the packed
sequences without communication. The packed sequences are read as an endless stream of epochs
(each epoch a seeded permutation of them); global sequence i of step k is stream position
k*G + i, split over micro-batches and data-parallel ranks as in pretraining, so the data position
is just the step (exact resume).
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from mathforge.log import get_logger
from training.schedule import BatchPlan
from training.sft.encode import EncodedSample, encode_conversation
from training.sft.packing import collate, pack_random, pack_row, packing_efficiency
from training.sft.schema import example_files, read_examples

log = get_logger(__name__)


@dataclass
class SFTDataConfig:
    dataset: Path = Path("runs/sft/data/shards")  # the built examples: a Parquet file or a folder of them
    tokenizer_dir: Path = Path("runs/tiny/tokenizer")
    document_aware: bool = False  # no attention across packed samples (the paper: plain concatenation)
    seed: int = 1234  # packing order and epoch order


class PackedSFTData:
    """Encoded, packed SFT examples; `micro_batches(step, dp_rank)` gives what `train_step` takes."""

    def __init__(self, cfg: SFTDataConfig, seq_length: int, plan: BatchPlan):
        from training.tokenizer import load_tokenizer

        self.cfg, self.seq_length, self.plan = cfg, seq_length, plan
        tokenizer = load_tokenizer(cfg.tokenizer_dir)
        self.pad_id, self.vocab_size = tokenizer.eos_id, tokenizer.vocab_size
        self.samples: list[EncodedSample] = []
        self.counts: Counter = Counter()
        for path in example_files(cfg.dataset):
            for example in read_examples(path):
                sample = encode_conversation(example.messages, tokenizer)
                if len(sample) > seq_length + 1:
                    self.counts["skipped_too_long"] += 1
                    continue
                self.counts[f"{example.format}_{example.lang}"] += 1
                self.samples.append(sample)
        if not self.samples:
            raise ValueError(f"{cfg.dataset}: no SFT example fits {seq_length + 1} tokens ({dict(self.counts)})")
        lengths = [len(s) for s in self.samples]
        self.bins = pack_random(lengths, seq_length + 1, cfg.seed)
        self.efficiency = packing_efficiency(lengths, self.bins, seq_length)
        self.trainable_tokens = int(sum(s.trainable.sum() for s in self.samples))
        self._orders: dict[int, np.ndarray] = {}  # the current epoch's order of the packed sequences

    def summary(self) -> dict:
        return {"examples": dict(self.counts), "trainable_tokens": self.trainable_tokens, **self.efficiency}

    def write_summary(self, path: Path) -> None:
        path.write_text(json.dumps(self.summary(), indent=2) + "\n")

    def sequence(self, position: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Packed sequence at stream `position` (epoch = position // bins, a fresh permutation each epoch)."""
        epoch, index = divmod(position, len(self.bins))
        if epoch not in self._orders:
            self._orders = {epoch: np.random.default_rng([self.cfg.seed, epoch]).permutation(len(self.bins))}
        return pack_row([self.samples[i] for i in self.bins[self._orders[epoch][index]]], self.seq_length, self.pad_id)

    def micro_batches(self, step: int, dp_rank: int) -> list[dict[str, torch.Tensor]]:
        """This rank's micro-batches of `step`: stream position = step*G + (m*DP + rank)*B + b."""
        plan = self.plan
        base = step * plan.global_batch_sequences
        out = []
        for m in range(plan.num_microbatches):
            first = base + (m * plan.data_parallel + dp_rank) * plan.micro_batch_size
            rows = [self.sequence(first + b) for b in range(plan.micro_batch_size)]
            out.append(collate(rows, self.cfg.document_aware))
        return out
