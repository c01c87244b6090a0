"""Lip reading, stage 1 (VALLR): mouth crops -> CTC phoneme posteriors -> phonemes."""
from avsr.vsr.decode import beam_search, decode, greedy_decode
from avsr.vsr.model import MAX_TIME_STRIDE, PRESETS, VSRConfig, VSRModel

__all__ = ["VSRConfig", "VSRModel", "PRESETS", "MAX_TIME_STRIDE", "decode", "greedy_decode", "beam_search"]
