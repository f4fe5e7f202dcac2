"""TLS to a real OpenLDAP: LDAPS and StartTLS verify the certificate and the host name; no password in clear."""

from __future__ import annotations

import pytest

from tests.integration.ldap.conftest import USERS, Site
from tests.integration.ldap.slapd import READER_PASSWORD, Slapd
from voicemail.config import load_settings
from voicemail.directory.errors import DirectoryUnavailable
from voicemail.domain.errors import ConfigError


def test_ldaps_with_the_ca_file_syncs(site: Site, slapd: Slapd) -> None:
    summary = site.sync(ldap_url=slapd.ldaps_url, ldap_starttls=False).run()

    assert summary.added == USERS


def test_starttls_with_the_ca_file_syncs(site: Site, slapd: Slapd) -> None:
    assert site.settings.ldap_url == slapd.ldap_url and site.settings.ldap_starttls
    assert site.sync().run().added == USERS


@pytest.mark.parametrize("starttls", [False, True], ids=["ldaps", "starttls"])
def test_a_certificate_from_another_ca_is_refused(site: Site, slapd: Slapd, starttls: bool) -> None:
    url = slapd.ldap_url if starttls else slapd.ldaps_url

    with pytest.raises(DirectoryUnavailable, match=r"(?i)certificate"):
        site.sync(ldap_url=url, ldap_starttls=starttls, ldap_ca_file=str(slapd.tls.other_ca_file)).run()

    assert site.store.counts()["users"] == 0


def test_a_certificate_for_another_host_name_is_refused(site: Site, slapd: Slapd) -> None:
    with pytest.raises(DirectoryUnavailable, match="doesn't match"):
        site.sync(ldap_url=slapd.ldaps_url_wrong_name, ldap_starttls=False).run()


def test_the_server_refuses_a_simple_bind_without_tls(site: Site, slapd: Slapd) -> None:
    """The test server requires TLS for binds: a sync that binds proves the bind was encrypted."""
    import ldap3
    from ldap3.core.exceptions import LDAPException

    conn = ldap3.Connection(ldap3.Server("127.0.0.1", port=slapd.port, get_info=ldap3.NONE),
                            site.settings.ldap_bind_dn, READER_PASSWORD, raise_exceptions=True)
    with pytest.raises(LDAPException, match=r"(?i)confidentiality"):
        conn.bind()


def test_a_password_over_plain_ldap_is_a_configuration_error(slapd: Slapd) -> None:
    env = {"VOICEMAIL_LDAP_URL": slapd.ldap_url, "VOICEMAIL_LDAP_BASE_DN": "dc=example,dc=test",
           "VOICEMAIL_LDAP_BIND_DN": "cn=reader", "VOICEMAIL_LDAP_PASSWORD": "x"}

    with pytest.raises(ConfigError, match="VOICEMAIL_LDAP_STARTTLS"):
        load_settings(environ=env)


def test_a_wrong_password_fails_without_echoing_it(site: Site) -> None:
    with pytest.raises(DirectoryUnavailable) as caught:
        site.sync(ldap_password="not-the-password-7e1f").run()

    assert "invalidCredentials" in str(caught.value)
    assert "not-the-password-7e1f" not in str(caught.value)
    state = site.store.state()
    assert state is not None and "not-the-password-7e1f" not in state.last_error
