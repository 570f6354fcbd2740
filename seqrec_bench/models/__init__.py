"""Built-in recommenders and the model contract."""

from seqrec_bench.models.base import ConfigError, Model, NotFittedError, Validator
from seqrec_bench.models.gru import GRUConfig, GRUModel
from seqrec_bench.models.markov import MarkovConfig, MarkovModel
from seqrec_bench.models.pop import PopularityConfig, PopularityModel
from seqrec_bench.models.recentpop import RecentPopConfig, RecentPopModel
from seqrec_bench.models.space import Param
from seqrec_bench.models.torch_base import TorchSequenceModel
from seqrec_bench.models.transformer import TransformerConfig, TransformerModel

__all__ = [
    "Model",
    "TorchSequenceModel",
    "Validator",
    "NotFittedError",
    "ConfigError",
    "Param",
    "PopularityModel",
    "PopularityConfig",
    "RecentPopModel",
    "RecentPopConfig",
    "MarkovModel",
    "MarkovConfig",
    "TransformerModel",
    "TransformerConfig",
    "GRUModel",
    "GRUConfig",
]
