"""The Outlook add-in manifest (XML, mail add-in) generated for one site's https URL.

The add-in id is a UUID derived from the site URL (uuid5), so regenerating the manifest for the same
site gives the same add-in and an administrator can redeploy it without duplicates. Activation:
clients that understand add-in commands show a "ViewMail" button on every message read form (Outlook on
the web, the new Outlook and current Outlook for Windows and Mac); older clients activate the add-in
only on messages whose plain-text body holds a link to this site's web player (internet headers are not
an activation-rule type, so the link is the rule; the task pane then reads the X-Voicemail-Id header).
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from urllib.parse import urlsplit
from xml.sax.saxutils import quoteattr

from voicemail.domain.errors import InvalidInput

# The namespace for add-in ids; fixed forever so a site keeps its add-in id across releases.
_ADDIN_NAMESPACE = uuid.UUID("5b0f7c1e-3d0a-4f55-9a8e-0c6f2e6b7a41")
TASKPANE_PATH = "/outlook/taskpane"
ICON_PATHS = {16: "/static/outlook/icon-16.png", 32: "/static/outlook/icon-32.png",
              64: "/static/outlook/icon-64.png", 80: "/static/outlook/icon-80.png"}


@dataclass(frozen=True)
class Site:
    """A validated site origin (https, host, optional port and path prefix, no query or fragment)."""

    origin: str
    base: str

    def url(self, path: str) -> str:
        return self.base + path


def parse_site_url(value: str) -> Site:
    """The site of ``value``; InvalidInput unless it is an absolute https URL without query/fragment."""
    text = value.strip()
    if not text or any(ord(c) <= 32 or ord(c) > 126 for c in text):
        raise InvalidInput("the site URL must be printable ASCII without spaces")
    parts = urlsplit(text)
    if parts.scheme != "https":
        raise InvalidInput("the site URL must start with https:// (Outlook loads add-ins over HTTPS only)")
    if not parts.hostname:
        raise InvalidInput("the site URL has no host name")
    if parts.query or parts.fragment or "?" in text or "#" in text:
        raise InvalidInput("the site URL must not carry a query (?…) or fragment (#…)")
    if parts.username or parts.password:
        raise InvalidInput("the site URL must not carry a user name or password")
    try:
        port = parts.port
    except ValueError as exc:
        raise InvalidInput("the site URL has an invalid port") from exc
    netloc = parts.hostname.lower() + (f":{port}" if port and port != 443 else "")
    origin = f"https://{netloc}"
    return Site(origin=origin, base=origin + parts.path.rstrip("/"))


@dataclass(frozen=True)
class SsoApp:
    """The Entra ID application of Office single sign-on: its client id (a UUID) and application ID URI
    (``api://<site host>/<client id>``), the audience of the tokens Office gives the pane."""

    client_id: str
    resource: str


def parse_sso(site: Site, client_id: str, resource: str = "") -> SsoApp:
    """The SSO application; ``resource`` defaults to ``api://<site host[:port]>/<client id>``."""
    try:
        cid = str(uuid.UUID(client_id.strip()))
    except ValueError:
        raise InvalidInput("the SSO client id must be the application's UUID (Entra ID: Application "
                           "(client) ID)") from None
    uri = resource.strip() or f"api://{site.origin.removeprefix('https://')}/{cid}"
    if not uri.startswith("api://") or any(ord(c) <= 32 or ord(c) > 126 for c in uri):
        raise InvalidInput("the SSO resource must be an application ID URI starting with api://")
    return SsoApp(cid, uri)


def _web_application_info(sso: SsoApp | None) -> str:
    if sso is None:
        return ""
    return f"""    <WebApplicationInfo>
      <Id>{sso.client_id}</Id>
      <Resource>{_xml_text(sso.resource)}</Resource>
      <Scopes>
        <Scope>openid</Scope>
        <Scope>profile</Scope>
      </Scopes>
    </WebApplicationInfo>
"""


def addin_id(site: Site) -> str:
    """The stable add-in id of ``site``."""
    return str(uuid.uuid5(_ADDIN_NAMESPACE, site.base))


def player_link_regex(site: Site) -> str:
    """The regular expression matching this site's web-player link in a notification's body."""
    return re.escape(site.url("/messages/")) + "[A-Za-z0-9_-]+"


def _attr(value: str) -> str:
    return quoteattr(value)


def build_manifest(site: Site, *, version: str = "1.0.0.0", provider: str = "Voicemail",
                   sso: SsoApp | None = None) -> str:
    """The manifest XML text for ``site`` (with ``sso``: the WebApplicationInfo Office SSO needs)."""
    pane = site.url(TASKPANE_PATH)
    icon = {size: site.url(path) for size, path in ICON_PATHS.items()}
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<OfficeApp xmlns="http://schemas.microsoft.com/office/appforoffice/1.1"
           xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"
           xmlns:bt="http://schemas.microsoft.com/office/officeappbasictypes/1.0"
           xmlns:mailappor="http://schemas.microsoft.com/office/mailappversionoverrides/1.0"
           xsi:type="MailApp">
  <Id>{addin_id(site)}</Id>
  <Version>{version}</Version>
  <ProviderName>{_xml_text(provider)}</ProviderName>
  <DefaultLocale>en-US</DefaultLocale>
  <DisplayName DefaultValue="ViewMail"/>
  <Description DefaultValue="Play and manage your voicemail from its notification e-mail."/>
  <IconUrl DefaultValue={_attr(icon[64])}/>
  <HighResolutionIconUrl DefaultValue={_attr(icon[80])}/>
  <SupportUrl DefaultValue={_attr(site.url("/"))}/>
  <AppDomains>
    <AppDomain>{_xml_text(site.origin)}</AppDomain>
  </AppDomains>
  <Hosts>
    <Host Name="Mailbox"/>
  </Hosts>
  <Requirements>
    <Sets>
      <Set Name="Mailbox" MinVersion="1.1"/>
    </Sets>
  </Requirements>
  <FormSettings>
    <Form xsi:type="ItemRead">
      <DesktopSettings>
        <SourceLocation DefaultValue={_attr(pane)}/>
        <RequestedHeight>360</RequestedHeight>
      </DesktopSettings>
    </Form>
  </FormSettings>
  <Permissions>ReadItem</Permissions>
  <Rule xsi:type="RuleCollection" Mode="And">
    <Rule xsi:type="ItemIs" ItemType="Message" FormType="Read"/>
    <Rule xsi:type="ItemHasRegularExpressionMatch" RegExName="voicemailLink"
          RegExValue={_attr(player_link_regex(site))} PropertyName="BodyAsPlaintext"/>
  </Rule>
  <DisableEntityHighlighting>false</DisableEntityHighlighting>
  <VersionOverrides xmlns="http://schemas.microsoft.com/office/mailappversionoverrides"
                    xsi:type="VersionOverridesV1_0">
    <Requirements>
      <bt:Sets DefaultMinVersion="1.3">
        <bt:Set Name="Mailbox"/>
      </bt:Sets>
    </Requirements>
    <Hosts>
      <Host xsi:type="MailHost">
        <DesktopFormFactor>
          <ExtensionPoint xsi:type="MessageReadCommandSurface">
            <OfficeTab id="TabDefault">
              <Group id="voicemailGroup">
                <Label resid="groupLabel"/>
                <Control xsi:type="Button" id="voicemailOpenPane">
                  <Label resid="buttonLabel"/>
                  <Supertip>
                    <Title resid="buttonLabel"/>
                    <Description resid="buttonTip"/>
                  </Supertip>
                  <Icon>
                    <bt:Image size="16" resid="icon16"/>
                    <bt:Image size="32" resid="icon32"/>
                    <bt:Image size="80" resid="icon80"/>
                  </Icon>
                  <Action xsi:type="ShowTaskpane">
                    <SourceLocation resid="paneUrl"/>
                  </Action>
                </Control>
              </Group>
            </OfficeTab>
          </ExtensionPoint>
        </DesktopFormFactor>
      </Host>
    </Hosts>
    <Resources>
      <bt:Images>
        <bt:Image id="icon16" DefaultValue={_attr(icon[16])}/>
        <bt:Image id="icon32" DefaultValue={_attr(icon[32])}/>
        <bt:Image id="icon80" DefaultValue={_attr(icon[80])}/>
      </bt:Images>
      <bt:Urls>
        <bt:Url id="paneUrl" DefaultValue={_attr(pane)}/>
      </bt:Urls>
      <bt:ShortStrings>
        <bt:String id="groupLabel" DefaultValue="Voicemail"/>
        <bt:String id="buttonLabel" DefaultValue="ViewMail"/>
      </bt:ShortStrings>
      <bt:LongStrings>
        <bt:String id="buttonTip" DefaultValue="Play this voicemail and manage it without leaving Outlook."/>
      </bt:LongStrings>
    </Resources>
{_web_application_info(sso)}  </VersionOverrides>
</OfficeApp>
"""


def _xml_text(value: str) -> str:
    return value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
