"""How a setting is named in the environment and in error messages.

No dependencies: voicemail.config and the checks of each area (sign-in, directory, lifecycle) use it.
"""

from __future__ import annotations

from voicemail.domain.errors import ConfigError

ENV_PREFIX = "VOICEMAIL_"


def env_name(name: str) -> str:
    """The environment variable of a setting: ``ldap_url`` -> ``VOICEMAIL_LDAP_URL``."""
    return ENV_PREFIX + name.upper()


def setting_error(name: str, why: str) -> ConfigError:
    """A ConfigError that names the setting and its environment variable."""
    return ConfigError(f"setting {name} ({env_name(name)}): {why}")
