"""Batch transcription (floor 4): ``avsr transcribe`` over any :class:`~avsr.recognizers.protocol.Recognizer`.

- :mod:`~avsr.transcribe.engine`: Lightning's prediction loop, ordered resumable JSONL output, DDP;
- :mod:`~avsr.transcribe.workers`: torch-free preparation worker processes.
"""

__all__ = ["engine", "workers"]
