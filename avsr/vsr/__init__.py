"""Lip reading, stage 1 (VALLR): mouth crops -> CTC phoneme posteriors -> phonemes.

Importing the package registers the ``vsr`` checkpoint builder with :mod:`avsr.core.store`."""

from avsr.core.store import register_builder
from avsr.vsr.decode import beam_search, decode, greedy_decode
from avsr.vsr.model import MAX_TIME_STRIDE, PRESETS, VSRConfig, VSRModel

__all__ = ["VSRConfig", "VSRModel", "PRESETS", "MAX_TIME_STRIDE", "decode", "greedy_decode", "beam_search"]


def _build(config: dict) -> VSRModel:
    return VSRModel(VSRConfig.from_dict(config))


register_builder("vsr", _build)
