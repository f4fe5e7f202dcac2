"""The files under deploy/ agree with the Compose specification, with each other and with the settings:
compose.yaml validates against the spec's JSON schema (the copy check-jsonschema ships), every service has
a health check, the image runs unprivileged without compilers, the example configuration loads with
absolute paths, and the systemd units use it."""

from __future__ import annotations

import json
import os
import re
from importlib import resources
from pathlib import Path
from typing import Any

import pytest

from tests.requirements import missing
from voicemail.config import PATH_SETTINGS, load_settings, sqlite_path
from voicemail.ops.doctor import CHECK_NAMES

DEPLOY = Path(__file__).resolve().parents[3] / "deploy"
SECRETS_ENV = {"VOICEMAIL_AMI_SECRET": "x", "VOICEMAIL_SMTP_PASSWORD": "x", "VOICEMAIL_LDAP_PASSWORD": "x",
               "VOICEMAIL_DATABASE_URL": "postgresql+psycopg://voicemail:x@db.example.org:5432/voicemail"}


def compose_schema() -> dict[str, Any]:
    """The Compose specification's schema as vendored by check-jsonschema (a test dependency)."""
    try:
        vendor = resources.files("check_jsonschema.builtin_schemas.vendor")
    except ModuleNotFoundError:
        missing("the Compose specification's schema (package check-jsonschema)", "pip install -e '.[test]'")
    return dict(json.loads(vendor.joinpath("compose-spec.json").read_text(encoding="utf-8")))


def compose() -> dict[str, Any]:
    from ruamel.yaml import YAML

    return dict(YAML(typ="safe", pure=True).load((DEPLOY / "compose.yaml").read_text(encoding="utf-8")))


def test_compose_file_is_valid_against_the_compose_specification() -> None:
    schema = compose_schema()
    jsonschema = pytest.importorskip("jsonschema")
    validator = jsonschema.validators.validator_for(schema)(schema)
    errors = sorted(validator.iter_errors(compose()), key=lambda e: list(e.absolute_path))
    assert [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in errors] == []


def test_compose_schema_check_catches_a_misspelt_key() -> None:
    schema = compose_schema()
    jsonschema = pytest.importorskip("jsonschema")
    broken = compose()
    broken["services"]["worker"]["helthcheck"] = broken["services"]["worker"].pop("healthcheck")
    assert list(jsonschema.validators.validator_for(schema)(schema).iter_errors(broken))


def test_every_compose_service_has_a_health_check_and_ours_use_the_one_image() -> None:
    services = compose()["services"]
    assert {"asterisk", "postgres", "rabbitmq", "listener", "worker", "beat", "web"} <= set(services)
    for name, service in services.items():
        assert "test" in service.get("healthcheck", {}), f"{name} has no health check"
    ours = {n: s for n, s in services.items() if n in ("listener", "worker", "beat", "web")}
    assert {s["build"]["dockerfile"] for s in ours.values()} == {"deploy/Containerfile"}
    assert {s["image"] for s in ours.values()} == {"localhost/voicemail:0.1.0"}
    assert [s["command"][0] for s in ours.values()] == ["run", "worker", "beat", "web"]
    for name, service in ours.items():
        test = service["healthcheck"]["test"]
        if test[1:3] == ["voicemail", "doctor"]:
            named = test[4::2]
            assert named and set(named) <= set(CHECK_NAMES), f"{name}: unknown doctor check in {named}"
    assert services["asterisk"]["image"].startswith("docker.io/andrius/asterisk:22")


def test_compose_mounts_the_asterisk_configuration_of_this_folder() -> None:
    asterisk = compose()["services"]["asterisk"]
    mounted = {v.split(":")[0] for v in asterisk["volumes"] if v.startswith("./")}
    assert mounted == {"./asterisk/manager.conf", "./asterisk/voicemail.conf", "./asterisk/extensions.conf"}
    for path in mounted:
        assert (DEPLOY / path).is_file(), path
    assert "umask 0007" in " ".join(asterisk["command"])


def test_image_runs_unprivileged_with_pinned_wheels_and_no_compiler() -> None:
    text = (DEPLOY / "Containerfile").read_text(encoding="utf-8")
    stages = re.split(r"^FROM ", text, flags=re.MULTILINE)[1:]
    assert len(stages) == 2, "a build stage and a final stage"
    build, final = stages
    assert "--constraint deploy/constraints.txt" in build and "--only-binary=:all:" in build
    assert re.search(r"^USER voicemail", final, flags=re.MULTILINE)
    for tool in ("gcc", "build-essential", "python3-dev", "libc6-dev", "make "):
        assert tool not in final, f"{tool} in the final stage"
    for source in re.findall(r"^COPY (?!--from)(\S+)", text, flags=re.MULTILINE):
        assert (DEPLOY.parent / source).exists(), f"COPY {source}: not in the repository"


def test_example_configuration_loads_with_absolute_paths_only() -> None:
    settings = load_settings(DEPLOY / "voicemail.toml.example", environ=SECRETS_ENV)
    text = (DEPLOY / "voicemail.toml.example").read_text(encoding="utf-8")
    for name in PATH_SETTINGS:
        for value in re.findall(rf"^#?\s*{name} = \"([^\"]*)\"", text, flags=re.MULTILINE):
            assert value.startswith("/"), f"{name} = {value!r} in the example is not absolute"
    assert sqlite_path(settings.database_url) is None  # production: PostgreSQL (from the environment)
    assert not re.search(r"^(ami_secret|\w*password|\w*client_secret|pkcs11_pin) =", text, flags=re.MULTILINE)


def test_systemd_units_use_the_example_paths() -> None:
    units = sorted((DEPLOY / "systemd").glob("voicemail-*.service"))
    assert [u.name for u in units] == ["voicemail-beat.service", "voicemail-cleanup.service",
                                       "voicemail-run.service", "voicemail-worker.service"]
    for unit in units:
        if unit.name == "voicemail-cleanup.service":
            continue
        text = unit.read_text(encoding="utf-8")
        exec_start = re.search(r"^ExecStart=(\S+) .*--config (\S+)", text, flags=re.MULTILINE)
        assert exec_start, unit.name
        assert exec_start.group(1) == "/opt/voicemail/.venv/bin/voicemail"
        assert exec_start.group(2) == "/etc/voicemail/voicemail.toml"
        assert "WorkingDirectory=/var/lib/voicemail" in text and "StateDirectory=voicemail" in text


def test_cleanup_unit_removes_only_old_outbox_mail_and_old_destruction_records(tmp_path: Path) -> None:
    import shlex
    import subprocess
    import time

    text = (DEPLOY / "systemd" / "voicemail-cleanup.service").read_text(encoding="utf-8")
    commands = [line.split("=", 1)[1] for line in text.splitlines() if line.startswith("ExecStart=")]
    assert len(commands) == 2
    outbox, records = tmp_path / "outbox", tmp_path / "destruction-records"
    outbox.mkdir()
    records.mkdir()
    day = 86400
    files = {outbox / "old.eml": 15, outbox / "new.eml": 13, outbox / "old-not-mail.txt": 100,
             records / "destruction-1-a.json": 2556, records / "destruction-2-b.json": 2554,
             records / "other.json": 3000}
    for path, age_days in files.items():
        path.write_text("x")
        os.utime(path, (time.time() - age_days * day, time.time() - age_days * day))
    for command in commands:  # systemd passes the words as they are (no shell, no glob)
        argv = [w.replace("/var/lib/voicemail", str(tmp_path)) for w in shlex.split(command)]
        subprocess.run(argv, check=True, timeout=30)
    left = sorted(p.name for p in files if p.exists())
    assert left == ["destruction-2-b.json", "new.eml", "old-not-mail.txt", "other.json"]


def test_doctor_asks_for_the_agi_action_only_when_the_telephone_menu_is_on() -> None:
    import dataclasses

    from voicemail.config import Settings
    from voicemail.ops.remote_checks import AMI_ACTIONS, missing_actions

    on = Settings(phone_menu=True)
    assert missing_actions(set(AMI_ACTIONS), on) == ["AGI"]
    assert missing_actions(set(AMI_ACTIONS), dataclasses.replace(on, phone_menu=False)) == []


def test_doctor_asks_for_the_astdb_actions_only_when_hot_desking_is_enabled() -> None:
    import dataclasses

    from voicemail.config import Settings
    from voicemail.ops.remote_checks import AMI_ACTIONS, missing_actions

    menu = Settings(phone_menu=True)
    assert missing_actions({*AMI_ACTIONS, "AGI"}, menu) == []
    assert missing_actions({*AMI_ACTIONS, "AGI"}, dataclasses.replace(menu, hotdesk_enabled=True)) == [
        "DBPut", "DBGet", "DBDel"]


def _environment(service: dict[str, Any]) -> dict[str, str]:
    """A service's environment with the .env secrets compose would substitute."""
    values = {"POSTGRES_PASSWORD": "pg", "RABBITMQ_PASSWORD": "mq", "VOICEMAIL_AMI_SECRET": "a",
              "VOICEMAIL_AMI_SECRET_B": "b", "VOICEMAIL_METRICS_TOKEN": "t"}
    return {k: re.sub(r"\$\{(\w+)[^}]*\}", lambda m: values[m.group(1)], str(v))
            for k, v in service["environment"].items()}


def test_compose_serves_a_second_site_where_its_asterisk_and_spool_are() -> None:
    services = compose()["services"]
    spool_b = "/var/spool/asterisk-b/voicemail"
    assert {"asterisk-b", "listener-b", "worker-b", "listener-standby"} <= set(services)
    for name in ("listener-b", "worker-b"):
        service = services[name]
        assert service["network_mode"] == "service:asterisk-b", f"{name}: AMI of asterisk-b on its loopback"
        assert f"spool-b:{spool_b}" in service["volumes"], f"{name}: the second site's spool"
        env = _environment(service)
        assert env["VOICEMAIL_SITE"] == "b"
        settings = load_settings(environ={**env, "VOICEMAIL_CONFIG": ""})
        assert (settings.spool_dir, settings.ami_secret, settings.site_name) == (spool_b, "b", "default")
        assert [(s.name, s.ami_secret) for s in settings.sites] == [("default", "")], \
            f"{name}: 127.0.0.1 in asterisk-b's namespace is not the default site's Asterisk"
    assert "spool-b:/var/spool/asterisk/voicemail" in services["asterisk-b"]["volumes"]
    assert [services[n]["command"][0] for n in ("listener-b", "worker-b", "listener-standby")] == [
        "run", "worker", "run"]
    for name in ("listener", "worker", "beat", "web", "listener-standby"):  # the default site's roles know site b
        env = _environment(services[name])
        assert "VOICEMAIL_SITE" not in env
        settings = load_settings(environ={**env, "VOICEMAIL_CONFIG": ""})
        assert [s.name for s in settings.sites] == ["b"] and settings.spool_dir == "/var/spool/asterisk/voicemail"
        assert settings.sites[0].ami_secret == "" and settings.ami_secret == "a", f"{name}: site b's AMI is not here"
        assert "spool-b" not in " ".join(services[name].get("volumes", []))


def test_compose_stages_phone_audio_on_a_tmpfs_shared_with_asterisk_at_the_same_path() -> None:
    """Asterisk is handed the staged file's absolute path in an AGI command, so the folder must be the same
    volume at the same path in Asterisk and in the processes that stage (listener, web), tmpfs and 2750."""
    spec = compose()
    services, volumes = spec["services"], spec["volumes"]

    def mount(service: dict[str, Any], target: str) -> str | None:
        found = [v.split(":")[0] for v in service.get("volumes", []) if v.split(":")[1] == target]
        return found[0] if found else None

    for asterisk, path, variable, stagers in (
            ("asterisk", "/run/voicemail-stage", "VOICEMAIL_PHONE_STAGING_DIR",
             ("listener", "listener-standby", "web")),
            ("asterisk-b", "/run/voicemail-stage-b", "VOICEMAIL_SITE_B_PHONE_STAGING_DIR", ("listener-b",))):
        volume = mount(services[asterisk], path)
        assert volume is not None, f"{asterisk} does not see the staging folder"
        options = volumes[volume]["driver_opts"]
        assert options["type"] == "tmpfs" and "mode=2750" in options["o"] and "gid=1000" in options["o"]
        for name in stagers:
            assert mount(services[name], path) == volume, f"{name} stages elsewhere than {asterisk}"
            env = services[name]["environment"]
            assert env[variable] == path
            assert env["VOICEMAIL_PHONE_STAGING_GROUP"] == services[asterisk]["environment"]["PGID"]


def test_compose_gives_each_service_the_ami_of_the_asterisk_its_loopback_reaches_and_no_other() -> None:
    """Our services reach AMI on 127.0.0.1 of the Asterisk whose network namespace they share: a site whose
    secret a service has must be that Asterisk, or the service would act on the wrong server (a shred of
    the other site's message removing nothing there, "mark read" moving the wrong message)."""
    from voicemail.config import all_sites

    services = compose()["services"]
    site_behind = {"service:asterisk": "default", "service:asterisk-b": "b"}
    ours = {n: s for n, s in services.items() if "VOICEMAIL_CONFIG" in s.get("environment", {})}
    assert {"listener", "listener-standby", "worker", "beat", "web", "listener-b", "worker-b"} <= set(ours)
    for name, service in ours.items():
        settings = load_settings(environ={**_environment(service), "VOICEMAIL_CONFIG": ""})
        with_secret = [site for site in all_sites(settings) if site.ami_secret]
        assert [site.name for site in with_secret] == [site_behind[service["network_mode"]]], name
        assert all(site.ami_host == "127.0.0.1" for site in with_secret), name
    web = services["web"]
    assert "VOICEMAIL_SITE_B_AMI_SECRET" not in web["environment"]  # documented: web cannot act on site b
    assert not any(v.startswith("stage-b:") for v in web["volumes"])  # nor play on its phones
