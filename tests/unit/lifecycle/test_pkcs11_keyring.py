"""The PKCS#11 keyring on SoftHSM2: KEKs are non-extractable AES keys in the token; data keys are
wrapped and unwrapped inside it (CKM_AES_GCM); rotation and retirement work through it."""

from __future__ import annotations

import os
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.requirements import require_binary, require_file
from tests.unit.lifecycle.support import Site, open_audio, seed
from voicemail.audit.store import AuditLog
from voicemail.domain.errors import IntegrityError, KeyringError
from voicemail.keys.rotation import KeyRotation
from voicemail.vault import new_data_key

MODULE = "/usr/lib/softhsm/libsofthsm2.so"
PIN = "4321"



TOKENS = 4


@pytest.fixture(scope="module")
def softhsm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[str]]:
    """SoftHSM2 tokens for this module, all made before the library is loaded: SoftHSM2 reads
    SOFTHSM2_CONF and its token list once per process (at C_Initialize)."""
    require_file(MODULE, package="softhsm2")
    require_binary("softhsm2-util", package="softhsm2")
    root = tmp_path_factory.mktemp("softhsm")
    (root / "tokens").mkdir()
    conf = root / "softhsm2.conf"
    conf.write_text(f"directories.tokendir = {root / 'tokens'}\nobjectstore.backend = file\nlog.level = ERROR\n")
    labels = [f"vm-{uuid.uuid4().hex[:8]}" for _ in range(TOKENS)]
    for label in labels:
        subprocess.run(["softhsm2-util", "--init-token", "--free", "--label", label, "--pin", PIN,
                        "--so-pin", "87654321"], check=True, capture_output=True,
                       env={**os.environ, "SOFTHSM2_CONF": str(conf)})
    previous = os.environ.get("SOFTHSM2_CONF")
    os.environ["SOFTHSM2_CONF"] = str(conf)
    yield labels
    if previous is None:
        os.environ.pop("SOFTHSM2_CONF", None)
    else:
        os.environ["SOFTHSM2_CONF"] = previous


@pytest.fixture
def token(softhsm: list[str]) -> str:
    return softhsm.pop()


def test_wrap_and_unwrap_happen_in_the_token_and_the_kek_cannot_be_read(token: str) -> None:
    import pkcs11

    from voicemail.keys.pkcs11_keyring import Pkcs11Keyring

    ring = Pkcs11Keyring.create(MODULE, token, PIN)
    dek = new_data_key()
    wrapped = ring.wrap(dek, b"message-1")
    assert wrapped.kek_id == ring.current_kek_id() and len(wrapped.blob) == 61 and dek not in wrapped.blob
    assert ring.unwrap(wrapped, b"message-1") == dek
    with pytest.raises(IntegrityError):
        ring.unwrap(wrapped, b"message-2")  # bound to its message
    key = ring._key(ring.current_kek_id())
    assert key[pkcs11.Attribute.EXTRACTABLE] is False and key[pkcs11.Attribute.SENSITIVE] is True
    with pytest.raises(pkcs11.exceptions.AttributeSensitive):
        key[pkcs11.Attribute.VALUE]
    again = Pkcs11Keyring(MODULE, token, PIN)  # another process / a restart finds the same current KEK
    assert again.current_kek_id() == ring.current_kek_id() and again.unwrap(wrapped, b"message-1") == dek
    with pytest.raises(KeyringError, match="already holds"):
        Pkcs11Keyring.create(MODULE, token, PIN)


def test_a_wrong_pin_or_token_is_a_clear_keyring_error(token: str) -> None:
    from voicemail.keys.pkcs11_keyring import Pkcs11Keyring

    with pytest.raises(KeyringError, match="no current voicemail KEK"):
        Pkcs11Keyring(MODULE, token, PIN)  # initialised token, no keyring created on it
    with pytest.raises(KeyringError, match="cannot open PKCS#11 token 'no-such-token'"):
        Pkcs11Keyring(MODULE, "no-such-token", PIN)


def test_rotation_and_retirement_through_pkcs11(tmp_path: Path, token: str) -> None:
    from voicemail.keys.pkcs11_keyring import Pkcs11Keyring

    Pkcs11Keyring.create(MODULE, token, PIN)
    site = Site(tmp_path / "site", f"sqlite:///{tmp_path / 'vm.db'}", keyring_backend="pkcs11",
                pkcs11_token_label=token, pkcs11_pin=PIN)
    c = site.container()
    assert c.keyring.backend == "pkcs11"
    seeded = [seed(c, age_days=i) for i in range(4)]
    old = c.keyring.current_kek_id()
    rot = KeyRotation(c.engine, c.keyring, AuditLog(c.engine), batch=2, retire_grace=0)
    report = rot.rotate("ops", "cli@test", retire=True)
    assert (report.rewrapped, report.left, report.retired) == (4, 0, (old,))
    assert Pkcs11Keyring(MODULE, token, PIN).kek_ids() == (report.new_kek,)  # destroyed inside the HSM
    for mid, audio in seeded:
        assert open_audio(c, mid) == audio
    c.close()


def test_a_forked_worker_process_opens_its_own_session(token: str) -> None:
    """Celery prefork workers inherit the keyring: the child re-initialises PKCS#11 and keeps working."""
    from voicemail.keys.pkcs11_keyring import Pkcs11Keyring

    ring = Pkcs11Keyring.create(MODULE, token, PIN)
    dek = new_data_key()
    wrapped = ring.wrap(dek, b"message-1")
    pid = os.fork()
    if pid == 0:  # the child: exit status tells the parent what happened
        try:
            again = ring.wrap(dek, b"message-2")
            ok = ring.unwrap(wrapped, b"message-1") == dek and ring.unwrap(again, b"message-2") == dek
            os._exit(0 if ok else 1)
        except BaseException:
            os._exit(2)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert ring.unwrap(wrapped, b"message-1") == dek  # the parent's session still works
