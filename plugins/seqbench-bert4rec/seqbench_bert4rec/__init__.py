"""BERT4Rec for seqrec_bench, registered as ``bert4rec`` by the ``seqrec_bench.models`` entry point."""

from seqbench_bert4rec.model import BERT4RecConfig, BERT4RecModel, BERT4RecModule

__all__ = ["BERT4RecModel", "BERT4RecConfig", "BERT4RecModule"]
