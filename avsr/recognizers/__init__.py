"""Recognisers (floor 3): the stages joined into systems behind one protocol.

- :class:`~avsr.recognizers.protocol.Recognizer`: the protocol (``decode(segments)``,
  ``transcribe(path)``, ``modules()``), and :func:`~avsr.recognizers.protocol.transcribe_file`;
- :class:`~avsr.recognizers.lip.LipReader`: silent video -> phonemes -> text (VALLR);
- :class:`~avsr.recognizers.audiovisual.AVRecognizer`: audio (+ crops) -> noise classifier + router
  -> frozen Whisper with the chosen adapter set (composes :mod:`avsr.adapters` and :mod:`avsr.noise`);
- :class:`~avsr.recognizers.autoavsr.AutoAVSRReader`: the published Auto-AVSR visual models;
- :class:`~avsr.recognizers.record.Result`: the result record, defined once;
- :mod:`~avsr.recognizers.prepare`: file -> segments, one look and one decode per file (no model;
  runs in worker processes);
- :class:`~avsr.recognizers.options.ModelOptions`: every model option and its default, once;
- :func:`~avsr.recognizers.load.load_recognizer` (``avsr.load_recognizer``), and choosing and
  loading the recognisers a batch needs.

The package imports nothing heavy on its own: worker processes import
:mod:`avsr.recognizers.prepare` without torch.
"""

__all__ = ["protocol", "lip", "audiovisual", "autoavsr", "record", "prepare", "options", "load", "checkpoints"]
