"""ami_nb.analysis on the simulator's topologies of real PBXs, against each call's ground truth.

Ring group and follow-me through Local channels, queue members as Local channels to SIP phones, attended and
blonde transfers that move channels across Linkedids, a pickup, click-to-dial: the simulator records what
happened (``pbx.ground_truth()``, from the scenario's definition); the analysis reads only the events, over a
real socket.
"""

from __future__ import annotations

import math

import pandas as pd
import pytest

import ami_nb
from ami_nb import analysis as A
from ami_nb import sim

SCENARIOS = [
    ("ringgroup", {}),
    ("followme", {}),
    ("followme", {"accept": False}),
    ("queue_phones", {}),
    ("attended", {}),
    ("blonde", {}),
    ("pickup", {}),
    ("click2dial", {}),
    ("click2dial", {"b_busy": True}),
    ("transfer", {}),
]


@pytest.fixture(scope="module")
def run() -> tuple[pd.DataFrame, pd.DataFrame]:
    with (
        sim.start(seed=11, time_scale=math.inf, timestampevents=True, start_time=1_800_000_000) as pbx,
        ami_nb.connect(pbx.url, secret="amp111", timeout=10) as session,
    ):
        for kind, options in SCENARIOS:
            pbx.call(kind, **options)
            pbx.simulate(1, rate=1e-6)  # returns once every call has ended
        truth = pbx.ground_truth()
        session.action("Ping")
        events = session.events.frame()
    return events, truth


@pytest.fixture(scope="module")
def both(run: tuple[pd.DataFrame, pd.DataFrame]) -> pd.DataFrame:
    events, truth = run
    c = A.calls(events)
    assert sorted(c["linkedid"]) == sorted(truth["linkedid"])  # one row per call, a pickup's Linkedid folded in
    return c.merge(truth, on="linkedid", suffixes=("", "_gt"))


def _same(a: pd.Series, b: pd.Series) -> pd.Series:
    return (a == b) | (a.isna() & b.isna())


@pytest.mark.parametrize(
    ("ours", "theirs"),
    [
        ("disposition", "disposition_gt"),
        ("answered_by", "answered_by_gt"),
        ("hop", "hop_gt"),
        ("caller_num", "caller"),
        ("transferred", "transferred_gt"),
        ("transfer_type", "transfer_type_gt"),
        ("transferer", "transferer_gt"),
        ("transfer_target", "transfer_target_gt"),
        ("transfer_linkedid", "other_linkedid"),
    ],
)
def test_column_matches_ground_truth(both: pd.DataFrame, ours: str, theirs: str) -> None:
    bad = both[~_same(both[ours], both[theirs].where(both[theirs].notna(), None))]
    assert bad.empty, bad[["linkedid", "scenario", ours, theirs]].to_string()


def test_every_call_ends_when_its_last_channel_does(both: pd.DataFrame) -> None:
    assert (~both["in_progress"] == both["finished"]).all()
    gap = (both["end"] - both["end_gt"]).abs().dt.total_seconds()
    assert (gap < 0.01).all(), both.loc[gap >= 0.01, ["scenario", "end", "end_gt"]]


def test_answer_is_when_the_caller_was_bridged(both: pd.DataFrame) -> None:
    assert (both["answer"].isna() == both["answer_gt"].isna()).all()
    up = both[both["answer"].notna()]
    gap = (up["answer"] - up["answer_gt"]).abs().dt.total_seconds()
    assert (gap < 0.01).all(), up.loc[gap >= 0.01, ["scenario", "answer", "answer_gt"]]
    # not answered, by definition: the follow-me nobody accepted, the click-to-dial whose B was busy, and the
    # blonde transfer's consultation call (its caller left before the target answered)
    assert sorted(both.loc[both["answer"].isna(), "scenario"]) == ["blonde-consult", "click2dial", "followme"]


def test_transfers_cross_linkedids(both: pd.DataFrame) -> None:
    for kind in ("attended", "blonde"):
        main = both[both["scenario"] == kind].iloc[0]
        consult = both[both["scenario"] == f"{kind}-consult"].iloc[0]
        # the two calls name each other, and the target ended under the original call's Linkedid
        assert (main["transfer_linkedid"], consult["transfer_linkedid"]) == (consult["linkedid"], main["linkedid"])
        assert main["transfer_time"] == consult["transfer_time"]
        assert main["before_transfer"] > 0 and main["after_transfer"] > 0
    pick = both[both["scenario"] == "pickup"].iloc[0]
    assert set(pick["linkedids"].split(",")) == set(pick["linkedids_gt"])


def test_queue_members_through_local_phones(run: tuple[pd.DataFrame, pd.DataFrame], both: pd.DataFrame) -> None:
    events, truth = run
    s = A.queue_stints(events)
    want = [
        (lid, st["queue"], st["outcome"])
        for lid, sts in zip(truth["linkedid"], truth["queue_stints"], strict=True)
        for st in sts
    ]
    assert list(zip(s["linkedid"], s["queue"], s["outcome"], strict=True)) == want
    row = both[both["scenario"] == "queue_phones"].iloc[0]
    assert (row["queue"], row["agent"]) == (row["queue_gt"], row["agent_gt"])
