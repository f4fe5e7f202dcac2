"""Several sites in the settings: the single-site settings are the default site, [[sites]] adds more, the
environment overrides a site's fields, and a process serving one site sees that site's AMI and spool."""

from __future__ import annotations

from pathlib import Path

import pytest

from voicemail.config import all_sites, load_settings, serving_site, several_sites, site_names
from voicemail.domain.errors import ConfigError
from voicemail.domain.models import MailboxRef
from workers.celery_app import QUEUE, SiteRouter, configure, custody_queue

BRANCH = """
site_name = "hq"
ami_secret = "hq-secret"
[[sites]]
name = "branch"
ami_host = "127.0.0.1"
ami_port = 5040
ami_username = "vm-branch"
spool_dir = "/srv/branch/voicemail"
"""


def config(tmp_path: Path, text: str = BRANCH) -> Path:
    path = tmp_path / "voicemail.toml"
    path.write_text(text)
    return path


def test_without_sites_the_single_site_settings_are_the_one_default_site(tmp_path: Path) -> None:
    s = load_settings(environ={"VOICEMAIL_AMI_PORT": "5039", "VOICEMAIL_AMI_TLS": "true"})
    assert site_names(s) == ("default",) and serving_site(s) == "default" and not several_sites(s)
    assert s.ami_port == 5039 and s.site == ""


def test_a_process_for_another_site_sees_that_site_s_ami_and_spool_and_keeps_the_default_site_named(
        tmp_path: Path) -> None:
    env = {"VOICEMAIL_SITE_BRANCH_AMI_SECRET": "branch-secret"}
    hq = load_settings(config(tmp_path), environ=env)
    branch = load_settings(config(tmp_path), environ=env, overrides={"site": "branch"})
    assert (serving_site(hq), hq.ami_port, hq.ami_secret, hq.spool_dir) == (
        "hq", 5038, "hq-secret", "/var/spool/asterisk/voicemail")
    assert (serving_site(branch), branch.ami_port, branch.ami_username, branch.ami_secret, branch.spool_dir) == (
        "branch", 5040, "vm-branch", "branch-secret", "/srv/branch/voicemail")
    assert branch.site_name == "hq"  # the default site keeps its name: rows without a site are its
    assert site_names(hq) == site_names(branch) == ("hq", "branch") and several_sites(branch)
    assert {s.name: s.ami_port for s in all_sites(branch)} == {"hq": 5038, "branch": 5040}
    assert "branch-secret" not in repr(branch.sites) + repr(hq.sites)  # never in a log line


def test_the_environment_chooses_the_site_like_the_command_line(tmp_path: Path) -> None:
    s = load_settings(config(tmp_path), environ={"VOICEMAIL_SITE": "branch"})
    assert serving_site(s) == "branch" and s.ami_port == 5040
    assert serving_site(load_settings(config(tmp_path), environ={"VOICEMAIL_SITE": "hq"})) == "hq"


@pytest.mark.parametrize(("text", "names"), [
    (BRANCH + '[[sites]]\nname = "branch"\n', "used twice"),
    (BRANCH.replace('site_name = "hq"', 'site_name = "branch"'), "used twice"),
    ('[[sites]]\nname = "b c"\n', "site name"),
    ('[[sites]]\nami_port = 1\n', "needs name"),
    ('[[sites]]\nname = "b"\namihost = "x"\n', "unknown field 'amihost'"),
    ('[[sites]]\nname = "b"\nami_port = 70000\n', "ami_port out of range"),
    ('[[sites]]\nname = "b"\nami_host = "10.0.0.5"\n', "plain AMI"),
    ('[[sites]]\nname = "b"\nspool_dir = "spool"\n', "absolute path"),
    ('sites = "b"\n', "array of tables"),
])
def test_a_bad_site_is_refused_naming_what_is_wrong(tmp_path: Path, text: str, names: str) -> None:
    with pytest.raises(ConfigError, match=names):
        load_settings(config(tmp_path, text), environ={})


def test_an_unknown_site_is_refused_with_the_configured_names(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="unknown site 'nope'; configured sites are hq, branch"):
        load_settings(config(tmp_path), environ={}, overrides={"site": "nope"})


def test_custody_tasks_go_to_their_site_s_queue_and_other_tasks_to_the_default_queue() -> None:
    route = SiteRouter("hq", embedded=False)
    assert route("workers.tasks.seal_message", ("m",), {"site": "branch"}, {}) == {"queue": custody_queue("branch")}
    assert route("workers.tasks.strip_message", ("m",), {}, {}) == {"queue": "custody.hq"}  # this process's site
    assert route("workers.tasks.send_notification", ("n",), {}, {}) is None  # task_default_queue
    assert SiteRouter("hq", embedded=True)("workers.tasks.seal_message", ("m",), {"site": "branch"}, {}) is None


def test_rabbitmq_declares_a_quorum_custody_queue_for_every_site(tmp_path: Path) -> None:
    app = configure(load_settings(config(tmp_path), environ={"VOICEMAIL_BROKER_URL": "amqp://g:g@127.0.0.1//"}))
    assert [q.name for q in app.conf.task_queues] == [QUEUE, "custody.hq", "custody.branch"]
    assert all(q.queue_arguments == {"x-queue-type": "quorum"} for q in app.conf.task_queues)


def test_a_mailbox_names_its_site_only_when_it_is_not_the_default_one() -> None:
    assert MailboxRef.parse("1001@default") == MailboxRef("default", "1001")
    branch = MailboxRef.parse("1001@default@branch")
    assert branch == MailboxRef("default", "1001", "branch") and branch != MailboxRef("default", "1001")
    assert branch.qualified == "1001@default@branch" and str(branch) == "1001@default"
    assert MailboxRef("default", "1001").qualified == "1001@default"


def test_a_site_may_come_from_the_environment_alone() -> None:
    s = load_settings(environ={"VOICEMAIL_SITES": "b, c", "VOICEMAIL_SITE_B_SPOOL_DIR": "/srv/b/voicemail",
                               "VOICEMAIL_SITE_B_AMI_SECRET": "s", "VOICEMAIL_SITE": "b"})
    assert site_names(s) == ("default", "b", "c")
    assert (serving_site(s), s.spool_dir, s.ami_secret) == ("b", "/srv/b/voicemail", "s")


def test_the_schedule_reconciles_every_site_on_its_own_workers(tmp_path: Path) -> None:
    app = configure(load_settings(config(tmp_path), environ={"VOICEMAIL_BROKER_URL": "redis://127.0.0.1:6379/4"}))
    reconciles = {name: entry["kwargs"] for name, entry in app.conf.beat_schedule.items()
                  if entry["task"] == "workers.tasks.reconcile"}
    assert reconciles == {"reconcile": {"site": "hq"}, "reconcile-branch": {"site": "branch"}}
    route = SiteRouter("hq", embedded=False)
    assert route("workers.tasks.reconcile", (), {"site": "branch"}, {}) == {"queue": "custody.branch"}


def test_config_show_lists_every_site_with_its_secret_masked(tmp_path: Path) -> None:
    import tomllib

    from click.testing import CliRunner

    from voicemail.cli import main

    env = {"VOICEMAIL_SITE_BRANCH_AMI_SECRET": "branch-secret-value"}
    result = CliRunner().invoke(main, ["config", "show", "--config", str(config(tmp_path))], env=env)
    assert result.exit_code == 0, result.output
    assert "branch-secret-value" not in result.output and "hq-secret" not in result.output
    (branch,) = tomllib.loads(result.output)["voicemail"]["sites"]
    assert (branch["name"], branch["ami_port"], branch["ami_secret"]) == ("branch", 5040, "********")
