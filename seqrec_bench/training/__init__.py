"""The shared torch training loop, its configuration, batching and losses.

Every torch model (built-in or plugin) trains through :func:`train`; see its module docstring
for a complete example of a model that uses it.
"""

from seqrec_bench.training.batches import (
    BatchFactory,
    SequenceBatch,
    SequenceBatches,
    select_positions,
)
from seqrec_bench.training.config import TrainerConfig
from seqrec_bench.training.device import determinism_info, resolve_device, set_deterministic
from seqrec_bench.training.losses import (
    bce_loss,
    ce_chunk_rows,
    full_softmax_loss,
    sample_negatives,
    sampled_softmax_loss,
)
from seqrec_bench.training.trainer import (
    TrainingError,
    TrainResult,
    progress_enabled,
    progress_mode,
    seeded,
    train,
)

__all__ = [
    "TrainerConfig",
    "train",
    "TrainResult",
    "TrainingError",
    "seeded",
    "progress_enabled",
    "progress_mode",
    "resolve_device",
    "set_deterministic",
    "determinism_info",
    "SequenceBatch",
    "SequenceBatches",
    "BatchFactory",
    "select_positions",
    "full_softmax_loss",
    "ce_chunk_rows",
    "bce_loss",
    "sampled_softmax_loss",
    "sample_negatives",
]
