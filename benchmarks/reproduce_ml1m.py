"""Reproduce SASRec+ on MovieLens-1M (Klenitskiy & Vasilev 2023: NDCG@10 0.1821, HR@10 0.3152).

Needs the user's copy of ML-1M (``ml-1m.zip`` or the extracted ``ml-1m/`` folder); pass the
folder holding it with ``--data``. The transformer's long-history defaults (median length >= 50)
are exactly the SASRec+ setting: max_len 200, hidden 64, 2 blocks, 1 head, dropout 0.1, batch
128, lr 1e-3, <= 100 epochs, patience 10, full-softmax CE loss.

Usage::

    python benchmarks/reproduce_ml1m.py --data ~/datasets --device auto
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from reproduce_common import main  # noqa: E402

if __name__ == "__main__":
    main("ml-1m", __doc__.splitlines()[0], "pop,markov,gru,transformer")
