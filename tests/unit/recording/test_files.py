"""Recordings on disk: the stereo file, its sidecar, and what a failure looks like.

Real files in a temporary directory (no pjsua2): the mono tracks are written as the worker's
recorders write them.
"""

from __future__ import annotations

import hashlib
import json
import struct
import wave
from pathlib import Path

import pytest

from callcenter.recording.files import (
    Finished,
    RecordingError,
    RecordingStore,
    check_writable,
    read_pcm,
    save,
)
from tests.support.audio import read_stereo, write_mono

START = 1795478000.0  # 2026-11-23 UTC


def _finished(tmp_path: Path, call_id: str = "c1@host", seconds: float = 1.0,
              left: int = 8000, right: int = 8000, **extra: object) -> Finished:  # fmt: skip
    spool = tmp_path / "spool"
    spool.mkdir(exist_ok=True)
    left_file = write_mono(spool / f"{call_id}.caller.wav", [1000] * left)
    right_file = write_mono(spool / f"{call_id}.agent.wav", [-2000] * right)
    values: dict[str, object] = dict(
        call_id=call_id, caller="+4420", agent="ann", queue="billing", started_at=START,
        ended_at=START + seconds, left_file=left_file, right_file=right_file, seconds=seconds,
        pauses=[{"by": "ann", "at": START + 0.2, "resumed_at": START + 0.5, "seconds": 0.3}],
    )  # fmt: skip
    values.update(extra)
    return Finished(**values)  # type: ignore[arg-type]


def test_a_saved_recording_is_stereo_with_a_sidecar_whose_sha256_matches(tmp_path: Path) -> None:
    directory = tmp_path / "recordings"
    finished = _finished(tmp_path, right=7990)  # the agent's recorder stopped a frame early
    sidecar = save(directory, finished, "/api/recordings/c1@host/audio")
    wav_file = directory / "2026/11/23/c1_host.wav"
    assert sidecar["file"] == "2026/11/23/c1_host.wav"
    assert hashlib.sha256(wav_file.read_bytes()).hexdigest() == sidecar["sha256"]
    assert json.loads(wav_file.with_suffix(".json").read_text()) == sidecar
    assert (
        sidecar["duration"] == 1.0 and sidecar["agent"] == "ann" and sidecar["queue"] == "billing"
    )
    assert sidecar["pauses"][0]["by"] == "ann"
    left, right, rate = read_stereo(wav_file)
    assert rate == 8000 and set(left) == {1000} and set(right[:7990]) == {-2000}
    assert right[7990:] == [0] * 10  # padded with silence
    assert not finished.left_file.exists() and not finished.right_file.exists()  # spool emptied
    assert not list(directory.rglob("*.part"))


def test_a_track_cut_short_is_a_failure_and_the_spool_is_kept(tmp_path: Path) -> None:
    finished = _finished(tmp_path, seconds=5.0)  # the recorders ran 5 s; the files hold 1 s
    with pytest.raises(RecordingError, match=r"caller track holds 1.0 s of 5.0 s .*disk full"):
        save(tmp_path / "recordings", finished, "/x")
    assert finished.left_file.exists() and finished.right_file.exists()
    assert not (tmp_path / "recordings").exists()


def test_a_directory_that_cannot_be_written_is_a_failure(tmp_path: Path) -> None:
    blocker = tmp_path / "recordings"
    blocker.write_text("a file where the directory should be")
    finished = _finished(tmp_path)
    with pytest.raises(RecordingError, match="cannot write"):
        save(blocker, finished, "/x")
    assert finished.left_file.exists()
    with pytest.raises(RecordingError, match="cannot write in"):
        check_writable(blocker, tmp_path / "spool")
    check_writable(tmp_path / "fine", tmp_path / "fine" / ".spool")


def test_a_track_whose_header_was_never_finished_is_read_to_its_end(tmp_path: Path) -> None:
    path = write_mono(tmp_path / "t.wav", [5] * 800)
    raw = bytearray(path.read_bytes())
    raw[40:44] = struct.pack("<I", 0)  # data size 0: the recorder could not close the file
    path.write_bytes(bytes(raw))
    samples, rate = read_pcm(path)
    assert rate == 8000 and len(samples) == 1600
    (tmp_path / "bad.wav").write_bytes(b"nonsense")
    with pytest.raises(RecordingError, match="not a WAV"):
        read_pcm(tmp_path / "bad.wav")
    with wave.open(str(tmp_path / "stereo.wav"), "wb") as stereo:
        stereo.setnchannels(2)
        stereo.setsampwidth(2)
        stereo.setframerate(8000)
        stereo.writeframes(bytes(8))
    with pytest.raises(RecordingError, match="16-bit mono"):
        read_pcm(tmp_path / "stereo.wav")


def test_the_store_finds_lists_and_purges(tmp_path: Path) -> None:
    directory = tmp_path / "recordings"
    day = 86400.0
    for call_id, start, queue, agent in [
        ("old", START - 100 * day, "billing", "ann"),
        ("new1", START, "billing", "ann"),
        ("new2", START + 60, "support", "tess"),
    ]:
        finished = _finished(
            tmp_path, call_id, started_at=start, ended_at=start + 1, queue=queue, agent=agent
        )
        save(directory, finished, f"/api/recordings/{call_id}/audio")
    store = RecordingStore(directory)
    assert store.sidecar("new1")["queue"] == "billing"  # type: ignore[index]
    assert store.sidecar("missing") is None
    assert store.audio_path("new2") == directory / "2026/11/23/new2.wav"
    assert [r["call_id"] for r in store.find()] == ["new2", "new1", "old"]
    assert [r["call_id"] for r in store.find(queue="billing")] == ["new1", "old"]
    assert [r["call_id"] for r in store.find(agent="tess")] == ["new2"]
    assert [r["call_id"] for r in store.find(since=START - day)] == ["new2", "new1"]
    assert [r["call_id"] for r in store.find(until=START)] == ["old"]
    assert [r["call_id"] for r in store.find(limit=1)] == ["new2"]

    old_day = store.sidecar_path("old").parent  # type: ignore[union-attr]
    assert old_day.is_dir()
    would = store.purge(90 * day, now=START + 10, dry_run=True)
    assert sorted(p.name for p in would) == ["old.json", "old.wav"]
    assert store.sidecar("old") is not None  # a dry run removes nothing
    gone = store.purge(90 * day, now=START + 10)
    assert sorted(p.name for p in gone) == ["old.json", "old.wav"]
    assert store.sidecar("old") is None and store.sidecar("new1") is not None
    assert not old_day.exists()  # emptied day directories go too


def test_the_ivr_part_has_its_own_file_beside_the_conversation(tmp_path: Path) -> None:
    directory = tmp_path / "recordings"
    save(directory, _finished(tmp_path, "c9"), "/api/recordings/c9/audio")
    ivr = save(directory, _finished(tmp_path, "c9", leg="ivr", agent="", queue=""), "/ivr")
    assert ivr["file"] == "2026/11/23/c9.ivr.wav" and ivr["leg"] == "ivr"
    assert ivr["channels"] == {"left": "caller", "right": "prompts"} and ivr["agent"] is None
    store = RecordingStore(directory)
    assert store.sidecar("c9")["leg"] == "conversation"  # type: ignore[index]
    assert store.sidecar("c9", "ivr")["sha256"] == ivr["sha256"]  # type: ignore[index]
    assert store.audio_path("c9", "ivr") == directory / "2026/11/23/c9.ivr.wav"
    assert len(store.purge(0, now=START + 10**6)) == 4  # both recordings, WAV and sidecar
