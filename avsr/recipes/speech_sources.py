"""Readers of the speech found in Debian packages (``/work/shared/data/AUDIO_SOURCES.md`` B): each
turns an unpacked package into :class:`Clip` candidates (audio bytes on demand, speaker, exact
text when the package has one). :mod:`avsr.recipes.speech_corpus` selects, decodes and writes them.

- ``asterisk``: IVR prompts (``usr/share/asterisk/sounds/VOICE/**``) with the ``name: text``
  lines of ``core-sounds-LANG.txt.gz`` from the transcript package; a prompt whose text is only a
  description (``[beep]``, ``<beep ascending>``, ``(10 seconds of silence)``) is not speech and is
  skipped; descriptions beside words are cut off (``at [@]`` -> ``at``).
- ``warzone``: ``base.wz`` (a zip): ``audio/tutorial/tutN.ogg`` with the ``"message"`` paired with
  it in ``script/tutorial.js``.
- ``tuxpaint``: ``stamps/**/NAME_desc[_LANG].ogg``; English text is the first line of ``NAME.txt``
  without its leading article (the recordings say "Frog." where the text reads "A frog.": checked
  on all 66 English clips with Whisper base), other languages its ``LANG.utf8=`` line. Speaker:
  one group per language (voice actors unnamed).
- ``fillets``: ``sound/**/LANG/ID.ogg`` with speaker (the dialogue font: small fish, big fish,
  NPCs) and text from ``script/LEVEL/dialogs_LANG.lua`` of fillets-ng-data.
- ``queen``: Flight of the Amazon Queen's ``queen.1c``: a ``QTBL`` table (15-byte header ending in
  a big-endian entry count, then 21-byte entries: 12-byte name, bundle byte, big-endian offset and
  size into the same file). ``*.SB`` entries are MP3 speech (16 kbit/s, 11.025 kHz). Speaker from
  the name: ``TTxxxxJn`` / ``JOE*`` Joe, ``TTxxxxPn`` the character of the dialogue file (``.DOG``)
  whose talk key (int16 at byte 24) is ``TT``; cutaway and other lines are grouped as such.
"""

from __future__ import annotations

import gzip
import re
import struct
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from avsr.core.errors import InputError
from avsr.recipes.packages import read_zip_members


@dataclass(frozen=True)
class Clip:
    """One candidate utterance. ``key``: path-like name unique in its package (the WAV is
    ``KEY.wav``); ``file``: where it sits in the package; ``read``: its file bytes."""

    key: str
    file: str
    speaker: str
    language: str
    read: Callable[[], bytes]
    suffix: str
    text: str | None = None


_DESCRIPTION = re.compile(r"\[[^\]]*\]|<[^>]*>|\([^)]*\)")


def spoken_text(line: str) -> str:
    """A transcript line without its bracketed descriptions (``""`` when nothing else is left)."""
    return re.sub(r"\s+", " ", _DESCRIPTION.sub(" ", line)).strip()


def _file_reader(path: Path) -> Callable[[], bytes]:
    return path.read_bytes


def _one(root: Path, pattern: str) -> Path:
    found = sorted(root.glob(pattern))
    if not found:
        raise InputError(f"{root}: nothing matches {pattern}")
    return found[0]


def read_asterisk_transcripts(path: Path) -> dict[str, str]:
    """``{name: raw text}`` of a ``core-sounds-LANG.txt[.gz]`` file (``;`` lines are comments)."""
    opener = gzip.open if path.suffix == ".gz" else open
    out = {}
    with opener(path, "rt", encoding="utf-8-sig") as f:
        for line in f:
            line = line.strip().lstrip("\ufeff")
            if not line or line.startswith(";") or ":" not in line:
                continue
            name, text = line.split(":", 1)
            out[name.strip()] = text.strip()
    return out


def asterisk(root: Path, transcripts_root: Path, language: str) -> list[Clip]:
    sounds = _one(root, "usr/share/asterisk/sounds/*")
    table = read_asterisk_transcripts(_one(transcripts_root, "usr/share/doc/*/core-sounds-*.txt*"))
    out = []
    for p in sorted(sounds.rglob("*")):
        if p.suffix not in (".g722", ".wav") or not p.is_file():
            continue
        key = p.relative_to(sounds).with_suffix("").as_posix()
        text = spoken_text(table.get(key, ""))
        if text:
            file = p.relative_to(root).as_posix()
            out.append(Clip(key, file, sounds.name, language, _file_reader(p), p.suffix, text))
    return out


def _unescape(s: str) -> str:
    return re.sub(r"\\(.)", r"\1", s)


def warzone(root: Path, language: str = "en") -> list[Clip]:
    wz = _one(root, "usr/share/games/warzone2100/base.wz")
    members = dict(read_zip_members(wz, ["script/tutorial.js", "audio/tutorial/*.ogg"]))
    js = members.get("script/tutorial.js")
    if js is None:
        raise InputError(f"{wz}: no script/tutorial.js")
    pairs = re.findall(r'"audio":\s*"([^"]+)"[^{}]*?"message":\s*_\("((?:[^"\\]|\\.)*)"\)', js.decode("utf-8"))
    out = []
    for name, text in pairs:
        data = members.get(f"audio/tutorial/{name}")
        if data is not None and text.strip():
            out.append(
                Clip(
                    Path(name).stem,
                    f"{wz.relative_to(root).as_posix()}:audio/tutorial/{name}",
                    "warzone2100-tutorial",
                    language,
                    lambda d=data: d,
                    ".ogg",
                    _unescape(text).strip(),
                )
            )
    return out


_TUX = re.compile(r"^(?P<name>.+)_desc(?:_(?P<lang>[A-Za-z]{2,3}(?:_[A-Za-z]{2})?))?(?:\.ogg)+$")


def _tux_text(txt: Path, lang: str) -> str | None:
    if not txt.is_file():
        return None
    lines = txt.read_text(encoding="utf-8", errors="replace").splitlines()
    if lang == "en":
        text = re.sub(r"^(?:an?|the)\s+", "", lines[0].strip(), flags=re.I) if lines else ""
        return text[:1].upper() + text[1:] if text else None
    for line in lines:
        if line.startswith(f"{lang}.utf8="):
            return line.split("=", 1)[1].strip() or None
    return None


def tuxpaint(root: Path, languages: list[str] | None = None, exclude: list[str] | None = None) -> list[Clip]:
    """English clips need their text; other languages are kept with or without it."""
    stamps = _one(root, "usr/share/tuxpaint/stamps")
    out = []
    for p in sorted(stamps.rglob("*_desc*.ogg")):
        m = _TUX.match(p.name)
        if not m:
            continue
        lang = m.group("lang") or "en"
        if (languages and lang not in languages) or (exclude and lang in exclude):
            continue
        text = _tux_text(p.with_name(m.group("name") + ".txt"), lang)
        if lang == "en" and not text:
            continue
        key = p.relative_to(stamps).as_posix().split(".ogg")[0]
        file = p.relative_to(root).as_posix()
        out.append(Clip(key, file, f"tuxpaint-{lang}", lang, _file_reader(p), ".ogg", text))
    return out


_DIALOG = re.compile(
    r'dialogId\(\s*"([^"]+)"\s*,\s*"([^"]*)"\s*,\s*"(?:[^"\\]|\\.)*"\s*\)\s*dialogStr\(\s*"((?:[^"\\]|\\.)*)"\s*\)'
)


def fillets(root: Path, scripts_root: Path | None, language: str) -> list[Clip]:
    """Speaker ``fillets-LANG/FONT`` (``small``, ``big``, ``parrot``...); without a dialogue entry
    the id's ``-m-`` / ``-v-`` (small / big fish) or ``other``."""
    table: dict[tuple[str, str], tuple[str, str]] = {}
    if scripts_root is not None:
        for lua in sorted(scripts_root.glob(f"usr/share/games/fillets-ng/script/*/dialogs_{language}.lua")):
            for did, font, text in _DIALOG.findall(lua.read_text(encoding="utf-8", errors="replace")):
                table[(lua.parent.name, did)] = (font.removeprefix("font_"), _unescape(text))
    sound = _one(root, "usr/share/games/fillets-ng/sound")
    out = []
    for p in sorted(sound.rglob(f"{language}/*.ogg")):
        font, text = table.get((p.parent.parent.name, p.stem), (None, None))
        if not font:
            m = re.search(r"-(m|v)-|_(small|big)_", p.stem)
            font = {"m": "small", "v": "big"}.get(m.group(1), m.group(2)) if m else "other"
        key = p.relative_to(sound).with_suffix("").as_posix()
        out.append(
            Clip(
                key,
                p.relative_to(root).as_posix(),
                f"fillets-{language}/{font}",
                language,
                _file_reader(p),
                ".ogg",
                text,
            )
        )
    return out


QTBL_HEADER = 15  # b"QTBL", 5-byte version, 4 bytes, big-endian uint16 entry count
QTBL_ENTRY = 21  # 12-byte name, bundle byte, big-endian uint32 offset, big-endian uint32 size
DOG_HEADER = 20  # a .DOG file's own header; the dialogue header after it holds the talk key at +4


def read_qtbl(path: Path) -> dict[str, tuple[int, int]]:
    """``{entry name: (offset, size)}`` of a ``QTBL`` archive; InputError when it is not one."""
    with open(path, "rb") as f:
        head = f.read(QTBL_HEADER)
        if len(head) < QTBL_HEADER or head[:4] != b"QTBL":
            raise InputError(f"{path}: not a QTBL archive")
        (n,) = struct.unpack(">H", head[13:15])
        table = f.read(n * QTBL_ENTRY)
    size = path.stat().st_size
    if len(table) < n * QTBL_ENTRY:
        raise InputError(f"{path}: QTBL table cut short ({n} entries announced)")
    out = {}
    for i in range(n):
        e = table[i * QTBL_ENTRY : (i + 1) * QTBL_ENTRY]
        name = e[:12].split(b"\0")[0].decode("ascii", "replace")
        off, length = struct.unpack(">II", e[13:21])
        if off + length > size:
            raise InputError(f"{path}: entry {name} points past the end of the file")
        out[name] = (off, length)
    return out


def _slice(path: Path, off: int, size: int) -> bytes:
    with open(path, "rb") as f:
        f.seek(off)
        return f.read(size)


def mp3_payload(data: bytes, search: int = 256) -> bytes:
    """``data`` from its first MPEG audio frame sync (a small header may precede it)."""
    for i in range(min(search, len(data) - 1)):
        if data[i] == 0xFF and data[i + 1] & 0xE0 == 0xE0:
            return data[i:]
    raise InputError("no MP3 frame sync")


_TALK = re.compile(r"^(\d\d)(.{4})([JP])(\w)$")


def queen_speaker(stem: str, talk_keys: dict[int, str]) -> str:
    m = _TALK.match(stem)
    if m:
        return "joe" if m.group(3) == "J" else talk_keys.get(int(m.group(1)), f"person{m.group(1)}")
    if stem.startswith("JOE"):
        return "joe"
    return "cutaway" if stem.startswith("C") else "other"


def queen(root: Path, language: str = "en") -> list[Clip]:
    archive = _one(root, "usr/share/scummvm/*/queen.1c")
    table = read_qtbl(archive)
    talk_keys = {}
    for name, (off, size) in table.items():
        if name.endswith(".DOG") and size >= DOG_HEADER + 6:
            (k,) = struct.unpack(">h", _slice(archive, off + DOG_HEADER + 4, 2))
            talk_keys[k] = re.sub(r"\d+$", "", name[:-4]).lower() or name[:-4].lower()
    out = []
    for name, (off, size) in sorted(table.items()):
        if not name.endswith(".SB"):
            continue
        stem = name[:-3]
        file = f"{archive.relative_to(root).as_posix()}:{name}"
        out.append(
            Clip(stem, file, queen_speaker(stem, talk_keys), language,
                 lambda o=off, s=size: mp3_payload(_slice(archive, o, s)), ".mp3")
        )  # fmt: skip
    return out
