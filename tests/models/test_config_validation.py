"""One annotation-driven validator behind every config path (Python, TOML/JSON dicts, --set)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

import pytest

from seqrec_bench.errors import ConfigError
from seqrec_bench.models import GRUConfig, MarkovModel, TransformerConfig, TransformerModel
from seqrec_bench.models.base import (
    config_from_dict,
    parse_overrides,
    parse_value,
    resolve_config,
    validate_config,
)
from seqrec_bench.registry import get_model_class, model_names


@dataclass(frozen=True)
class _Config:
    flag: bool = True
    count: int = 3
    rate: float = 0.5
    mode: Literal["a", "b"] = "a"
    order: Literal[1, 2] = 1
    limit: int | None = None
    scale: float | None = None
    sizes: tuple[int, ...] = (1, 2)
    pair: tuple[int, str] = (1, "x")
    names: list[str] | None = None
    label: str = "x"


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("flag", "no", "_Config.flag expects bool, got 'no' (str)"),
        ("flag", 1, "_Config.flag expects bool, got 1 (int)"),
        ("count", 50.0, "_Config.count expects int, got 50.0 (float)"),
        ("count", True, "_Config.count expects int, got True (bool)"),
        ("count", "3", "_Config.count expects int, got '3' (str)"),
        ("rate", True, "_Config.rate expects float, got True (bool)"),
        ("rate", "0.5", "_Config.rate expects float, got '0.5' (str)"),
        ("mode", "c", "_Config.mode expects one of 'a', 'b', got 'c' (str)"),
        ("order", True, "_Config.order expects one of 1, 2, got True (bool)"),
        ("order", 2.0, "_Config.order expects one of 1, 2, got 2.0 (float)"),
        ("limit", 2.5, "_Config.limit expects int | None, got 2.5 (float)"),
        ("sizes", (1, "2"), "_Config.sizes expects tuple[int, ...], got (1, '2') (tuple)"),
        ("sizes", 3, "_Config.sizes expects tuple[int, ...], got 3 (int)"),
        ("pair", (1, 2), "_Config.pair expects tuple[int, str], got (1, 2) (tuple)"),
        ("pair", (1,), "_Config.pair expects tuple[int, str], got (1,) (tuple)"),
        ("names", ["a", 1], "_Config.names expects list[str] | None, got ['a', 1] (list)"),
        ("label", 3, "_Config.label expects str, got 3 (int)"),
    ],
)
def test_wrong_types_are_one_line_errors_on_every_typed_path(key, value, message):
    exact = f"^{re.escape(message)}$"
    with pytest.raises(ConfigError, match=exact):
        validate_config(_Config(**{key: value}))
    with pytest.raises(ConfigError, match=exact):
        config_from_dict(_Config, {key: value})
    with pytest.raises(ConfigError, match=exact):
        resolve_config(_Config, {key: value})


def test_valid_values_pass_and_are_normalised():
    cfg = config_from_dict(
        _Config,
        {"rate": 1, "scale": 2, "limit": None, "sizes": [3, 4], "order": 2, "names": ["n"]},
    )
    assert cfg.rate == 1.0 and type(cfg.rate) is float  # lr=1 and lr=1.0: one stored config
    assert cfg.scale == 2.0 and type(cfg.scale) is float
    assert cfg.sizes == (3, 4)  # JSON gives lists back for tuples
    assert (cfg.order, cfg.names) == (2, ["n"])
    default = _Config()
    assert validate_config(default) is default  # nothing to normalise: the same object


def test_the_reported_examples():
    # tie_embeddings="no" used to be accepted and kept the embeddings tied
    with pytest.raises(
        ConfigError, match=r"^TransformerConfig.tie_embeddings expects bool, got 'no' \(str\)$"
    ):
        TransformerModel(tie_embeddings="no")
    with pytest.raises(ConfigError, match=r"^TransformerConfig.max_len expects int, got 50.0"):
        TransformerModel(max_len=50.0)
    # a config object built directly: Model.__init__ checks it too
    with pytest.raises(ConfigError, match="tie_embeddings expects bool"):
        TransformerModel(TransformerConfig(tie_embeddings="no"))
    with pytest.raises(ConfigError, match="max_len expects int"):
        TransformerModel({"max_len": 50.0})
    # a TOML table: typed values, strings are not parsed
    with pytest.raises(ConfigError, match="tie_embeddings expects bool"):
        resolve_config(TransformerConfig, {"tie_embeddings": "no"}, {})
    # --set strings are parsed by annotation
    cfg = resolve_config(TransformerConfig, {}, {"tie_embeddings": "no"})
    assert cfg.tie_embeddings is False
    from seqrec_bench.models.transformer import SASRecModule

    assert SASRecModule(5, cfg).out_emb is not None  # really untied now
    assert TransformerModel(cfg).config.tie_embeddings is False
    cfg = parse_overrides(TransformerConfig(), {"tie_embeddings": "no", "max_len": "4"})
    assert (cfg.tie_embeddings, cfg.max_len) == (False, 4)
    with pytest.raises(ConfigError, match="^TransformerConfig.max_len expects int, got '50.0'"):
        parse_overrides(TransformerConfig(), {"max_len": "50.0"})


def test_strings_are_parsed_by_annotation():
    assert parse_value(_Config, "flag", "off") is False
    assert parse_value(_Config, "flag", "YES") is True
    assert parse_value(_Config, "count", "7") == 7
    assert parse_value(_Config, "rate", "3e-4") == 3e-4
    assert parse_value(_Config, "order", "2") == 2
    assert parse_value(_Config, "limit", "none") is None
    assert parse_value(_Config, "limit", "4") == 4
    assert parse_value(_Config, "sizes", "1, 2,3") == (1, 2, 3)
    assert parse_value(_Config, "sizes", "") == ()
    assert parse_value(_Config, "pair", "1,y") == (1, "y")
    assert parse_value(_Config, "label", "none") == "none"
    for key, raw, expected in [
        ("flag", "maybe", "bool"),
        ("count", "50.0", "int"),
        ("count", "two", "int"),
        ("rate", "fast", "float"),
        ("mode", "c", "one of 'a', 'b'"),
        ("limit", "x", "int | None"),
        ("sizes", "1,x", r"tuple\[int, ...\]"),
    ]:
        with pytest.raises(ConfigError, match=f"^_Config.{key} expects {expected}, got '{raw}'"):
            parse_value(_Config, key, raw)


def test_unknown_keys_list_the_valid_ones():
    for call in (
        lambda: config_from_dict(_Config, {"nope": 1}),
        lambda: parse_overrides(_Config(), {"nope": "1"}),
        lambda: resolve_config(_Config, {"nope": 1}),
        lambda: resolve_config(_Config, {}, {"nope": "1"}),
    ):
        with pytest.raises(ConfigError, match="unknown _Config key.*nope; valid keys: flag, count"):
            call()


def test_resolve_config_order_and_inputs():
    base = TransformerModel.default_config({"length": {"median": 80.0}})
    cfg = resolve_config(base, {"hidden": 32, "lr": 1}, {"hidden": "16", "dropout": "0.3"})
    assert (cfg.max_len, cfg.hidden, cfg.lr, cfg.dropout) == (200, 16, 1.0, 0.3)  # strings last
    assert type(cfg) is TransformerConfig
    assert resolve_config(GRUConfig) == GRUConfig()
    assert resolve_config(GRUConfig(), None, None) == GRUConfig()
    with pytest.raises(ConfigError, match="must be strings"):
        resolve_config(GRUConfig, {}, {"hidden": 16})
    with pytest.raises(ConfigError, match="dataclass"):
        resolve_config(dict)
    # range checks stay in __post_init__ and come back as one-line ConfigErrors
    with pytest.raises(ConfigError, match=r"^invalid TransformerConfig: n_heads \(3\) must divide"):
        resolve_config(TransformerConfig, {"n_heads": 3})
    with pytest.raises(ConfigError, match="order must be 1 or 2"):
        resolve_config(MarkovModel.config_cls, {}, {"order": "3"})


def test_parse_overrides_wants_strings():
    with pytest.raises(ConfigError, match="strings"):
        parse_overrides(_Config(), {"count": 3})


def test_every_registered_model_default_config_validates():
    for name in model_names():
        cls = get_model_class(name)
        for stats in (None, {"length": {"median": 80.0}}, {"length": {"median": 5.0}}):
            config = cls.default_config(stats)
            assert validate_config(config) == config, name
