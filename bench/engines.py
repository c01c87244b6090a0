"""Whisper engines on this machine, as ratios against the PyTorch float32 loop of the same run.

    python bench/engines.py [--whisper whisper-base] [--clips 28] [--beam 1]

1. Engine table: the same clips (the fixture speech, cycled to --clips) decoded one by one by
   avsr's PyTorch engine (float32; int8 = torch dynamic quantisation), avsr's CTranslate2 engine
   (float32, int8, int8_float32) and faster-whisper itself (float32, int8) on the same weights
   and options (Whisper's fallback and no-speech defaults, no timestamps, no VAD): seconds, ratio
   to torch float32, clips whose words equal torch float32's, WER against the transcripts.
2. Adapter sets on ct2 float32: a shipped set active (audio only) and an audio-visual set
   (fusion on 25 fps crops) vs the frozen model on the same clips (targets <= 1.1x and <= 1.3x).
3. One 5 s file end to end (process start to exit): `avsr transcribe` (ct2, the default) on a
   wav (asr mode) and on a talking-face mp4 (avsr mode), each vs faster-whisper's import + load +
   transcribe of the same file in a fresh process (target <= 2x).
"""

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
FIX = ROOT / "tests" / "fixtures"


def clips(n: int) -> tuple[list[np.ndarray], list[str]]:
    from avsr.core.audio import read_audio
    from avsr.recipes.audio import speech_records

    recs = speech_records(FIX / "speech")
    recs = (recs * (n // len(recs) + 1))[:n]
    return [read_audio(r["audio"]) for r in recs], [r["text"] for r in recs]


def wer(refs: list[str], hyps: list[str]) -> float:
    """WER % as `avsr eval` scores it (Whisper's English normaliser on both sides)."""
    from avsr.core.metrics import error_rate
    from avsr.evaluation.scoring import words

    return 100 * error_rate([words(r) for r in refs], [words(h) for h in hyps])


def timed(fn, audio: list[np.ndarray]) -> tuple[list[str], float]:
    fn(audio[0])  # warm-up
    t = time.perf_counter()
    out = [fn(a) for a in audio]
    return out, time.perf_counter() - t


def avsr_engine(av, opts):
    def run(a: np.ndarray) -> str:
        return av.decode(av.features(a), audio=[a], opts=opts)[0].text

    return run


def fw_engine(folder: Path, compute_type: str, beam: int):
    from faster_whisper import WhisperModel

    m = WhisperModel(str(folder), device="cpu", compute_type=compute_type, cpu_threads=0)

    def run(a: np.ndarray) -> str:
        segs, _ = m.transcribe(
            a,
            beam_size=beam,
            language="en",
            without_timestamps=True,
            condition_on_previous_text=False,
            vad_filter=False,
        )
        return " ".join(" ".join(s.text for s in segs).split())

    return run


def table(args, audio, refs) -> None:
    from avsr.adapters.torch_bank import AVWhisper
    from avsr.whisper.ct2_cache import registry_folder
    from avsr.whisper.decoding import DecodingOptions
    from avsr.whisper.load import load_whisper
    from avsr.whisper.quantize import quantize_int8

    opts = DecodingOptions(beam_size=args.beam)
    model, proc = load_whisper(args.whisper)
    av = AVWhisper(model, proc, args.whisper).eval()
    rows = [("avsr torch", "float32", *timed(avsr_engine(av, opts), audio))]
    for ct in ("float32", "int8", "int8_float32"):
        av.use_ct2(ct)
        rows.append(("avsr ct2", ct, *timed(avsr_engine(av, opts), audio)))
    av.use_ct2(None)
    try:
        folder = registry_folder(args.whisper)
        for ct in ("float32", "int8"):
            rows.append(("faster-whisper", ct, *timed(fw_engine(folder, ct, args.beam), audio)))
    except ImportError:
        print("(faster-whisper is not installed: its rows are left out)")
    model, proc = load_whisper(args.whisper)
    avq = AVWhisper(model, proc, args.whisper).eval()
    quantize_int8(avq.whisper)
    rows.insert(1, ("avsr torch", "int8 (dynamic)", *timed(avsr_engine(avq, opts), audio)))
    base_texts, base_t = rows[0][2], rows[0][3]
    total = sum(len(a) for a in audio) / 16000
    print(f"\n1. engines, {args.whisper}, beam {args.beam}: {len(audio)} clips ({total:.0f} s of speech), one by one")
    print("| engine | compute type | s | vs torch float32 | same words as torch float32 | WER % |")
    print("| --- | --- | ---: | ---: | ---: | ---: |")
    for eng, ct, texts, sec in rows:
        same = sum(a == b for a, b in zip(texts, base_texts))
        print(
            f"| {eng} | {ct} | {sec:.1f} | {base_t / sec:.2f}x faster | {same}/{len(audio)} | {wer(refs, texts):.1f} |"
        )


def sets(args, audio) -> None:
    import torch
    from avtools import perturb_set

    from avsr.adapters.fusion import FusionConfig
    from avsr.adapters.torch_bank import AVWhisper, LoraSetConfig
    from avsr.core.registry import shipped
    from avsr.whisper.decoding import DecodingOptions
    from avsr.whisper.load import load_whisper

    opts = DecodingOptions(beam_size=args.beam, temperatures=(0.0,))  # the same work per clip
    model, proc = load_whisper(args.whisper)
    av = AVWhisper(model, proc, args.whisper).eval()
    folder = shipped("adapter-sets", args.whisper)
    if folder is not None:
        av.load_set(folder / "babble")
    av.add_set("av", LoraSetConfig(), fusion=FusionConfig())
    perturb_set(av, "av", scale=1e-4)  # non-zero fusion and LoRA that leave the text as it is
    av.use_ct2("float32")
    rows = {}
    for name in ["none", *(["babble"] if folder is not None else []), "av"]:
        av.activate(name)

        def run(a, visual=name == "av"):
            crops = torch.zeros((1, max(1, len(a) // 640), 88, 88), dtype=torch.uint8) if visual else None
            return av.decode(av.features(a), crops, audio=[a], opts=opts)[0].text

        rows[name] = timed(run, audio)
    print(f"\n2. adapter sets on ct2 float32, greedy without fallback, {len(audio)} clips")
    print("| set | s | vs frozen | same words as frozen |\n| --- | ---: | ---: | ---: |")
    label = {"none": "frozen", "babble": "shipped babble set (audio only)", "av": "audio-visual set (LoRA + fusion)"}
    for name, (texts, sec) in rows.items():
        same = sum(a == b for a, b in zip(texts, rows["none"][0]))
        print(f"| {label[name]} | {sec:.1f} | {sec / rows['none'][1]:.2f}x | {same}/{len(audio)} |")


FW_SCRIPT = """
import sys
from faster_whisper import WhisperModel
m = WhisperModel(sys.argv[1], device="cpu", compute_type="float32")
segs, _ = m.transcribe(sys.argv[2], beam_size=1, language="en", without_timestamps=True,
                       condition_on_previous_text=False, vad_filter=False)
print(" ".join(s.text for s in segs))
"""


def end_to_end(args, tmp: Path) -> None:
    from avsr.core.audio import read_audio, write_wav
    from avsr.recipes.audio import speech_records
    from avsr.recipes.mux import face_loop, mux_face_speech
    from avsr.whisper.ct2_cache import registry_folder

    speech = np.concatenate([read_audio(r["audio"]) for r in speech_records(FIX / "speech")])[: 5 * 16000]
    wav = tmp / "five_seconds.wav"
    write_wav(wav, speech)
    mp4 = mux_face_speech(face_loop(FIX / "pyfeat_single_face_640x360.mp4", (320, 180)), speech, tmp / "five.mp4")

    def avsr_cmd(path: Path, *extra: str) -> list[str]:
        return [sys.executable, "-m", "avsr.cli", "transcribe", str(path), *extra, "-q", "-o", str(tmp / "o.jsonl")]

    def fw_cmd(path: Path) -> list[str]:
        return [sys.executable, "-c", FW_SCRIPT, str(registry_folder(args.whisper)), str(path)]

    pairs = {  # label: (avsr command, faster-whisper on the same file)
        "`avsr transcribe five.wav --mode asr`": (avsr_cmd(wav, "--mode", "asr"), fw_cmd(wav)),
        "`avsr transcribe five.mp4` (talking face, avsr mode)": (avsr_cmd(mp4), fw_cmd(mp4)),
    }
    for pair in pairs.values():  # warm the file cache and the converted models once
        for cmd in pair:
            (tmp / "o.jsonl").unlink(missing_ok=True)
            subprocess.run(cmd, capture_output=True, check=True)
    print(
        "\n3. one 5 s file, process start to exit (ct2 float32, the shipped noise head and sets)\n"
        "| command | s | faster-whisper: import, load, transcribe, s | ratio |\n| --- | ---: | ---: | ---: |"
    )
    for label, pair in pairs.items():
        secs = []
        for cmd in pair:
            (tmp / "o.jsonl").unlink(missing_ok=True)
            t = time.perf_counter()
            subprocess.run(cmd, capture_output=True, check=True)
            secs.append(time.perf_counter() - t)
        print(f"| {label} | {secs[0]:.1f} | {secs[1]:.1f} | {secs[0] / secs[1]:.2f}x |")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--whisper", default="whisper-base")
    p.add_argument("--clips", type=int, default=28)
    p.add_argument("--beam", type=int, default=1)
    p.add_argument("--skip", choices=["table", "sets", "end-to-end"], nargs="*", default=[])
    args = p.parse_args()
    sys.path.insert(0, str(ROOT / "tests"))  # avtools.perturb_set
    audio, refs = clips(args.clips)
    if "table" not in args.skip:
        table(args, audio, refs)
    if "sets" not in args.skip:
        sets(args, audio)
    if "end-to-end" not in args.skip:
        with tempfile.TemporaryDirectory() as d:
            end_to_end(args, Path(d))
    return 0


if __name__ == "__main__":
    sys.exit(main())
