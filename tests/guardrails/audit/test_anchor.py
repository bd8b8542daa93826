"""The anchor: signed checkpoints of the chain's head in a file outside the database catch what the chain and
its head row cannot — a deleted tail whose head row was moved back to match (issue 16, finding 6)."""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from itertools import count
from pathlib import Path

import pytest
from sqlalchemy import Engine, delete, select, update

from guardrails.audit._store import audit_events, audit_head
from guardrails.audit.anchor import (
    Checkpoint,
    CheckpointSigner,
    TrustedKeys,
    append_checkpoint,
    generate_signing_key,
    parse_signing_key,
    read_anchor_files,
)
from guardrails.audit.anchoring import AuditAnchor
from guardrails.audit.log import AuditLog, ChainHead, ChainProblem
from guardrails.errors import AuditAnchorError
from tests.guardrails.audit.audit_helpers import StepClock, event

KEY = parse_signing_key(generate_signing_key())


def stamps() -> Callable[[], str]:
    """A signer's clock: a new, later UTC stamp per checkpoint."""
    ticks = count()

    def stamp() -> str:
        tick = next(ticks)
        return f"2026-03-02T07:{tick // 60:02d}:{tick % 60:02d}.000000+00:00"
    return stamp


def signer(key: object = KEY) -> CheckpointSigner:
    return CheckpointSigner(key, clock=stamps())  # type: ignore[arg-type]


def anchored(engine: Engine, path: Path, *, every: int = 5, sign: CheckpointSigner | None = None,
             monotonic: Callable[[], float] = lambda: 0.0) -> AuditLog:
    """A log on ``engine`` whose anchor checkpoints every ``every`` events (the clock never makes one due)."""
    anchor = AuditAnchor(path, trusted=TrustedKeys({}), signer=sign or signer(), every_events=every,
                         every_seconds=3600, monotonic=monotonic)
    log = AuditLog(engine, clock=StepClock(), anchor=anchor)
    log.create_schema()
    return log


def truncate_and_move_head(engine: Engine, keep: int) -> None:
    """The attack: delete every event after seq ``keep`` and set the head row to seq ``keep`` and its hash."""
    with engine.begin() as conn:
        conn.execute(delete(audit_events).where(audit_events.c.seq > keep))
        last = conn.execute(select(audit_events.c.hash).where(audit_events.c.seq == keep)).scalar_one()
        conn.execute(update(audit_head).values(last_seq=keep, last_hash=last))


def lines(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_truncation_with_a_rewritten_head_fails_verify_only_with_the_anchor(engine: Engine, tmp_path: Path) -> None:
    """The regression. Without an anchor — the code before this change, where ``AuditLog`` took no anchor —
    deleting seq 8..10 and moving the head row to seq 7 passes: ``verify()`` gave
    ``VerifyReport(ok=True, checked=7, first_bad_seq=None, problem=None, ...)``, as the first half shows. With
    checkpoints at seq 5 and 10 it fails, naming seq 6: the first event after the last checkpoint that matches."""
    path = tmp_path / "anchors.jsonl"
    log = anchored(engine, path)
    for i in range(1, 11):
        log.append(event(i))
    assert [line["seq"] for line in lines(path)] == [5, 10]
    assert log.verify().ok
    truncate_and_move_head(engine, keep=7)

    unanchored = AuditLog(engine).verify()
    assert (unanchored.ok, unanchored.checked, unanchored.problem) == (True, 7, None)
    assert unanchored.anchor is not None and unanchored.anchor.configured is False
    assert "no anchor configured" in unanchored.anchor.notes[0]

    report = log.verify()
    assert report.ok is False
    assert report.problem is ChainProblem.TRUNCATED_BEFORE_CHECKPOINT
    assert (report.first_bad_seq, report.checked) == (6, 5)
    assert report.reason is not None and report.reason.startswith(ChainProblem.TRUNCATED_BEFORE_CHECKPOINT.value)
    assert "the chain ends at seq 7" in report.reason and "vouches for seq 10" in report.reason
    assert f"{path}:2" in report.reason and "from seq 6 on cannot be trusted" in report.reason
    assert report.anchor is not None
    assert (report.anchor.checkpoints, report.anchor.matched, report.anchor.last_matched_seq) == (2, 1, 5)


def test_truncating_and_appending_again_is_a_checkpoint_mismatch(engine: Engine, tmp_path: Path) -> None:
    path = tmp_path / "anchors.jsonl"
    log = anchored(engine, path)
    log.append_many([event(i) for i in range(1, 13)])  # one append crossing 5 and 10: one checkpoint, at 12
    log.append(event(13))
    log.checkpoint()
    assert [line["seq"] for line in lines(path)] == [12, 13]
    truncate_and_move_head(engine, keep=7)
    AuditLog(engine, clock=StepClock()).append_many([event(100 + i) for i in range(8)])  # seq 8..15 anew

    assert AuditLog(engine).verify().ok  # the chain alone is whole again
    report = log.verify()
    assert report.problem is ChainProblem.CHECKPOINT_MISMATCH
    assert report.first_bad_seq == 1 and report.checked == 0  # no earlier checkpoint vouches for anything
    assert report.reason is not None and "seq 12 has hash" in report.reason
    assert "no earlier checkpoint matches" in report.reason


def test_a_checkpoint_signed_after_the_rollback_does_not_vouch_for_it(engine: Engine, tmp_path: Path) -> None:
    path = tmp_path / "anchors.jsonl"
    log = anchored(engine, path)
    log.append_many([event(i) for i in range(1, 11)])  # checkpoint at 10
    log.append_many([event(i) for i in range(11, 21)])  # checkpoint at 20
    truncate_and_move_head(engine, keep=15)
    log.checkpoint()  # signs the truncated head, seq 15: it matches, but was written after the checkpoint at 20
    report = log.verify()
    assert report.problem is ChainProblem.TRUNCATED_BEFORE_CHECKPOINT
    assert report.first_bad_seq == 11
    assert report.anchor is not None and report.anchor.last_matched_seq == 15


def test_an_edited_or_foreign_anchor_line_is_never_trusted(engine: Engine, tmp_path: Path) -> None:
    path = tmp_path / "anchors.jsonl"
    log = anchored(engine, path)
    log.append_many([event(i) for i in range(1, 11)])  # checkpoint at 10
    truncate_and_move_head(engine, keep=7)
    # The attacker lowers the checkpoint to the new head, without the key: the signature no longer verifies.
    line = lines(path)[0]
    seven = AuditLog(engine).head()
    line.update(seq=seven.seq, hash=seven.hash)
    path.write_text(json.dumps(line) + "\n", encoding="utf-8")
    # ... and adds a checkpoint signed with a key of their own.
    append_checkpoint(path, signer(parse_signing_key(generate_signing_key())).sign(seven))

    report = log.verify()
    assert report.ok is False and report.problem is ChainProblem.ANCHOR_TAMPERED
    assert report.first_bad_seq is None and report.checked == 7
    assert report.reason is not None and f"{path}:1: signature does not verify" in report.reason
    assert "(and 1 more)" in report.reason
    assert report.anchor is not None and report.anchor.checkpoints == 0
    assert "not trusted" in report.anchor.bad_lines[1]


def test_the_chain_itself_is_reported_before_the_anchor(engine: Engine, tmp_path: Path) -> None:
    path = tmp_path / "anchors.jsonl"
    log = anchored(engine, path)
    log.append_many([event(i) for i in range(1, 11)])
    with engine.begin() as conn:
        conn.execute(update(audit_events).where(audit_events.c.seq == 3).values(user_id="mallory"))
    report = log.verify(chunk_size=2)
    assert (report.problem, report.first_bad_seq) == (ChainProblem.EDITED, 3)
    assert report.anchor is not None and report.anchor.configured


def test_checkpoints_when_an_append_crosses_n_events_or_t_seconds(engine: Engine, tmp_path: Path) -> None:
    path = tmp_path / "anchors.jsonl"
    now = [0.0]
    anchor = AuditAnchor(path, trusted=TrustedKeys({}), signer=signer(), every_events=4, every_seconds=60,
                         monotonic=lambda: now[0])
    log = AuditLog(engine, clock=StepClock(), anchor=anchor)
    log.create_schema()
    log.append_many([event(i) for i in range(3)])  # seq 1..3: nothing due
    assert not path.exists()
    with log.buffer() as buffer:  # seq 4..6 in one flush: crosses 4
        for i in range(3):
            buffer.add(event(i))
    now[0] = 59.0
    log.append(event(7))  # seq 7: not due
    now[0] = 61.0
    log.append(event(8))  # seq 8: crosses 8 (and 60 s since the last one)
    now[0] = 122.0
    log.append(event(9))  # seq 9: 61 s since the last checkpoint
    log.close()  # seq 9 is anchored already: nothing more
    assert [line["seq"] for line in lines(path)] == [6, 8, 9]
    log.append(event(10))
    log.close()  # at shutdown: the newest append
    assert [line["seq"] for line in lines(path)][-1] == 10
    assert log.verify().ok


def test_an_unwritable_anchor_never_fails_an_append(engine: Engine, tmp_path: Path,
                                                     caplog: pytest.LogCaptureFixture) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("", encoding="utf-8")
    log = anchored(engine, blocker / "anchors.jsonl", every=2)
    with caplog.at_level(logging.WARNING, logger="guardrails.audit.anchoring"):
        records = log.append_many([event(i) for i in range(3)])
    assert [r.seq for r in records] == [1, 2, 3] and log.count() == 3
    assert any("cannot append a checkpoint" in r.getMessage() for r in caplog.records)
    report = log.verify()
    assert report.ok  # nothing was tampered with; the gap is reported
    assert report.anchor is not None and report.anchor.unanchored == 3
    assert any("could not write its last checkpoint" in note for note in report.anchor.notes)
    with pytest.raises(AuditAnchorError, match="cannot append a checkpoint"):
        log.checkpoint()


def test_other_hosts_anchor_files_are_checked_too(engine: Engine, tmp_path: Path) -> None:
    here, there = tmp_path / "host-a.jsonl", tmp_path / "host-b.jsonl"
    log = anchored(engine, here, every=1000)
    other = anchored(engine, there, every=1000)
    log.append_many([event(i) for i in range(1, 6)])
    log.checkpoint()
    other.append_many([event(i) for i in range(6, 9)])
    other.checkpoint()  # host B saw seq 8: only its file knows
    truncate_and_move_head(engine, keep=6)
    assert log.verify().ok  # host A's file alone cannot tell
    report = log.verify(anchor_files=[there])
    assert report.problem is ChainProblem.TRUNCATED_BEFORE_CHECKPOINT and report.first_bad_seq == 6
    assert report.anchor is not None and report.anchor.files == (str(here), str(there))


def test_an_auditor_verifies_with_the_public_key_only(engine: Engine, tmp_path: Path) -> None:
    path = tmp_path / "anchors.jsonl"
    writer = anchored(engine, path)
    writer.append_many([event(i) for i in range(1, 6)])
    auditor = AuditLog(engine, anchor=AuditAnchor(path, trusted=TrustedKeys.of([KEY.public_key()])))
    assert auditor.verify().ok
    with pytest.raises(AuditAnchorError, match="no signing key"):
        auditor.checkpoint()
    stranger = AuditLog(engine, anchor=AuditAnchor(path, trusted=TrustedKeys({})))
    assert stranger.verify().problem is ChainProblem.ANCHOR_TAMPERED
    with pytest.raises(AuditAnchorError, match="no key checks them"):
        AuditLog(engine).verify(anchor_files=[path])


def test_checkpoint_of_the_empty_log(engine: Engine, tmp_path: Path) -> None:
    path = tmp_path / "anchors.jsonl"
    log = anchored(engine, path)
    assert log.checkpoint().seq == 0
    assert log.verify().ok
    with path.open("a", encoding="utf-8") as fh:  # a well-signed checkpoint of seq 0 with another hash
        fh.write(signer().sign(ChainHead(0, "f" * 64)).to_line())
    assert log.verify().problem is ChainProblem.CHECKPOINT_MISMATCH


def test_concurrent_writers_keep_every_line_whole(tmp_path: Path) -> None:
    path = tmp_path / "anchors.jsonl"
    sign = signer()

    def write(base: int) -> None:
        for i in range(40):
            append_checkpoint(path, sign.sign(ChainHead(base + i, f"{base + i:064x}")))

    threads = [threading.Thread(target=write, args=(1000 * t,)) for t in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    reading = read_anchor_files([path], TrustedKeys.of([KEY.public_key()]))
    assert reading.bad_lines == () and len(reading.checkpoints) == 160


def test_a_torn_last_line_is_a_note_and_the_next_line_stays_readable(tmp_path: Path) -> None:
    path = tmp_path / "anchors.jsonl"
    sign, trusted = signer(), TrustedKeys.of([KEY.public_key()])
    append_checkpoint(path, sign.sign(ChainHead(1, "a" * 64)))
    with path.open("a", encoding="utf-8") as fh:
        fh.write('{"hash":"bb')  # a crash while writing
    reading = read_anchor_files([path], trusted)
    assert len(reading.checkpoints) == 1 and reading.bad_lines == ()
    assert "unfinished last line" in reading.notes[0]
    append_checkpoint(path, sign.sign(ChainHead(2, "c" * 64)))
    reading = read_anchor_files([path], trusted)
    assert [c.seq for c, _ in reading.checkpoints] == [1, 2]
    assert reading.bad_lines == (f"{path}:2: not a checkpoint (torn by a crash, or edited)",)


def test_a_line_is_canonical_json_with_a_signature_over_the_documented_bytes(tmp_path: Path) -> None:
    checkpoint = signer().sign(ChainHead(7, "e" * 64))
    line = checkpoint.to_line()
    fields = json.loads(line)
    assert set(fields) == {"v", "seq", "hash", "ts", "key_id", "sig"} and fields["v"] == 1
    body = {k: fields[k] for k in ("v", "seq", "hash", "ts", "key_id")}
    signed = b"jidoka-audit-checkpoint\n" + json.dumps(body, sort_keys=True, separators=(",", ":")).encode()
    assert checkpoint.signed_bytes() == signed
    assert Checkpoint.from_line(line) == checkpoint
    assert repr(signer()).startswith("CheckpointSigner(key_id=")  # the private key never shows
