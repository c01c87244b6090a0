"""``avsr train vsr|p2t|av|noise-head|noise CONFIG [KEY=VALUE ...]``: the training recipes (:mod:`avsr.train`)."""

from __future__ import annotations

import os

_TRAIN = {  # what: (help, description, config folder)
    "vsr": (
        "lip reading, stage 1: video -> CTC phonemes",
        "Train a VSR model. Overrides use dotted keys, e.g. "
        "trainer.max_steps=2000 data.max_frames=1200 trainer.devices=2 trainer.strategy=ddp",
        "vsr",
    ),
    "p2t": (
        "lip reading, stage 2: LoRA phoneme-to-text LM, trained on text",
        "Train the phoneme-to-text LoRA adapter on a "
        "sentence corpus (data_prep/corpus.py). Resumable: run again to continue.",
        "p2t",
    ),
    "av": (
        "AVSR: one adapter set (LoRA on frozen Whisper [+ fusion]) on one noise scenario",
        "Train one adapter set on speech "
        "mixed with noise (data_prep/audio.py writes the manifests), "
        "e.g. avsr train av configs/av/babble.yaml trainer.max_steps=200",
        "av",
    ),
    "noise-head": (
        "AVSR: the noise classifier head on the frozen Whisper's lower layers (the shipped one)",
        "Train the noise head (category + SNR) on frozen Whisper features of speech mixed with train-split noise "
        "(data_prep/noise_corpus.py, data_prep/speech_corpus.py write the corpus).",
        "noise",
    ),
    "noise": (
        "AVSR: the log-mel noise classifier (category + SNR), trained from scratch",
        "Train the noise classifier on speech mixed with train-split noise (data_prep/audio.py).",
        "noise",
    ),
}


def add(sub) -> None:
    p = sub.add_parser("train", help="train a model from a YAML config (Lightning)")
    tsub = p.add_subparsers(dest="what", required=True, metavar="WHAT")
    for what, (help_, description, folder) in _TRAIN.items():
        t = tsub.add_parser(what, help=help_, description=description)
        t.add_argument("config", help=f"YAML config (configs/{folder}/*.yaml)")
        t.add_argument("overrides", nargs="*", metavar="KEY=VALUE")
        t.set_defaults(func=run, what=what)


def run(args) -> int:
    from avsr.core.configs import build
    from avsr.core.errors import UsageError

    if args.what == "vsr":
        from avsr.train.vsr import VSRTrainConfig as Config
        from avsr.train.vsr import train_vsr as fit
    elif args.what == "p2t":
        from avsr.train.p2t import P2TTrainConfig as Config
        from avsr.train.p2t import train_p2t as fit
    elif args.what == "av":
        from avsr.train.av import AVTrainConfig as Config
        from avsr.train.av import train_av as fit
    elif args.what == "noise-head":
        from avsr.train.noise_head import NoiseHeadTrainConfig as Config
        from avsr.train.noise_head import train_noise_head as fit
    else:
        from avsr.train.classifier import NoiseTrainConfig as Config
        from avsr.train.classifier import train_noise as fit
    cfg = build(Config, args.config, args.overrides)
    for name in ("train", "val", "noise_sources"):
        value = getattr(cfg.data, name, None)
        paths = [p for p in ([value] if isinstance(value, str) else list(value or [])) if p]
        for path in paths or ([""] if name == "train" else []):  # training data is required
            if not os.path.isfile(path):
                raise UsageError(
                    f"data.{name}={path!r}: no such file (give a manifest/corpus JSONL, e.g. data.{name}=PATH; "
                    "python data_prep/noise_corpus.py and data_prep/speech_corpus.py write the audio corpus)"
                )
    final = fit(cfg)
    what = {
        "vsr": "(averaged) checkpoint",
        "p2t": "adapter",
        "av": "adapter set",
        "noise": "noise classifier",
        "noise-head": "noise head",
    }[args.what]
    print(f"final {what}: {final}")
    return 0
