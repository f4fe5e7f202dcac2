"""The caller-side contexts of the lab dialplan (lab-environment.txt, captures q9-q11) as step lists,
the scripted callers and phones of ``StandinConfig``, and the Async AGI entry points with arguments.

    [vmphone]      menu, hangup, pin, silent (the lab's callers) + StandinConfig.callers
                   every one starts NoOp(vmphone caller ${EXTEN} ${CHANNEL}), Answer()
    [phonesim]     answer, noanswer, ringnoanswer, busy, congestion, listen + StandinConfig.phones
                   every one starts NoOp(<its text>)
    [hotdesk-read] _SEP.: Answer, Set(X=${DB(hotdesk/${EXTEN})}), NoOp(${X}), Set(E=${DB_EXISTS(...)}), ...
    [vmmenu]       menu: AGI(agi:async,voicemail-menu); <mailbox>: AGI(agi:async,voicemail-menu,<mailbox>@default)
    [vmhotdesk]    <device>: AGI(agi:async,extension-mobility,<device>)
"""

from __future__ import annotations

from voicemail.standin.config import StandinConfig, is_plain_name
from voicemail.standin.steps import Step, parse_steps

VMPHONE_LEAD = "NoOp(vmphone caller ${EXTEN} ${CHANNEL}),Answer"
VMPHONE = {
    "menu": "Wait(2.4),SendDTMF(4242#,250,100),Wait(29.55),SendDTMF(7,250,100),Wait(3.55),"
            "SendDTMF(#,250,100),Wait(1.55),SendDTMF(9,250,100),Wait(4.55),SendDTMF(5,250,100),Wait(60),Hangup",
    "hangup": "Wait(2.4),SendDTMF(4242#,250,100),Wait(3.75),Hangup",
    "pin": "Wait(2.4),SendDTMF(4242#,250,100),Wait(60),Hangup",
    "silent": "Wait(60),Hangup",
}
PHONESIM = {
    "answer": "NoOp(phone answers, plays a file, hangs up),Answer,Playback(hello-world),Hangup",
    "noanswer": "NoOp(phone never answers),Wait(30),Hangup",
    "ringnoanswer": "NoOp(phone rings, never answers),Ringing,Wait(30),Hangup",
    "busy": "NoOp(phone is busy),Busy",
    "congestion": "NoOp(network congestion),Congestion",
    "listen": "NoOp(phone answers and listens),Answer,Wait(30),Hangup",
}
HOTDESK_READ = ("NoOp(hotdesk read ${EXTEN}),Answer,Set(X=${DB(hotdesk/${EXTEN})}),NoOp(${X}),"
                "Set(E=${DB_EXISTS(hotdesk/${EXTEN})}),NoOp(exists=${E} DB_RESULT=${DB_RESULT}),Hangup")

MENU_CONTEXT = "vmmenu"
HOTDESK_CONTEXT = "vmhotdesk"
MENU_APP = "voicemail-menu"
HOTDESK_APP = "extension-mobility"


def caller_steps(config: StandinConfig, context: str, exten: str) -> tuple[Step, ...] | None:
    """What the ``;2`` half of ``Local/<exten>@<context>`` runs, or None when there is no such
    extension in these contexts."""
    if context == "vmphone":
        script = config.callers.get(exten, VMPHONE.get(exten))
        if script is None:
            return None
        return parse_steps(f"{VMPHONE_LEAD},{script}")
    if context == "phonesim":
        if exten in config.phones:
            return parse_steps(f"NoOp(phonesim {exten}),{config.phones[exten]}")
        if exten in PHONESIM:
            return parse_steps(PHONESIM[exten])
        return None
    if context == "hotdesk-read" and exten.startswith("SEP") and len(exten) > 3:
        return parse_steps(HOTDESK_READ)
    return None


def agi_arguments(context: str, exten: str) -> tuple[str, ...] | None:
    """The arguments after ``agi:async`` of the AGI() step of an entry point, or None when the
    extension is not an entry point."""
    if context == MENU_CONTEXT:
        if exten == "menu":
            return (MENU_APP,)
        if exten.isdigit():
            return (MENU_APP, f"{exten}@default")
    if context == HOTDESK_CONTEXT and is_plain_name(exten):
        return (HOTDESK_APP, exten)
    if context == "agilab" and exten == "agi":
        return ()
    return None
