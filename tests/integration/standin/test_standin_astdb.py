"""AstDB over AMI (DBPut/DBGet/DBGetTree/DBDel/DBDelTree, main/db.c) and the dialplan's DB() functions,
byte for byte as in capture q10."""

from __future__ import annotations

from pathlib import Path

from tests.integration.standin.standin_client import Ami, Frame, connected, events, running

EM = "voicemail-em"


def _raw(frames: list[Frame]) -> bytes:
    return b"".join(f.raw for f in frames)


def test_put_get_and_value_whitespace(tmp_path: Path) -> None:
    with running(tmp_path / "vm") as standin, connected(standin) as ami:
        assert _raw(ami.action("DBPut", "p1", Family=EM, Key="SEP001122334455", Val="1001;since=1796365000")) == (
            b"Response: Success\r\nActionID: p1\r\nMessage: Updated database successfully\r\n\r\n")
        assert _raw(ami.action("DBGet", "g1", Family=EM, Key="SEP001122334455")) == (
            b"Response: Success\r\nActionID: g1\r\nEventList: start\r\nMessage: Result will follow\r\n\r\n"
            b"Event: DBGetResponse\r\nFamily: voicemail-em\r\nKey: SEP001122334455\r\n"
            b"Val: 1001;since=1796365000\r\nActionID: g1\r\n\r\n"
            b"Event: DBGetComplete\r\nActionID: g1\r\nEventList: Complete\r\nListItems: 1\r\n\r\n")
        ami.send_raw(b"Action: DBPut\r\nActionID: p2\r\nFamily: voicemail-em\r\nKey: pad\r\nVal:    1002 x   \r\n\r\n")
        ami.take(lambda fs: any(f.get("ActionID") == "p2" for f in fs))
        got = ami.action("DBGet", "g2", Family=EM, Key="pad")
        assert b"\r\nVal: 1002 x   \r\n" in _raw(got)
        ami.action("DBPut", "p3", Family=EM, Key="empty", Val="")
        assert b"\r\nVal: \r\nActionID: g3\r\n" in _raw(ami.action("DBGet", "g3", Family=EM, Key="empty"))
        assert _raw(ami.action("DBGet", "g4", Family=EM, Key="nothing")) == (
            b"Response: Error\r\nActionID: g4\r\nMessage: Database entry not found\r\n\r\n")


def test_get_tree_lists_whole_path_components_in_key_order(tmp_path: Path) -> None:
    with running(tmp_path / "vm") as standin, connected(standin) as ami:
        for i, key in enumerate(["SEP2", "SEP1", "SEP10"]):
            ami.action("DBPut", f"p{i}", Family=EM, Key=key, Val=f"v{key}")
        ami.action("DBPut", "other", Family=f"{EM}x", Key="SEP1", Val="elsewhere")
        tree = ami.action("DBGetTree", "t", Family=EM)
        rows = [(f.get("Key"), f.get("Val")) for f in events(tree, "DBGetTreeResponse")]
        assert rows == [(f"/{EM}/SEP1", "vSEP1"), (f"/{EM}/SEP10", "vSEP10"), (f"/{EM}/SEP2", "vSEP2")]
        assert events(tree, "DBGetTreeResponse")[0].raw == (
            b"Event: DBGetTreeResponse\r\nKey: /voicemail-em/SEP1\r\nVal: vSEP1\r\nActionID: t\r\n\r\n")
        one = ami.action("DBGetTree", "t1", Family=EM, Key="SEP1")
        assert [f.get("Key") for f in events(one, "DBGetTreeResponse")] == [f"/{EM}/SEP1"]
        none = ami.action("DBGetTree", "t2", Family="nosuchfamily")
        assert _raw(none) == (
            b"Response: Success\r\nActionID: t2\r\nEventList: start\r\nMessage: Result will follow\r\n\r\n"
            b"Event: DBGetTreeComplete\r\nActionID: t2\r\nEventList: Complete\r\nListItems: 0\r\n\r\n")


def test_delete_and_delete_tree_and_their_errors(tmp_path: Path) -> None:
    with running(tmp_path / "vm") as standin, connected(standin) as ami:
        ami.action("DBPut", "p1", Family=EM, Key="a", Val="1")
        ami.action("DBPut", "p2", Family=EM, Key="b", Val="2")
        assert ami.action("DBDel", "d1", Family=EM, Key="a")[0].get("Message") == "Key deleted successfully"
        again = ami.action("DBDel", "d2", Family=EM, Key="a")[0]
        assert (again.get("Response"), again.get("Message")) == ("Error", "Database entry could not be deleted")
        assert ami.action("DBDelTree", "dt", Family=EM)[0].get("Message") == "Key tree deleted successfully"
        gone = ami.action("DBDelTree", "dt2", Family=EM)[0]
        assert (gone.get("Response"), gone.get("Message")) == ("Error", "Database entry not found")
        assert ami.action("DBGet", "g", Family=EM, Key="b")[0].get("Response") == "Error"
        missing = {a: ami.action(a, f"m-{a}")[0].get("Message") for a in ("DBPut", "DBGet", "DBDel", "DBDelTree")}
        assert missing == {"DBPut": "No family specified", "DBGet": "No family specified.",
                           "DBDel": "No family specified.", "DBDelTree": "No family specified."}
        assert ami.action("DBPut", "k", Family=EM)[0].get("Message") == "No key specified"


def test_no_event_is_sent_for_astdb_changes(tmp_path: Path) -> None:
    with running(tmp_path / "vm") as standin, connected(standin) as ami:
        ami.action("DBPut", "p", Family=EM, Key="x", Val="1")
        ami.action("DBDel", "d", Family=EM, Key="x")
        assert [f for f in ami.sync() if f.get("Event")] == []


def test_dialplan_db_functions_read_what_dbput_wrote(tmp_path: Path) -> None:
    with running(tmp_path / "vm") as standin, connected(standin) as ami:
        ami.action("DBPut", "p", Family="hotdesk", Key="SEP001122334455", Val="1001")
        frames = _read_in_dialplan(ami, "SEP001122334455")
        two = [f for f in frames if (f.get("Channel") or "").endswith(";2")]
        steps = [(f.get("Event"), f.get("Application") or f.get("Variable"), f.get("AppData") or f.get("Value"))
                 for f in two if f.get("Event") in ("Newexten", "VarSet")]
        assert steps[2:] == [
            ("VarSet", "DB_RESULT", "1001"), ("Newexten", "Set", "X=1001"), ("VarSet", "X", "1001"),
            ("Newexten", "NoOp", "1001"), ("VarSet", "DB_RESULT", "1001"), ("Newexten", "Set", "E=1"),
            ("VarSet", "E", "1"), ("Newexten", "NoOp", "exists=1 DB_RESULT=1001"), ("Newexten", "Hangup", None)]
        missing = _read_in_dialplan(ami, "SEP0011223344FF", "o2")
        data = [f.get("AppData") for f in events(missing, "Newexten") if (f.get("Channel") or "").endswith(";2")]
        assert "X=" in data and "E=0" in data and "exists=0 DB_RESULT=" in data
        assert not [f for f in missing if f.get("Variable") == "DB_RESULT"]


def _read_in_dialplan(ami: Ami, key: str, action_id: str = "o") -> list[Frame]:
    ami.send("Originate", ActionID=action_id, Channel=f"Local/{key}@hotdesk-read/n", Application="Wait",
             Data="1", Async="true")
    return ami.take(lambda fs: len(events(fs, "Hangup")) == 2, timeout=10)
