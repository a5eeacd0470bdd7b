"""Blind and attended transfers of bridged channels, as ``main/bridge_basic.c`` and ``main/bridge.c`` do them.

Recordings 44 (``BlindTransfer``) and 45 (``Atxfer``), on Local channels in a basic two-party bridge:

* blind: ``Transfer succeeded``, ``Unhold`` of the transferer, the BlindTransfer event (``IsExternal: Yes``);
  the transferer leaves the bridge and is hung up, the transferee leaves its Dial and runs the target
  extension itself (the async goto's Newexten still shows the old application at priority 1). That Dial ends
  without ANSWEREDTIME/DIALEDTIME (features.c skips end_bridge_callback on an async goto) and the
  transferee's Cdr forks: one record with the transferer, one from the transfer on.
* attended: needs the transferer's ``FEATUREMAP(atxfer)`` (else ``No attended transfer feature code found``);
  ``Atxfer successfully queued`` at once, then the feature code and the extension as DTMF (DTMFEnd and CEL
  DTMF), ``Hold``, the target ``Local/<exten>@<context>`` in a new consultation bridge with the transferer
  (whose connected line becomes the target's caller). When the transferer hangs up the bridges merge
  (BridgeMerge, the target moves into the transferee's bridge and the two swap connected lines),
  AttendedTransfer (``DestType: Bridge``), and the transferer goes; no Unhold. A Local half's new connected
  line is its other half's new caller id, shown with that half's next event (NewCallerid). Cdrs: the
  transferee's record ends as the transferer leaves for the consultation and a new one starts; the transferer
  is party A of the consultation's record; the target has a record of its own from the merge.

The model knows nothing about AMI: the action handlers (``queue_actions``) call these and answer.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .scheduler import Scenario, Signal
from .state import CALL, STEP, Bridge, Channel, Pairs

if TYPE_CHECKING:
    from .model import PBX


def _other(ch: Channel) -> Channel | None:
    b = ch.bridge
    if b is None:
        return None
    return next((c for c in b.channels if c is not ch), None)


def _prefixed(b: Bridge, prefix: str) -> Pairs:
    return [(prefix + k.removeprefix("Bridge"), v) for k, v in b.fields()]


def blind_transfer(pbx: PBX, transferer: Channel, context: str, exten: str) -> str:
    """Blind-transfer the party bridged with ``transferer`` to ``exten@context``; returns the response
    message (``Transfer succeeded`` or why not). The events follow the caller's response."""
    transferee = _other(transferer)
    b = transferer.bridge
    if transferee is None or b is None:
        return "Transfer invalid"

    def run() -> Scenario:
        pbx.emit("Unhold", CALL, transferer.snapshot())
        pbx.varset(transferee, "BLINDTRANSFER", transferer.name)
        pbx.varset(transferer, "BLINDTRANSFER", transferee.name)
        pbx.emit("BlindTransfer", CALL, [
            ("Result", "Success"), *transferer.snapshot("Transferer"), *transferee.snapshot("Transferee"),
            *b.fields(), ("IsExternal", "Yes"), ("Context", context), ("Extension", exten)])
        pbx.cel(transferer, "BLINDTRANSFER", extra={
            "extension": exten, "context": context, "bridge_id": b.id,
            "transferee_channel_name": transferee.name, "transferee_channel_uniqueid": transferee.uniqueid})
        rec = transferee.call
        if rec is not None:
            rec.transfer("blind", transferer.device or transferer.name, f"{exten}@{context}", pbx.now)
        pbx.cdr_fork(transferee)  # its Cdr with the transferer ends here; the target's starts
        transferee.plan_token = object()  # its Dial ends (an async goto); it runs the target extension instead
        transferee.async_goto, transferee.async_goto_to = True, (context, exten)
        pbx.varset(transferer, "BRIDGEPEER", "")
        pbx.kick(transferer, 16)
        yield STEP
        if transferee.async_goto_to is not None:  # its Dial did not show the goto (it was not waiting in one)
            transferee.async_goto_to = None
            pbx.newexten(transferee, transferee.app, transferee.appdata, priority=1, exten=exten, context=context)
        yield from pbx.run_dialplan(transferee, context, exten, start=1, quiet_first=True)

    pbx.sched.add(run())
    return "Transfer succeeded"


def atxfer(pbx: PBX, transferer: Channel, context: str, exten: str) -> str | None:
    """Start an attended transfer from ``transferer`` to ``exten@context``: None when queued, else the error."""
    code = transferer.vars.get("FEATUREMAP(atxfer)", "")
    if not code:
        return "No attended transfer feature code found"
    pbx.sched.add(_atxfer(pbx, transferer, context, exten, code))
    return None


def _dtmf(pbx: PBX, ch: Channel, digits: str) -> None:
    for d in digits:
        pbx.emit("DTMFEnd", CALL, [*ch.snapshot(), ("Digit", d), ("DurationMs", "0"), ("Direction", "Received")])
        pbx.cel(ch, "DTMF", extra={"digit": d, "duration_ms": 0})


def _atxfer(pbx: PBX, transferer: Channel, context: str, exten: str, code: str) -> Scenario:
    from .model import _drive

    yield STEP
    orig = transferer.bridge
    transferee = _other(transferer)
    if orig is None or transferee is None or transferer.hungup:
        return
    pbx.varset(transferer, "TRANSFER_CONTEXT", context)
    _dtmf(pbx, transferer, code)
    pbx.emit("Hold", CALL, transferer.snapshot())
    _dtmf(pbx, transferer, exten)
    one, two = pbx.local_pair(exten, context, linkedid=transferer.linkedid)
    one.dialed = one.answer_later = True
    pbx.varset(one, "TRANSFERERNAME", transferer.name)
    pbx.varset(one, "ATTENDEDTRANSFER", transferer.name)
    consult = pbx.bridge_create()
    pbx.varset(two, "ATTENDEDTRANSFER", transferer.name)
    pbx.varset(two, "TRANSFERERNAME", transferer.name)
    pbx.set_callerid(two, transferer.cid_num, transferer.cid_name)
    pbx.set_connected(one, transferer.cid_num, transferer.cid_name)
    pbx.local_bridge(one, two)
    state: dict[str, object] = {}
    wake = Signal()
    two.on_answer = lambda: pbx._note(state, "answered", wake)
    pbx.sched.add(_drive(pbx.run_dialplan(two, context, exten), state, pbx, wake))
    yield (wake, 15.0)  # atxfernoanswertimeout
    if "answered" not in state or transferer.hungup:
        return
    pbx.bridge_enter(consult, one)  # clears its ATTENDEDTRANSFER
    one.answer_later = False  # the ;2's answer reaches the ;1 in its bridge
    pbx.cel(one, "ANSWER")
    pbx.newstate(one, 6)
    pbx.dial_end(None, one, "ANSWER")
    pbx.bridge_leave(transferer)
    # cdr.c: the transferee's record with the transferer ends as that one leaves; the transferee's next
    # record starts now (its party B is whoever joins it next); the transferer is party A of the consultation
    pbx.cdr_fork(transferee)
    transferer.cdr_start, transferer.cdr_peer, transferer.cdr_dest = pbx.now, one.name, ""
    pbx.bridge_enter(consult, transferer, peer=one)
    pbx.varset(one, "BRIDGEPEER", transferer.name)
    pbx.varset(transferer, "BRIDGEPEER", one.name)
    pbx.connected_update(transferer, one.cid_num, one.cid_name)  # a basic bridge swaps connected lines

    def complete(cause: int) -> bool:
        """The transferer hung up: the consultation bridge merges into the transferee's."""
        if one.hungup or transferee.hungup or orig.channels == []:
            return False
        pbx.varset(transferer, "BRIDGEPEER", "")
        pbx.emit("BridgeMerge", CALL, [*_prefixed(orig, "ToBridge"), *_prefixed(consult, "FromBridge")])
        pbx.bridge_leave(one)
        pbx.bridge_enter(orig, one)
        pbx.varset(transferee, "BRIDGEPEER", one.name)
        pbx.varset(one, "BRIDGEPEER", transferee.name)
        pbx.connected_update(transferee, one.cid_num, one.cid_name)
        transferee.cdr_peer = one.name
        # the target, no longer only the consultation's party B, gets a record of its own from the merge
        one.dialed, one.cdr_start, one.cdr_peer = False, pbx.now, ""
        pbx.emit("AttendedTransfer", CALL, [
            ("Result", "Success"), *transferer.snapshot("OrigTransferer"), *_prefixed(orig, "OrigBridge"),
            *transferer.snapshot("SecondTransferer"), *_prefixed(consult, "SecondBridge"),
            *transferee.snapshot("Transferee"), *one.snapshot("TransferTarget"), ("IsExternal", "No"),
            ("DestType", "Bridge"), ("DestBridgeUniqueid", orig.id)])
        pbx.cel(transferer, "ATTENDEDTRANSFER", extra={
            "bridge1_id": orig.id, "channel2_name": transferer.name, "channel2_uniqueid": transferer.uniqueid,
            "bridge2_id": consult.id, "transferee_channel_name": transferee.name,
            "transferee_channel_uniqueid": transferee.uniqueid, "transfer_target_channel_name": one.name,
            "transfer_target_channel_uniqueid": one.uniqueid})
        pbx.connected_update(one, transferee.cid_num, transferee.cid_name)
        rec = transferee.call
        if rec is not None:
            rec.transfer("attended", transferer.device or transferer.name, f"{exten}@{context}", pbx.now)
        transferee.dial_partner = one  # the transferee's Dial now lasts as long as the target
        pbx.kick(transferer, cause or 16)
        pbx.cdr(transferer, dest_channel=one.name)  # the consultation's record
        return True

    transferer.on_soft_hangup = complete
