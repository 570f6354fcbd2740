"""Time-aware popularity: item counts in a window that ends at the moment of the prediction.

Plain popularity ranks by counts over the whole training period, so under leave-one-out it knows
what became popular after a user's test moment, and under any split it ranks yesterday's hits
like today's. ``recentpop`` scores an item by how often it occurs among the **training**
interactions in a window ending at the prediction time ``t`` (the timestamp of the input's last
interaction): the interactions with timestamp in ``(t - W, t]`` for a window of ``W`` days, the
``n`` latest ones with timestamp ``<= t`` for a window of ``n`` interactions, or all of them up to
``t`` (Sun, "Take a Fresh Look at Recommender Systems from an Evaluation Standpoint", SIGIR 2023).
Only training interactions are ever counted, never validation or test targets. Items tied on
the window count are ordered by their count up to ``t`` (added as a fraction of at most one half,
so it never outweighs one interaction of the window).

With ``select_on_validation`` (default) the window is chosen from :attr:`RecentPopConfig.windows`
by validation NDCG@10, like markov's back-off weight. Data without timestamps cannot use it.

Example:
    >>> import numpy as np
    >>> from seqrec_bench.data import Sequences
    >>> train = Sequences.from_lists([[1, 2, 2], [3, 3]], n_items=3).with_times(
    ...     np.array([0, 86400, 2 * 86400, 3 * 86400, 10 * 86400]))
    >>> model = RecentPopModel(window="2d", select_on_validation=False).fit(train)
    >>> query = Sequences.from_lists([[1]], n_items=3).with_times(np.array([3 * 86400]))
    >>> model.score(query).floor().tolist()  # (1d, 3d]: item 2 at day 2, item 3 at day 3
    [[0.0, 1.0, 1.0]]
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch

from seqrec_bench.config import MONITOR_METRIC
from seqrec_bench.data.sequences import Sequences, _ranges
from seqrec_bench.errors import ConfigError
from seqrec_bench.models.base import Model, Validator

__all__ = ["RecentPopModel", "RecentPopConfig", "parse_window", "TIME_UNITS"]

#: Timestamp units and their ticks per second; ``auto`` infers one from the magnitude.
TIME_UNITS = {"s": 1, "ms": 10**3, "us": 10**6, "ns": 10**9}
_DAY = 86_400
#: Int32 entries the checkpoint counts may hold (256 MB).
_CHECKPOINT_BUDGET = 1 << 26


def parse_window(text: str) -> tuple[str, float]:
    """``"7d"`` -> ``("days", 7.0)``, ``"1000"`` -> ``("last", 1000.0)``, ``"all"`` -> ``("all", inf)``.

    Example:
        >>> parse_window("0.5d"), parse_window("1000"), parse_window("all")
        (('days', 0.5), ('last', 1000.0), ('all', inf))
    """
    value = str(text).strip().lower()
    if value == "all":
        return "all", math.inf
    try:
        if value.endswith("d"):
            days = float(value[:-1])
            if days > 0 and math.isfinite(days):
                return "days", days
        elif value.isdigit() and int(value) > 0:
            return "last", float(int(value))
    except ValueError:
        pass
    raise ValueError(
        f"window {text!r} is not a number of days ('7d'), of interactions ('1000') or 'all'"
    )


@dataclass(frozen=True)
class RecentPopConfig:
    """Hyper-parameters of :class:`RecentPopModel`.

    Attributes:
        window: the window when nothing is selected: ``"Nd"`` (days), ``"N"`` (the N latest
            training interactions) or ``"all"`` (everything up to the prediction time).
        windows: the grid the window is chosen from on validation.
        select_on_validation: choose ``window`` from ``windows`` by validation NDCG@10.
        time_unit: the unit of the timestamps (``s``, ``ms``, ``us``, ``ns``) for day windows;
            ``auto`` infers it from their magnitude as unix times (datetime columns are read
            as nanoseconds).
    """

    window: str = "30d"
    windows: tuple[str, ...] = ("1d", "7d", "30d", "90d", "365d", "1000", "10000", "all")
    select_on_validation: bool = True
    time_unit: Literal["auto", "s", "ms", "us", "ns"] = "auto"

    def __post_init__(self) -> None:
        parse_window(self.window)
        if not self.windows:
            raise ValueError("windows must not be empty")
        for w in self.windows:
            parse_window(w)
        if self.time_unit != "auto" and self.time_unit not in TIME_UNITS:
            raise ValueError(f"time_unit must be auto or one of {', '.join(TIME_UNITS)}")


def infer_time_unit(times: np.ndarray) -> str:
    """The unit of unix timestamps judged by magnitude (a date after 1973 in each unit).

    Example:
        >>> infer_time_unit(np.array([8.9e8])), infer_time_unit(np.array([1.6e18]))
        ('s', 'ns')
    """
    top = float(np.abs(times).max()) if len(times) else 0.0
    for unit, bound in (("ns", 1e17), ("us", 1e14), ("ms", 1e11)):
        if top >= bound:
            return unit
    return "s"


class _PrefixCounts:
    """Item counts of any prefix ``[0, p)`` of the time-sorted training interactions.

    Checkpoint counts every ``block`` positions (int32, bounded by a memory budget) plus the
    partial block of each query, so a batch of windows costs ``rows x (items + block)`` work
    with no pass over the windows themselves.
    """

    def __init__(self, items: np.ndarray, n_items: int) -> None:
        n = len(items)
        self.items = items  # 0-based column of every sorted training interaction
        self.n_items = n_items
        self.block = max(1, math.ceil(n * n_items / _CHECKPOINT_BUDGET))
        full = n // self.block
        per_block = np.bincount(
            np.repeat(np.arange(full, dtype=np.int64), self.block) * n_items
            + items[: full * self.block],
            minlength=full * n_items,
        ).reshape(full, n_items)
        self.checkpoints = np.zeros((full + 1, n_items), dtype=np.int32)
        np.cumsum(per_block, axis=0, out=self.checkpoints[1:])

    def counts(self, pos: np.ndarray) -> np.ndarray:
        """``(len(pos), n_items)`` int32 counts of ``items[:pos[r]]`` for every row ``r``."""
        j = pos // self.block
        out = self.checkpoints[j]  # a copy (fancy indexing)
        rest = pos - j * self.block
        idx = _ranges(j * self.block, rest)
        rows = np.repeat(np.arange(len(pos), dtype=np.int64), rest)
        out += (
            np.bincount(rows * self.n_items + self.items[idx], minlength=len(pos) * self.n_items)
            .reshape(len(pos), self.n_items)
            .astype(np.int32)
        )
        return out


class RecentPopModel(Model[RecentPopConfig]):
    """Popularity as of the prediction time, in a window chosen on validation."""

    name = "recentpop"
    description = (
        "Popularity in a recent window ending at the prediction time (days or interactions, "
        "chosen on validation); needs timestamps."
    )
    training_samples = "training interactions before the prediction time, in a window (counts)"
    config_cls = RecentPopConfig
    needs_timestamps = True

    def _fit(self, train: Sequences, validator: Validator | None) -> None:
        times = _times(train, "training")
        order = np.argsort(times, kind="stable")
        self._times = times[order]
        self._prefix = _PrefixCounts(train.items[order] - 1, train.n_items)
        unit = self.config.time_unit
        self._unit = infer_time_unit(self._times) if unit == "auto" else unit
        self._window = parse_window(self.config.window)
        if self.config.select_on_validation and validator is not None:
            grid = list(self.config.windows)
            scores = []
            for i, w in enumerate(grid):
                self._window = parse_window(w)
                scores.append(float(validator.evaluate(self).metrics.get(MONITOR_METRIC, 0.0)))
                self.history.append({"window_index": float(i), MONITOR_METRIC: scores[-1]})
            best = int(np.argmax(scores))  # the first of equal scores
            self._window = parse_window(grid[best])
            self.selection = {
                "field": "window",
                "value": grid[best],
                "grid": grid,
                "metric": MONITOR_METRIC,
                "scores": scores,
                "time_unit": self._unit,
            }

    def _score(self, batch: Sequences) -> torch.Tensor:
        times = _times(batch, "input")
        lengths = batch.lengths
        at = np.full(batch.n_users, np.inf)
        has = lengths > 0
        at[has] = times[batch.offsets[1:][has] - 1]  # an empty input predicts after everything
        hi = np.searchsorted(self._times, at, side="right")
        kind, size = self._window
        if kind == "days":
            ticks = size * _DAY * TIME_UNITS[self._unit]
            lo = np.searchsorted(self._times, at - ticks, side="right")
        elif kind == "last":
            lo = np.maximum(hi - int(size), 0)
        else:
            lo = np.zeros_like(hi)
        upto = self._prefix.counts(hi)
        window = upto - self._prefix.counts(lo)
        scores = torch.from_numpy(window.astype(np.float32))
        # ties on the window broken by the count up to t, scaled to at most half an interaction
        # (so float32 rounding never lifts a count to the next one below 2**23)
        scores += torch.from_numpy((0.5 * upto / (hi[:, None] + 1.0)).astype(np.float32))
        return scores.to(self.device)


def _times(seqs: Sequences, what: str) -> np.ndarray:
    if seqs.times is None:
        raise ConfigError(
            f"recentpop needs timestamps, and the {what} sequences have none (a one-line-per-user "
            "file or synthetic data): use pop, or an interactions file with a timestamp column"
        )
    return np.asarray(seqs.times)
