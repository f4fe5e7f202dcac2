"""PIV / CAC smart-card sign-in: ``GET /signin/piv``.

The certificate comes from the TLS connection (uvicorn, see tls_server) or from a trusted reverse
proxy's header (see piv_source). Either way it is checked again here (piv_cert: validity, issuer CA
signature, clientAuth EKU), then its identity keys must map to exactly one enabled account
(signin_identities). Every refusal is audited (action ``signin``, outcome denied, method piv, the
reason code and the certificate's SHA-256 fingerprint) and answered with a page that says what to do;
no session is created. Success: a new session (establish_session) and a redirect to the inbox.
Attempts count against the per-address sign-in rate limit, like password attempts.

It is a GET: it can only ever sign the browser in as the holder of the card that is presented.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from voicemail.web.errors import error_response
from voicemail.web.piv_cert import MESSAGES, CertificateRefused, IssuerStore, parse_certificate
from voicemail.web.piv_cert import fingerprint as cert_fingerprint
from voicemail.web.piv_source import Network, presented_certificate
from voicemail.web.sessions import audit, client_address, establish_session, web_deps
from voicemail.web.signin import THROTTLED, retry_after
from voicemail.web.signin_identities import IdentityStore

UNTRUSTED_HEADER = "client certificate header from an address not in web_trusted_proxies (ignored)"


class PivSignin:
    def __init__(self, issuers: IssuerStore, identities: IdentityStore, header: str,
                 trusted: tuple[Network, ...]) -> None:
        self.issuers = issuers
        self.identities = identities
        self.header = header
        self.trusted = trusted

    def refuse(self, request: Request, code: str, *, actor: str = "(unknown)", detail: str = "",
               **details: object) -> Response:
        audit(request, actor, "signin", "denied", reason=code + (f": {detail}" if detail else ""), method="piv",
              **details)
        return error_response(request, 400 if code == "unreadable" else 403, MESSAGES[code])

    def signin(self, request: Request) -> Response:
        if not web_deps(request).limiter.hit(client_address(request)):  # as password attempts, per address
            audit(request, "(unknown)", "signin", "denied", reason="rate limited", method="piv")
            return error_response(request, 429, THROTTLED, {"Retry-After": retry_after(request)})
        presented = presented_certificate(request.scope, self.header, self.trusted)
        if presented.untrusted_header:
            audit(request, "(unknown)", "signin.piv.header", "denied", reason=UNTRUSTED_HEADER,
                  method="piv", peer=presented.peer or "")
        if presented.cert is None:
            return self.refuse(request, "no_certificate")
        try:
            cert = parse_certificate(presented.cert)
        except CertificateRefused as exc:
            return self.refuse(request, exc.code, via=presented.via)
        fingerprint = cert_fingerprint(cert)
        subject = cert.subject.rfc4514_string()[:200]
        try:
            accepted = self.issuers.check(cert)
        except CertificateRefused as exc:
            return self.refuse(request, exc.code, actor=subject, detail=exc.detail, via=presented.via,
                               fingerprint=fingerprint)
        accounts = self.identities.accounts_for("piv", accepted.keys)
        if len(accounts) != 1:
            code = "unmapped" if not accounts else "ambiguous"
            return self.refuse(request, code, actor=subject, via=presented.via, fingerprint=fingerprint,
                               accounts=len(accounts))
        account = web_deps(request).accounts.by_id(next(iter(accounts)))
        if account is None or account.disabled:
            return self.refuse(request, "disabled", actor=account.username if account else subject,
                               via=presented.via, fingerprint=fingerprint)
        response = RedirectResponse("/", status_code=303)
        establish_session(request, response, account.id, "piv")
        return response


def piv_router(piv: PivSignin) -> APIRouter:
    router = APIRouter(include_in_schema=False)

    @router.get("/signin/piv")
    def signin_piv(request: Request) -> Response:
        return piv.signin(request)

    return router
