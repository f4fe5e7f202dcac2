"""`voicemail outlook …`: the Outlook add-in (its manifest, generated for this site's URL).

Registered on the main group by voicemail/cli/root.py (one line).
"""

from __future__ import annotations

from pathlib import Path

import click

from voicemail.cli.common import handle_errors


def register(main: click.Group) -> click.Group:
    @main.group("outlook")
    def outlook() -> None:
        """The ViewMail add-in for Outlook (classic, new Outlook, Outlook on the web)."""

    @outlook.command("manifest")
    @click.option("--url", "site_url", required=True,
                  help="The site's https URL (where users open the web inbox), e.g. https://voicemail.example.org")
    @click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path),
                  help="Write the manifest to this file instead of standard output.")
    @click.option("--sso-client-id", default="",
                  help="Office single sign-on: the Entra ID application (client) id registered for the add-in.")
    @click.option("--sso-resource", default="",
                  help="Its application ID URI (default api://<site host>/<client id>); set outlook_sso_audience "
                       "to the audience its tokens carry.")
    @handle_errors
    def manifest(site_url: str, output: Path | None, sso_client_id: str, sso_resource: str) -> None:
        """Print (or write) the add-in manifest XML for the site at --url; the add-in id is stable per URL."""
        from voicemail.outlook.manifest import build_manifest, parse_site_url, parse_sso

        site = parse_site_url(site_url)
        sso = parse_sso(site, sso_client_id, sso_resource) if sso_client_id else None
        text = build_manifest(site, sso=sso)
        if output is None:
            click.echo(text, nl=False)
        else:
            output.write_text(text, encoding="utf-8")
            click.echo(f"manifest written to {output}", err=True)

    return main
