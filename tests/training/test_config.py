from __future__ import annotations

from dataclasses import dataclass

import pytest

from seqrec_bench.models.base import ConfigError, parse_overrides
from seqrec_bench.training import TrainerConfig


@dataclass(frozen=True)
class _ModelConfig(TrainerConfig):
    hidden: int = 32
    lr: float = 3e-3  # a model may change a trainer default


def test_defaults_are_valid():
    cfg = TrainerConfig()
    assert cfg.optimizer == "adam" and cfg.patience >= 1 and cfg.time_budget is None


@pytest.mark.parametrize(
    "kwargs",
    [
        {"optimizer": "sgd"},
        {"lr": 0.0},
        {"lr": float("nan")},
        {"weight_decay": -1.0},
        {"grad_clip": 0.0},
        {"batch_size": 0},
        {"max_epochs": 0},
        {"patience": 0},
        {"eval_every": 0},
        {"time_budget": 0.0},
        {"min_delta": -0.1},
    ],
)
def test_invalid_values_are_rejected(kwargs):
    with pytest.raises(ValueError):
        TrainerConfig(**kwargs)


def test_model_config_embeds_trainer_fields_and_overrides_defaults():
    cfg = _ModelConfig()
    assert cfg.lr == 3e-3 and cfg.batch_size == TrainerConfig().batch_size
    shared = TrainerConfig.trainer_fields(cfg)
    assert type(shared) is TrainerConfig and shared.lr == 3e-3


def test_string_overrides_like_the_cli():
    cfg = parse_overrides(
        _ModelConfig(),
        {"lr": "3e-4", "optimizer": "adamw", "grad_clip": "1.0", "time_budget": "none"},
    )
    assert (cfg.lr, cfg.optimizer, cfg.grad_clip, cfg.time_budget) == (3e-4, "adamw", 1.0, None)
    with pytest.raises(ConfigError):
        parse_overrides(_ModelConfig(), {"optimizer": "sgd"})
    with pytest.raises(ConfigError, match="valid keys"):
        parse_overrides(_ModelConfig(), {"learning_rate": "1"})
