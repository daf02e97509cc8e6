"""The pure hash-chain module: any single tampering of any chain is caught at the right record."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

from hypothesis import given, settings
from hypothesis import strategies as st

from wfm.eventlog.base import _Pending
from wfm.eventlog.chain import GENESIS_HASH, canonical_ts, encode_body, link, record_hash, verify_rows

T0 = datetime(2027, 1, 4, tzinfo=timezone.utc)

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-10**12, 10**12) | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=8),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=5), children, max_size=3),
    max_leaves=8,
)
bodies = st.dictionaries(st.text(min_size=1, max_size=6), json_values, max_size=4)


def chain(items: list[tuple[str, dict]]) -> list[list]:
    pending = [_Pending(kind, body, T0 + timedelta(seconds=i), canonical_ts(T0 + timedelta(seconds=i)),
                        encode_body(body), None, None) for i, (kind, body) in enumerate(items)]
    rows, _ = link(pending, 0, GENESIS_HASH)
    return [list(row) for row in rows]


records = st.lists(st.tuples(st.sampled_from(["event", "decision", "action", "audit"]), bodies), min_size=2, max_size=12)


@settings(max_examples=80, deadline=None)
@given(records)
def test_untouched_chain_verifies(items):
    rows = chain(items)
    result = verify_rows(rows, head_seq=len(rows), head_hash=rows[-1][5])
    assert result.ok and result.records == len(rows) and result.last_hash == rows[-1][5]


@settings(max_examples=200, deadline=None)
@given(records, st.data())
def test_any_single_tampering_is_caught_at_the_right_record(items, data):
    rows = chain(items)
    n = len(rows)
    target = data.draw(st.integers(0, n - 1))
    how = data.draw(st.sampled_from(["ts", "kind", "body", "prev_hash", "hash", "delete", "swap", "insert"]))
    expected = target + 1
    if how == "ts":
        rows[target][1] = canonical_ts(T0 + timedelta(days=1, seconds=target))
    elif how == "kind":
        rows[target][2] = {"event": "audit"}.get(rows[target][2], "event")
    elif how == "body":
        rows[target][3] = encode_body({"tampered": True, "was": rows[target][3]}).decode()
    elif how == "prev_hash":
        rows[target][4] = "1" * 64
    elif how == "hash":
        rows[target][5] = "2" * 64
    elif how == "delete":
        del rows[target]
    elif how == "swap":
        target = min(target, n - 2)
        expected = target + 1
        for column in range(1, 6):  # contents trade places, seqs stay
            rows[target][column], rows[target + 1][column] = rows[target + 1][column], rows[target][column]
    elif how == "insert":
        # A well-formed forged record linked after its predecessor; later seqs shift up by one.
        prev = rows[target - 1][5] if target else GENESIS_HASH
        ts, body = canonical_ts(T0), encode_body({"forged": True})
        forged = [target + 1, ts, "event", body.decode(), prev, record_hash(target + 1, ts, "event", body, prev)]
        for row in rows[target:]:
            row[0] += 1
        rows.insert(target, forged)
        expected = target + 2  # the forgery itself links; the first displaced record cannot
    result = verify_rows(rows, head_seq=n, head_hash=None)
    assert not result.ok
    if how == "hash" and target == n - 1:
        assert result.first_bad_seq == n  # nothing follows: the record's own hash is checked
    else:
        assert result.first_bad_seq == expected, (how, target, result)
