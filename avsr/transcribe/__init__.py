"""Batch transcription (floor 4): ``avsr transcribe`` over any :class:`~avsr.recognizers.protocol.Recognizer`.

- :mod:`~avsr.transcribe.engine`: Lightning's prediction loop, ordered resumable JSONL output, DDP;
- :mod:`~avsr.transcribe.resume`: what an output already holds, a resume with the same models, merging rank parts;
- :mod:`~avsr.transcribe.workers`: torch-free preparation worker processes.
"""

__all__ = ["engine", "resume", "workers", "lightning_loop"]
