import pytest
from conftest import CARPHONE, PYFEAT

from avsr.core.jsonl import write_jsonl
from avsr.roi.save import extract_to

TARGETS = {"carphone": "go forward ten meters", "pyfeat": "she had your dark suit"}


@pytest.fixture(scope="session")
def roi_manifest(tmp_path_factory):
    """The ROI stage's real output for the two fixture clips, with a fixed sentence each."""
    out = tmp_path_factory.mktemp("vsr_roi")
    recs = []
    for cid, src in (("carphone", CARPHONE), ("pyfeat", PYFEAT)):
        rec = extract_to(src, out, cid)
        rec["text"] = TARGETS[cid]
        recs.append(rec)
    write_jsonl(out / "manifest.jsonl", recs)
    return out / "manifest.jsonl"
