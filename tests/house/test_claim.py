"""Claiming an output directory: the same job continues, another is refused by its first differing field."""

from __future__ import annotations

import pytest

from rnncondense import storage
from rnncondense.errors import RunDirError
from rnncondense.runs.claim import claim, first_difference


def test_first_difference_names_the_field_and_both_values():
    assert first_difference({"a": {"b": 2}}, {"a": {"b": 2}}) is None
    assert first_difference({"config": {"a": {"b": 2}}}, {"config": {"a": {"b": 3}}}) == ("config.a.b", 2, 3)
    # a newer version's record gains a field whose default is None: named, and 'absent' on the other side
    name, there, here = first_difference({"config": {"a": 1}}, {"config": {"a": 1, "new": None}})
    assert (name, repr(there), here) == ("config.new", "absent", None)
    assert repr(first_difference({"plan": 1}, {})[2]) == "absent"


def test_claim_starts_continues_and_refuses(tmp_path):
    out = tmp_path / "job"
    assert claim(out, "job.json", {"n": 1, "sizes": (1, 2)}, what="a job") is False
    assert storage.read_json(out / "job.json") == {"n": 1, "sizes": [1, 2]}
    (out / "result.txt").write_text("kept")
    assert claim(out, "job.json", {"n": 1, "sizes": (1, 2)}, what="a job") is True  # tuples compare as lists
    with pytest.raises(RunDirError, match=r"--out '.*job' holds a job that differs in n \(1 there, 2 here\)"):
        claim(out, "job.json", {"n": 2, "sizes": [1, 2]}, what="a job")
    assert (out / "result.txt").read_text() == "kept"


def test_claim_refuses_a_foreign_directory_and_a_file(tmp_path):
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "notes.txt").write_text("mine")
    with pytest.raises(RunDirError, match=r"--out '.*busy' is not empty and holds no job.json"):
        claim(tmp_path / "busy", "job.json", {}, what="a job")
    assert sorted(p.name for p in (tmp_path / "busy").iterdir()) == ["notes.txt"]
    (tmp_path / "file").write_text("")
    with pytest.raises(RunDirError, match="exists and is not a directory"):
        claim(tmp_path / "file", "job.json", {}, what="a job")


def test_claim_without_writing_leaves_the_record_to_the_caller(tmp_path):
    assert claim(tmp_path / "later", "job.json", {"n": 1}, what="a job", write=False) is False
    assert (tmp_path / "later").is_dir() and not (tmp_path / "later" / "job.json").exists()
