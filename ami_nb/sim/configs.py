# ruff: noqa: E501 - recorded texts are kept verbatim
"""Built-in configuration of the simulated PBX: the files and CLI texts a real Asterisk 22.10.1 showed.

Copied from the recorded transcripts (``extensions.conf`` exactly as ``GetConfig`` returned it, ``queues.conf``
as ``GetConfigJSON`` returned it). ``manager.conf`` is served without secrets.
"""

from __future__ import annotations

import functools
import json

Lines = list[tuple[str, str]]
#: extensions.conf, category by category, in file order (keys repeat).
EXTENSIONS: list[tuple[str, Lines]] = [
    ('general', [
        ('static', 'yes'),
        ('writeprotect', 'yes'),
        ('clearglobalvars', 'no'),
    ]),
    ('globals', [
        ('DEMOGLOBAL', 'hello'),
    ]),
    ('demo', [
        ('exten', '100,1,NoOp(Demo call to 100 from ${CALLERID(all)})'),
        ('same', 'n,Set(DEMOVAR=ext100)'),
        ('same', 'n,Set(CDR(userfield)=demo-100)'),
        ('same', 'n,Answer()'),
        ('same', 'n,Wait(1)'),
        ('same', 'n,UserEvent(DemoProgress,Step: before-dial,Exten: ${EXTEN})'),
        ('same', 'n,Dial(Local/200@demo,10)'),
        ('same', 'n,Verbose(2,Dial finished: ${DIALSTATUS})'),
        ('same', 'n,Hangup()'),
        ('exten', '200,hint,Local/200@demo'),
        ('exten', '200,1,Set(DEMOVAR=ext200)'),
        ('same', 'n,Answer()'),
        ('same', 'n,Wait(2)'),
        ('same', 'n,Hangup()'),
        ('exten', '300,1,Set(DEMOVAR=ext300)'),
        ('same', 'n,Set(CDR(userfield)=demo-300)'),
        ('same', 'n,Answer()'),
        ('same', 'n,Queue(support,rt,,,30)'),
        ('same', 'n,Verbose(2,Queue finished: ${QUEUESTATUS})'),
        ('same', 'n,Hangup()'),
        ('exten', '400,1,Set(DEMOVAR=ext400)'),
        ('same', 'n,Busy(3)'),
        ('exten', '500,1,Set(DEMOVAR=ext500)'),
        ('same', 'n,Dial(Local/999@demo,3)'),
        ('same', 'n,Verbose(2,Dial finished: ${DIALSTATUS})'),
        ('same', 'n,Hangup()'),
        ('exten', '999,1,Ringing()'),
        ('same', 'n,Wait(10)'),
        ('same', 'n,Hangup()'),
        ('exten', '700,1,Set(DEMOVAR=ext700)'),
        ('same', 'n,Answer()'),
        ('same', 'n,ConfBridge(demo,quiet_bridge,quiet_user)'),
        ('same', 'n,Hangup()'),
        ('exten', '800,1,Congestion(2)'),
        ('exten', 'sink,1,Answer()'),
        ('same', 'n,Wait(3)'),
        ('same', 'n,Hangup()'),
        ('exten', 'long,1,Set(DEMOVAR=long)'),
        ('same', 'n,Answer()'),
        ('same', 'n,Wait(60)'),
        ('same', 'n,Hangup()'),
        ('exten', 'odd,1,Answer()'),
        ('same', 'n,Set(DEMOVAR=${BASE64_DECODE(bGluZTEKbGluZTI=)})'),
        ('same', 'n,Set(CRLFVAR=${BASE64_DECODE(YQ0KYg==)})'),
        ('same', 'n,Set(LATIN1VAR=${BASE64_DECODE(Wm/r)})'),
        ('same', 'n,Set(UTF8VAR=Zoë Ünïcødé ✓)'),
        ('same', 'n,UserEvent(OddEvent,Dup: one,Dup: two,Colon: a: b,Empty:)'),
        ('same', 'n,Wait(1)'),
        ('same', 'n,Hangup()'),
        ('exten', 'h,1,NoOp(hangup handler ${CHANNEL} cause ${HANGUPCAUSE})'),
    ]),
    ('agents', [
        ('exten', 'agent1,hint,Local/agent1@agents'),
        ('exten', 'agent2,hint,Local/agent2@agents'),
        ('exten', 'agent3,hint,Local/agent3@agents'),
        ('exten', 'agent1,1,Answer()'),
        ('same', 'n,Wait(3)'),
        ('same', 'n,Hangup()'),
        ('exten', 'agent2,1,Answer()'),
        ('same', 'n,Wait(4)'),
        ('same', 'n,Hangup()'),
        ('exten', 'agent3,1,Ringing()'),
        ('same', 'n,Wait(30)'),
        ('same', 'n,Hangup()'),
    ]),
]

#: The ``xfer`` context the server had for recordings 44, 45 and 47 (appended after ``agents`` later than 13's
#: GetConfig, which therefore does not show it; reconstructed from the recorded Newexten events).
XFER: Lines = [
    ('exten', '2000,1,Set(DEMOVAR=xfer2000)'),
    ('same', 'n,Gosub(xfer,setfeat,1)'),
    ('same', 'n,Answer()'),
    ('same', 'n,Dial(Local/2001@xfer,,tTb(xfer^setfeat^1))'),
    ('same', 'n,Hangup()'),
    ('exten', '2001,1,Set(DEMOVAR=xfer2001)'),
    ('same', 'n,Answer()'),
    ('same', 'n,Wait(40)'),
    ('same', 'n,Hangup()'),
    ('exten', '2100,1,Set(DEMOVAR=xfer2100)'),
    ('same', 'n,Dial(Local/2101@xfer,15)'),
    ('same', 'n,Hangup()'),
    ('exten', '2101,1,Answer()'),
    ('same', 'n,Wait(5)'),
    ('same', 'n,Hangup()'),
    ('exten', '2200,1,Set(DEMOVAR=xfer2200)'),
    ('same', 'n,Answer()'),
    ('same', 'n,Wait(20)'),
    ('same', 'n,Hangup()'),
    ('exten', 'phone,1,Answer()'),
    ('same', 'n,Wait(60)'),
    ('same', 'n,Hangup()'),
    ('exten', 'setfeat,1,Set(FEATUREMAP(atxfer)=*2)'),
    ('same', 'n,Set(FEATURE(transferannouncesound)=)'),
    ('same', 'n,Return()'),
]
#: the dialplan the simulator runs: extensions.conf as recorded, then ``xfer``
RUNNING_EXTENSIONS: list[tuple[str, Lines]] = [*EXTENSIONS, ("xfer", XFER)]

#: queues.conf as the recorded server had it.
QUEUES: list[tuple[str, Lines]] = [
    ("general", [("persistentmembers", "no"), ("monitor-type", "MixMonitor")]),
    ("support", [
        ("strategy", "rrmemory"), ("timeout", "5"), ("retry", "1"), ("wrapuptime", "0"), ("maxlen", "0"),
        ("joinempty", "yes"), ("leavewhenempty", "no"), ("announce-frequency", "0"),
        ("periodic-announce-frequency", "0"), ("announce-holdtime", "no"), ("announce-position", "no"),
        ("ringinuse", "no"), ("setinterfacevar", "yes"), ("setqueueentryvar", "yes"), ("setqueuevar", "yes"),
        ("member", "Local/agent1@agents/n,0,Agent One,Local/agent1@agents"),
        ("member", "Local/agent2@agents/n,0,Agent Two,Local/agent2@agents"),
        ("member", "Local/agent3@agents/n,1,Agent Three,Local/agent3@agents"),
    ]),
    ("sales", [
        ("strategy", "ringall"), ("timeout", "5"), ("joinempty", "yes"),
        ("member", "Local/agent2@agents/n,0,Agent Two (sales)"),
    ]),
]

#: manager.conf without the secrets (GetConfig never reveals them here).
MANAGER: list[tuple[str, Lines]] = [
    ("general", [
        ("enabled", "yes"), ("bindaddr", "127.0.0.1"), ("port", "5038"), ("webenabled", "no"),
        ("displayconnects", "yes"), ("allowmultiplelogin", "yes"), ("channelvars", "DEMOVAR,CHANNEL(language)"),
    ]),
    ("admin", [("read", "all"), ("write", "all")]),
    ("limited", [("read", "call"), ("write", "originate")]),
]

#: ListCommands: (action, "Synopsis  (Priv: classes)") as Asterisk 22.10.1 listed them.
LIST_COMMANDS: list[tuple[str, str]] = [
    ('AbsoluteTimeout', 'Set absolute timeout.  (Priv: system,call,all)'),
    ('AGI', 'Add an AGI command to execute by Async AGI.  (Priv: agi,all)'),
    ('AOCMessage', 'Generate an Advice of Charge message on a channel.  (Priv: aoc,all)'),
    ('Atxfer', 'Attended transfer.  (Priv: call,all)'),
    ('BlindTransfer', 'Blind transfer channel(s) to the given destination  (Priv: call,all)'),
    ('Bridge', 'Bridge two channels already in the PBX.  (Priv: call,all)'),
    ('BridgeDestroy', 'Destroy a bridge.  (Priv: <none>)'),
    ('BridgeInfo', 'Get information about a bridge.  (Priv: <none>)'),
    ('BridgeKick', 'Kick a channel from a bridge.  (Priv: <none>)'),
    ('BridgeList', 'Get a list of bridges in the system.  (Priv: <none>)'),
    ('BridgeTechnologyList', 'List available bridging technologies and their statuses.  (Priv: <none>)'),
    ('BridgeTechnologySuspend', 'Suspend a bridging technology.  (Priv: <none>)'),
    ('BridgeTechnologyUnsuspend', 'Unsuspend a bridging technology.  (Priv: <none>)'),
    ('CancelAtxfer', 'Cancel an attended transfer.  (Priv: call,all)'),
    ('Challenge', 'Generate Challenge for MD5 Auth.  (Priv: <none>)'),
    ('Command', 'Execute Asterisk CLI Command.  (Priv: command,all)'),
    ('ConfbridgeKick', 'Kick a Confbridge user.  (Priv: call,all)'),
    ('ConfbridgeList', 'List participants in a conference.  (Priv: reporting,all)'),
    ('ConfbridgeListRooms', 'List active conferences.  (Priv: reporting,all)'),
    ('ConfbridgeLock', 'Lock a Confbridge conference.  (Priv: call,all)'),
    ('ConfbridgeMute', 'Mute a Confbridge user.  (Priv: call,all)'),
    ('ConfbridgeSetSingleVideoSrc', 'Set a conference user as the single video source distributed to all other participants.  (Priv: call,all)'),
    ('ConfbridgeStartRecord', 'Start recording a Confbridge conference.  (Priv: system,all)'),
    ('ConfbridgeStopRecord', 'Stop recording a Confbridge conference.  (Priv: system,all)'),
    ('ConfbridgeUnlock', 'Unlock a Confbridge conference.  (Priv: call,all)'),
    ('ConfbridgeUnmute', 'Unmute a Confbridge user.  (Priv: call,all)'),
    ('ControlPlayback', 'Control the playback of a file being played to a channel.  (Priv: call,all)'),
    ('CoreSettings', 'Show PBX core settings (version etc).  (Priv: system,reporting,all)'),
    ('CoreShowChannelMap', 'List all channels connected to the specified channel.  (Priv: system,reporting,all)'),
    ('CoreShowChannels', 'List currently active channels.  (Priv: system,reporting,all)'),
    ('CoreStatus', 'Show PBX core status variables.  (Priv: system,reporting,all)'),
    ('CreateConfig', 'Creates an empty file in the configuration directory.  (Priv: config,all)'),
    ('DBDel', 'Delete DB entry.  (Priv: system,all)'),
    ('DBDelTree', 'Delete DB Tree.  (Priv: system,all)'),
    ('DBGet', 'Get DB Entry.  (Priv: system,reporting,all)'),
    ('DBGetTree', 'Get DB entries, optionally at a particular family/key  (Priv: system,reporting,all)'),
    ('DBPut', 'Put DB entry.  (Priv: system,all)'),
    ('DeviceStateList', 'List the current known device states.  (Priv: call,reporting,all)'),
    ('DialplanExtensionAdd', 'Add an extension to the dialplan  (Priv: system,all)'),
    ('DialplanExtensionRemove', 'Remove an extension from the dialplan  (Priv: system,all)'),
    ('Events', 'Control Event Flow.  (Priv: <none>)'),
    ('ExtensionState', 'Check Extension Status.  (Priv: call,reporting,all)'),
    ('ExtensionStateList', 'List the current known extension states.  (Priv: call,reporting,all)'),
    ('FAXSession', 'Responds with a detailed description of a single FAX session  (Priv: call,all)'),
    ('FAXSessions', 'Lists active FAX sessions  (Priv: call,all)'),
    ('FAXStats', 'Responds with fax statistics  (Priv: reporting,all)'),
    ('Filter', 'Dynamically add filters for the current manager session.  (Priv: system,all)'),
    ('GetConfig', 'Retrieve configuration.  (Priv: system,config,all)'),
    ('GetConfigJSON', 'Retrieve configuration (JSON format).  (Priv: system,config,all)'),
    ('Getvar', 'Gets a channel variable or function value.  (Priv: call,reporting,all)'),
    ('Hangup', 'Hangup channel.  (Priv: system,call,all)'),
    ('ListCategories', 'List categories in configuration file.  (Priv: config,all)'),
    ('ListCommands', 'List available manager commands.  (Priv: <none>)'),
    ('LocalOptimizeAway', 'Optimize away a local channel when possible.  (Priv: system,call,all)'),
    ('LoggerRotate', 'Reload and rotate the Asterisk logger.  (Priv: system,reporting,all)'),
    ('Login', 'Login Manager.  (Priv: <none>)'),
    ('Logoff', 'Logoff Manager.  (Priv: <none>)'),
    ('MailboxCount', 'Check Mailbox Message Count.  (Priv: call,reporting,all)'),
    ('MailboxStatus', 'Check mailbox.  (Priv: call,reporting,all)'),
    ('MessageSend', 'Send an out of call message to an endpoint.  (Priv: message,all)'),
    ('MixMonitor', 'Record a call and mix the audio during the recording.  Use of StopMixMonitor is required to guarantee the audio file is available for processing during dialplan execution.  (Priv: system,all)'),
    ('MixMonitorMute', 'Mute / unMute a Mixmonitor recording.  (Priv: system,call,all)'),
    ('ModuleCheck', 'Check if module is loaded.  (Priv: system,all)'),
    ('ModuleLoad', 'Module management.  (Priv: system,all)'),
    ('MuteAudio', 'Mute an audio stream.  (Priv: system,all)'),
    ('Originate', 'Originate a call.  (Priv: originate,all)'),
    ('Park', 'Park a channel.  (Priv: call,all)'),
    ('ParkedCalls', 'List parked calls.  (Priv: call,all)'),
    ('Parkinglots', 'Get a list of parking lots  (Priv: call,all)'),
    ('Ping', 'Keepalive command.  (Priv: <none>)'),
    ('PlayDTMF', 'Play DTMF signal on a specific channel.  (Priv: call,all)'),
    ('PlayMF', 'Play MF digit on a specific channel.  (Priv: call,all)'),
    ('PresenceState', 'Check Presence State  (Priv: call,reporting,all)'),
    ('PresenceStateList', 'List the current known presence states.  (Priv: call,reporting,all)'),
    ('QueueAdd', 'Add interface to queue.  (Priv: agent,all)'),
    ('QueueChangePriorityCaller', 'Change priority of a caller on queue.  (Priv: <none>)'),
    ('QueueLog', 'Adds custom entry in queue_log.  (Priv: agent,all)'),
    ('QueueMemberRingInUse', 'Set the ringinuse value for a queue member.  (Priv: agent,all)'),
    ('QueuePause', 'Makes a queue member temporarily unavailable.  (Priv: agent,all)'),
    ('QueuePenalty', 'Set the penalty for a queue member.  (Priv: agent,all)'),
    ('QueueReload', 'Reload a queue, queues, or any sub-section of a queue or queues.  (Priv: <none>)'),
    ('QueueRemove', 'Remove interface from queue.  (Priv: agent,all)'),
    ('QueueReset', 'Reset queue statistics.  (Priv: <none>)'),
    ('QueueRule', 'Queue Rules.  (Priv: <none>)'),
    ('QueueStatus', 'Show queue status.  (Priv: <none>)'),
    ('QueueSummary', 'Show queue summary.  (Priv: <none>)'),
    ('QueueWithdrawCaller', 'Request to withdraw a caller from the queue back to the dialplan.  (Priv: <none>)'),
    ('Redirect', 'Redirect (transfer) a call.  (Priv: call,all)'),
    ('Reload', 'Send a reload event.  (Priv: system,config,all)'),
    ('SendFlash', 'Send a hook flash on a specific channel.  (Priv: call,all)'),
    ('SendText', 'Sends a text message to channel. A content type\tcan be optionally specified. If not set it is set to an empty string allowing a custom handler to default it as it sees fit.  (Priv: call,all)'),
    ('Setvar', 'Sets a channel variable or function value.  (Priv: call,all)'),
    ('ShowDialPlan', 'Show dialplan contexts and extensions  (Priv: config,reporting,all)'),
    ('SorceryMemoryCacheExpire', 'Expire (remove) ALL objects from a sorcery memory cache.  (Priv: system,all)'),
    ('SorceryMemoryCacheExpireObject', 'Expire (remove) an object from a sorcery memory cache.  (Priv: system,all)'),
    ('SorceryMemoryCachePopulate', 'Expire all objects from a memory cache and populate it with all objects from the backend.  (Priv: system,all)'),
    ('SorceryMemoryCacheStale', 'Marks ALL objects in a sorcery memory cache as stale.  (Priv: system,all)'),
    ('SorceryMemoryCacheStaleObject', 'Mark an object in a sorcery memory cache as stale.  (Priv: system,all)'),
    ('Status', 'List channel status.  (Priv: system,call,reporting,all)'),
    ('StopMixMonitor', "Stop recording a call through MixMonitor, and free the recording's file handle.  (Priv: system,call,all)"),
    ('UpdateConfig', 'Update basic configuration.  (Priv: config,all)'),
    ('UserEvent', 'Send an arbitrary event.  (Priv: user,all)'),
    ('VoicemailBoxSummary', 'Show the mailbox contents of given voicemail user.  (Priv: call,reporting,all)'),
    ('VoicemailForward', 'Forward Voicemail from one mailbox folder to another between given users.  (Priv: user,all)'),
    ('VoicemailMove', 'Move Voicemail between mailbox folders of given user.  (Priv: user,all)'),
    ('VoicemailRefresh', 'Tell Asterisk to poll mailboxes for a change  (Priv: user,all)'),
    ('VoicemailRemove', 'Remove Voicemail from mailbox folder.  (Priv: user,all)'),
    ('VoicemailUsersList', 'List All Voicemail User Information.  (Priv: call,reporting,all)'),
    ('VoicemailUserStatus', "Show the status of given voicemail user's info.  (Priv: call,reporting,all)"),
    ('WaitEvent', 'Wait for an event to occur.  (Priv: <none>)'),
]

#: ``dialplan show demo`` output lines.
DIALPLAN_SHOW_DEMO: list[str] = [
    "[ Context 'demo' created by 'pbx_config' ]",
    "  '100' =>          1. NoOp(Demo call to 100 from ${CALLERID(all)}) [extensions.conf:12]",
    '                    2. Set(DEMOVAR=ext100)                        [extensions.conf:13]',
    '                    3. Set(CDR(userfield)=demo-100)               [extensions.conf:14]',
    '                    4. Answer()                                   [extensions.conf:15]',
    '                    5. Wait(1)                                    [extensions.conf:16]',
    '                    6. UserEvent(DemoProgress,Step: before-dial,Exten: ${EXTEN}) [extensions.conf:17]',
    '                    7. Dial(Local/200@demo,10)                    [extensions.conf:18]',
    '                    8. Verbose(2,Dial finished: ${DIALSTATUS})    [extensions.conf:19]',
    '                    9. Hangup()                                   [extensions.conf:20]',
    "  '200' =>          hint: Local/200@demo                          [extensions.conf:22]",
    '                    1. Set(DEMOVAR=ext200)                        [extensions.conf:23]',
    '                    2. Answer()                                   [extensions.conf:24]',
    '                    3. Wait(2)                                    [extensions.conf:25]',
    '                    4. Hangup()                                   [extensions.conf:26]',
    "  '300' =>          1. Set(DEMOVAR=ext300)                        [extensions.conf:29]",
    '                    2. Set(CDR(userfield)=demo-300)               [extensions.conf:30]',
    '                    3. Answer()                                   [extensions.conf:31]',
    '                    4. Queue(support,rt,,,30)                     [extensions.conf:32]',
    '                    5. Verbose(2,Queue finished: ${QUEUESTATUS})  [extensions.conf:33]',
    '                    6. Hangup()                                   [extensions.conf:34]',
    "  '400' =>          1. Set(DEMOVAR=ext400)                        [extensions.conf:37]",
    '                    2. Busy(3)                                    [extensions.conf:38]',
    "  '500' =>          1. Set(DEMOVAR=ext500)                        [extensions.conf:41]",
    '                    2. Dial(Local/999@demo,3)                     [extensions.conf:42]',
    '                    3. Verbose(2,Dial finished: ${DIALSTATUS})    [extensions.conf:43]',
    '                    4. Hangup()                                   [extensions.conf:44]',
    "  '700' =>          1. Set(DEMOVAR=ext700)                        [extensions.conf:51]",
    '                    2. Answer()                                   [extensions.conf:52]',
    '                    3. ConfBridge(demo,quiet_bridge,quiet_user)   [extensions.conf:53]',
    '                    4. Hangup()                                   [extensions.conf:54]',
    "  '800' =>          1. Congestion(2)                              [extensions.conf:57]",
    "  '999' =>          1. Ringing()                                  [extensions.conf:46]",
    '                    2. Wait(10)                                   [extensions.conf:47]',
    '                    3. Hangup()                                   [extensions.conf:48]',
    "  'h' =>            1. NoOp(hangup handler ${CHANNEL} cause ${HANGUPCAUSE}) [extensions.conf:82]",
    "  'long' =>         1. Set(DEMOVAR=long)                          [extensions.conf:65]",
    '                    2. Answer()                                   [extensions.conf:66]',
    '                    3. Wait(60)                                   [extensions.conf:67]',
    '                    4. Hangup()                                   [extensions.conf:68]',
    "  'odd' =>          1. Answer()                                   [extensions.conf:73]",
    '                    2. Set(DEMOVAR=${BASE64_DECODE(bGluZTEKbGluZTI=)}) [extensions.conf:74]',
    '                    3. Set(CRLFVAR=${BASE64_DECODE(YQ0KYg==)})    [extensions.conf:75]',
    '                    4. Set(LATIN1VAR=${BASE64_DECODE(Wm/r)})      [extensions.conf:76]',
    '                    5. Set(UTF8VAR=Zoë Ünïcødé ✓)          [extensions.conf:77]',
    '                    6. UserEvent(OddEvent,Dup: one,Dup: two,Colon: a: b,Empty:) [extensions.conf:78]',
    '                    7. Wait(1)                                    [extensions.conf:79]',
    '                    8. Hangup()                                   [extensions.conf:80]',
    "  'sink' =>         1. Answer()                                   [extensions.conf:60]",
    '                    2. Wait(3)                                    [extensions.conf:61]',
    '                    3. Hangup()                                   [extensions.conf:62]',
    '',
    '-= 12 extensions (50 priorities) in 1 context. =-',
]

#: ``core show help manager`` output lines.
HELP_MANAGER: list[str] = [
    'manager kick session           -- Kick a connected manager interface connection',
    'manager reload                 -- Reload manager configurations',
    'manager set debug [on|off]     -- Show, enable, disable debugging of the manager code',
    'manager show command           -- Show a manager interface command',
    'manager show commands          -- List manager interface commands',
    'manager show connected         -- List connected manager interface users',
    'manager show eventq            -- List manager interface queued events',
    'manager show events            -- List manager interface events',
    'manager show event             -- Show a manager interface event',
    'manager show settings          -- Show manager global settings',
    'manager show users             -- List configured manager users',
    'manager show user              -- Display information on a specific manager user',
]

FILES: dict[str, list[tuple[str, Lines]]] = {
    "extensions.conf": EXTENSIONS,
    "queues.conf": QUEUES,
    "manager.conf": MANAGER,
}


def privileges() -> dict[str, frozenset[str]]:
    """Action name (lower case) -> the write classes it needs (empty: anyone logged in)."""
    out: dict[str, frozenset[str]] = {}
    for name, text in LIST_COMMANDS:
        priv = text.rpartition("(Priv: ")[2].rstrip(")")
        classes = frozenset() if priv == "<none>" else frozenset(c for c in priv.split(",") if c != "all")
        out[name.lower()] = classes
    return out


def get_config_pairs(filename: str, category: str | None = None) -> list[tuple[str, str]] | None:
    """GetConfig's ``Category-NNNNNN`` / ``Line-NNNNNN-NNNNNN`` pairs, or None when the file is unknown."""
    cats = FILES.get(filename)
    if cats is None:
        return None
    pairs: list[tuple[str, str]] = []
    n = 0
    for name, lines in cats:
        if category is not None and name != category:
            continue
        pairs.append((f"Category-{n:06d}", name))
        pairs.extend((f"Line-{n:06d}-{i:06d}", f"{k}={v}") for i, (k, v) in enumerate(lines))
        n += 1
    return pairs


def get_config_json(filename: str) -> str | None:
    """GetConfigJSON's one-line JSON, keeping repeated keys as Asterisk does."""
    cats = FILES.get(filename)
    if cats is None:
        return None
    d = json.dumps
    body = ",".join(
        f"{d(name, ensure_ascii=False)}:{{" + ",".join(f"{d(k, ensure_ascii=False)}:{d(v, ensure_ascii=False)}"
                                                       for k, v in lines) + "}"
        for name, lines in cats
    )
    return "{" + body + "}"


@functools.lru_cache(maxsize=64)
def dialplan(context: str | None = None) -> tuple[tuple[str, str, str, str, str | None], ...]:
    """(context, exten, priority, app, appdata-or-None-for-hint) from extensions.conf, numbering ``n``."""
    out: list[tuple[str, str, str, str, str | None]] = []
    for cname, lines in RUNNING_EXTENSIONS:
        if cname in ("general", "globals") or (context is not None and cname != context):
            continue
        last_ext, prio = "", 0
        for k, v in lines:
            if k == "exten":
                ext, p, rest = v.split(",", 2)
                last_ext = ext
            else:
                ext, (p, rest) = last_ext, v.split(",", 1)
            if p == "hint":
                out.append((cname, ext, "hint", rest, None))
                continue
            prio = prio + 1 if p == "n" else int(p)
            app, _, data = rest.partition("(")
            out.append((cname, ext, str(prio), app, data[:-1] if data.endswith(")") else data))
    return tuple(out)


def globals_() -> dict[str, str]:
    """The [globals] of extensions.conf."""
    return dict(next(lines for name, lines in EXTENSIONS if name == "globals"))
