"""Caption cues (avsr.recognizers.record): readable cues from word timestamps, or from a
segment's text when there are none."""

from avsr.recognizers.record import CUE_CHARS, CUE_LINES, CUE_MIN_SECONDS, CUE_SECONDS, caption_cues, captions


def seg(words, start=0.0, end=None):
    ws = [{"word": w, "start": s, "end": e} for w, s, e in words]
    return {"start": start, "end": end or ws[-1]["end"], "text": "".join(w for w, _, _ in words).strip(), "words": ws}


def readable(cues):
    return all(
        len(c["lines"]) <= CUE_LINES
        and all(len(x) <= CUE_CHARS for x in c["lines"])
        and c["end"] - c["start"] <= CUE_SECONDS
        and c["start"] < c["end"]
        for c in cues
    ) and all(a["end"] <= b["start"] for a, b in zip(cues, cues[1:]))


def test_cues_break_at_sentences_pauses_and_length():
    words = [(" One", 0.0, 0.3), (" two.", 0.3, 0.6), (" Three", 0.7, 1.0), (" four", 3.0, 3.2)]
    words += [(f" word{i}", 4 + i * 0.3, 4.25 + i * 0.3) for i in range(30)]  # 210 characters, no comma
    cues = caption_cues([seg(words)])
    assert [c["lines"] for c in cues[:3]] == [["One two."], ["Three"], ["four"]]  # a sentence end, a 2 s pause
    assert cues[0]["start"] == 0.0 and cues[0]["end"] == 0.7  # shown CUE_MIN_SECONDS, but not into the next cue
    assert cues[1]["end"] == 1.7 and cues[2]["start"] == 3.0 and CUE_MIN_SECONDS == 1.0
    assert readable(cues) and [w for c in cues for x in c["lines"] for w in x.split()] == [w.strip() for w, *_ in words]
    rest = [len(" ".join(c["lines"])) for c in cues[3:]]
    assert len(rest) == 3 and max(rest) - min(rest) <= 12  # the fewest cues, even in length


def test_a_long_sentence_is_cut_at_its_commas():
    text = "Had he married a more amiable woman, he might have been made still more respectable than he was, "
    text += "and even amiable himself, for he was very young when he married and very fond of his wife."
    words = [(" " + w, 0.3 * i, 0.3 * i + 0.25) for i, w in enumerate(text.split())]
    cues = caption_cues([seg(words)])
    assert readable(cues) and [" ".join(c["lines"]) for c in cues] == [
        "Had he married a more amiable woman,",
        "he might have been made still more respectable than he was,",
        "and even amiable himself,",
        "for he was very young when he married and very fond of his wife.",
    ]
    assert cues[1]["lines"] == ["he might have been made still", "more respectable than he was,"]
    assert [c["start"] for c in cues] == [words[i][1] for i in (0, 7, 18, 22)]  # each starts with its first word


def test_seven_seconds_at_most_and_abbreviations_do_not_end_a_sentence():
    slow = [(f" w{i}", 1.5 + i, 2.4 + i) for i in range(12)]
    cues = caption_cues([seg([(" Mr.", 0.0, 0.3), (" Smith", 0.3, 0.7), (" left.", 0.7, 1.0)]), seg(slow)])
    assert cues[0]["lines"] == ["Mr. Smith left."] and len(cues) == 3
    assert readable(cues) and max(c["end"] - c["start"] for c in cues) <= CUE_SECONDS


def test_without_word_times_the_text_is_spread_over_its_segment():
    """No words (--no-word-timestamps, lip reading): a 30 s segment's text still makes readable
    cues, timed by the text's length across the segment; a skipped segment makes none."""
    text = " ".join(["the quick brown fox jumps over the lazy dog"] * 9)
    rec = {"segments": [{"start": 0.0, "end": 30.0, "text": text}, {"start": 30.0, "end": 31.0, "text": ""}]}
    cues = caption_cues(rec["segments"])
    assert len(cues) >= 5 and readable(cues) and cues[0]["start"] == 0.0 and abs(cues[-1]["end"] - 30.0) < 1e-6
    assert " ".join(" ".join(c["lines"]) for c in cues) == text
    srt, vtt = captions(rec, "srt"), captions(rec, "vtt")
    assert srt.startswith("1\n00:00:00,000 --> 00:00:0") and srt.count(" --> ") == len(cues)
    assert vtt.startswith("WEBVTT\n\n00:00:00.000 --> 00:00:0") and vtt.count(" --> ") == len(cues)
    first = srt.split("\n\n")[0].split("\n")
    assert first[2:] == cues[0]["lines"] and len(first) in (3, 4)
