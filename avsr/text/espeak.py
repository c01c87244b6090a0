"""eSpeak NG as a separate process: ``python -m avsr.text.espeak`` reads one word a line on stdin
and writes each word's IPA on its own line (phonemes separated by ``_``).

eSpeak NG is GPL-3 and avsr is MIT, so avsr never loads the library into its own process: G2P
(:func:`avsr.text.g2p.word_phonemes`) runs this module, or a system ``espeak-ng`` binary when
one is on PATH, as a child process and reads its output. The library and its English data come
from the PyPI package ``espeakng-loader`` (libespeak-ng 1.52), installed with avsr, so nothing
needs ``apt-get``.
"""

from __future__ import annotations

import ctypes
import os
import sys

AUDIO_OUTPUT_SYNCHRONOUS = 0x02  # no audio device: we only ask for phonemes
CHARS_UTF8 = 1
PHONEMES_IPA = 0x02  # bit 1: IPA instead of eSpeak's ASCII names
SEPARATOR = "_"  # between phonemes of a word (bits 8-23 of the phoneme mode)


def _library():
    """libespeak-ng from espeakng-loader: (ctypes library, data folder's parent)."""
    import espeakng_loader

    lib = ctypes.CDLL(espeakng_loader.get_library_path())
    lib.espeak_Initialize.restype = ctypes.c_int
    lib.espeak_Initialize.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
    lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
    lib.espeak_TextToPhonemes.restype = ctypes.c_char_p
    lib.espeak_TextToPhonemes.argtypes = [ctypes.POINTER(ctypes.c_void_p), ctypes.c_int, ctypes.c_int]
    return lib, os.path.dirname(espeakng_loader.get_data_path())


def ipa_words(words: list[str], voice: str = "en-us") -> list[str]:
    """Each word's IPA (``_`` between phonemes). Runs the library in this process: call it only
    from the child process (``main``)."""
    lib, data = _library()
    if lib.espeak_Initialize(AUDIO_OUTPUT_SYNCHRONOUS, 0, data.encode(), 0) < 0:
        raise RuntimeError(f"libespeak-ng could not start with its data in {data}")
    if lib.espeak_SetVoiceByName(voice.encode()) != 0:
        raise RuntimeError(f"libespeak-ng has no voice {voice!r}")
    mode = PHONEMES_IPA | (ord(SEPARATOR) << 8)
    out = []
    for w in words:
        buf = ctypes.create_string_buffer(w.encode("utf-8"))
        ptr = ctypes.c_void_p(ctypes.addressof(buf))
        parts = []
        while ptr.value:  # one call per clause; the library moves the pointer on (NULL at the end)
            res = lib.espeak_TextToPhonemes(ctypes.byref(ptr), CHARS_UTF8, mode)
            if res:
                parts.append(res.decode("utf-8").strip())
        out.append(SEPARATOR.join(p for p in parts if p))
    return out


def main() -> int:
    words = [w.strip() for w in sys.stdin.read().splitlines()]
    for ipa in ipa_words(words):
        sys.stdout.write(ipa + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
