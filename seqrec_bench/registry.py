"""Model registry: built-in models by short lowercase name.

(Issue 4 extends this with entry-point plugins; the public functions stay the same.)
"""

from __future__ import annotations

import importlib

from seqrec_bench.models.base import Model

__all__ = ["get_model_class", "model_names", "UnknownModelError", "BUILTIN_MODELS"]

#: name -> "module:Class"; imported lazily so listing models does not import torch models.
BUILTIN_MODELS: dict[str, str] = {
    "pop": "seqrec_bench.models.pop:PopularityModel",
    "markov": "seqrec_bench.models.markov:MarkovModel",
}


class UnknownModelError(KeyError):
    """The user asked for a model name that is not registered."""

    def __str__(self) -> str:  # KeyError quotes its message; we want a plain line
        return str(self.args[0])


def model_names() -> list[str]:
    """Sorted names of every registered model."""
    return sorted(BUILTIN_MODELS)


def get_model_class(name: str) -> type[Model]:
    """The model class registered under ``name``.

    Raises:
        UnknownModelError: listing the valid names.
    """
    key = name.strip().lower()
    if key not in BUILTIN_MODELS:
        raise UnknownModelError(f"unknown model {name!r}; valid models: {', '.join(model_names())}")
    module, _, attr = BUILTIN_MODELS[key].partition(":")
    return getattr(importlib.import_module(module), attr)
