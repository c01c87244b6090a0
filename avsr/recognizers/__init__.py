"""Recognisers (floor 3): the stages joined into systems behind one protocol.

- :class:`~avsr.recognizers.protocol.Recognizer`: the protocol (``decode(segments)``,
  ``transcribe(path)``, ``modules()``), and :func:`~avsr.recognizers.protocol.transcribe_file`;
- :class:`~avsr.recognizers.lip.LipReader`: silent video -> phonemes -> text (VALLR);
- :class:`~avsr.recognizers.audiovisual.AVRecognizer`: audio (+ crops) -> noise classifier + router
  -> frozen Whisper with the chosen adapter set;
- :class:`~avsr.recognizers.record.Result`: the result record, defined once;
- :mod:`~avsr.recognizers.prepare`: file -> segments (no model; runs in worker processes);
- :func:`~avsr.recognizers.load.load_recognizer` (``avsr.load_recognizer``) and the model options
  of a batch run.

The package imports nothing heavy on its own: worker processes import
:mod:`avsr.recognizers.prepare` without torch.
"""

__all__ = ["protocol", "lip", "audiovisual", "record", "prepare", "load", "checkpoints"]
