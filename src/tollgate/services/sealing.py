"""Provider secrets sealed with AES-256-GCM under a master key that is never stored beside them.

Sealed format: ``tgs1.<kid>.<base64url(nonce || ciphertext+tag)>`` where ``kid`` names the
master key (first 12 hex digits of its SHA-256), so a keyring holding several keys (during a
rotation) opens anything sealed by any of them. The associated data binds a ciphertext to
its row (workspace and credential id): a sealed value copied to another row will not open.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import secrets
from collections.abc import Callable, Iterable
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from tollgate.core.errors import TollgateError

_PREFIX = "tgs1"
_NONCE_BYTES = 12
KEY_FILE = "master.key"
NEXT_KEY_FILE = "master.key.next"
PREVIOUS_KEY_FILE = "master.key.prev"


class SealingError(TollgateError):
    """A sealed value could not be opened (unknown master key or tampered data)."""

    default_code = "sealing_error"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def parse_master_key(text: str) -> bytes:
    """A master key is 32 bytes, written as URL-safe base64 (padding optional) or 64 hex digits."""
    text = text.strip()
    raw: bytes | None = None
    if len(text) == 64:
        try:
            raw = bytes.fromhex(text)
        except ValueError:
            raw = None
    if raw is None:
        try:
            raw = _unb64(text)
        except (binascii.Error, ValueError) as exc:
            raise ValueError("master key is not base64 or hex") from exc
    if len(raw) != 32:
        raise ValueError("master key must be 32 bytes (AES-256)")
    return raw


def new_master_key(random_bytes: Callable[[int], bytes] = os.urandom) -> str:
    return _b64(random_bytes(32))


def key_id(key: bytes) -> str:
    return hashlib.sha256(key).hexdigest()[:12]


class Keyring:
    """Seals with the current key; opens with any key it holds."""

    def __init__(
        self,
        current: bytes,
        others: Iterable[bytes] = (),
        random_bytes: Callable[[int], bytes] = os.urandom,
    ) -> None:
        self._current_id = key_id(current)
        self._keys = {key_id(k): AESGCM(k) for k in (*others, current)}
        self._random_bytes = random_bytes

    @property
    def current_id(self) -> str:
        return self._current_id

    def seal(self, plaintext: bytes, context: str) -> str:
        nonce = self._random_bytes(_NONCE_BYTES)
        sealed = self._keys[self._current_id].encrypt(nonce, plaintext, context.encode())
        return f"{_PREFIX}.{self._current_id}.{_b64(nonce + sealed)}"

    def open(self, sealed: str, context: str) -> bytes:
        try:
            prefix, kid, body = sealed.split(".", 2)
            data = _unb64(body)
        except (ValueError, binascii.Error) as exc:
            raise SealingError("sealed value is malformed") from exc
        aead = self._keys.get(kid)
        if prefix != _PREFIX or aead is None:
            raise SealingError(f"sealed with master key {kid!r}, which this server does not hold")
        try:
            return aead.decrypt(data[:_NONCE_BYTES], data[_NONCE_BYTES:], context.encode())
        except InvalidTag as exc:
            raise SealingError("sealed value failed authentication") from exc

    def sealed_with(self, sealed: str) -> str:
        """The key id a sealed value names."""
        return sealed.split(".", 2)[1] if sealed.count(".") >= 2 else ""


def _read_key_file(path: Path) -> bytes | None:
    if not path.exists():
        return None
    return parse_master_key(path.read_text())


def _write_private(path: Path, key_text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.write(fd, key_text.encode() + b"\n")
        os.fsync(fd)
    finally:
        os.close(fd)
    os.chmod(path, 0o600)


def _temp_beside(path: Path) -> Path:
    # Unique per writer, so concurrent writers never share (and truncate) one temp file.
    return path.with_name(f"{path.name}.{os.getpid()}.{secrets.token_hex(6)}.tmp")


def write_key_file(path: Path, key_text: str) -> None:
    """Write a key file with mode 0600, atomically (temp file + rename)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _temp_beside(path)
    _write_private(tmp, key_text)
    os.replace(tmp, path)


def create_key_file(path: Path, key_text: str) -> bool:
    """Create a key file with mode 0600 unless one exists; whether this call created it.

    Atomic against concurrent creators (workers starting together on a fresh home): the key is
    written to a private temp file and hard-linked into place, which fails if another process
    linked its key first. Readers never see a partial file.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _temp_beside(path)
    _write_private(tmp, key_text)
    try:
        os.link(tmp, path)
    except FileExistsError:
        return False
    finally:
        os.unlink(tmp)
    return True


def load_keyring(home: Path, env_key: str | None, *, create: bool = True) -> Keyring:
    """The keyring for this server.

    ``TOLLGATE_MASTER_KEY`` (``env_key``) wins; otherwise ``master.key`` in the home folder,
    generated with mode 0600 on first start. Keys left by an interrupted or recent rotation
    (``master.key.next`` / ``.prev``) are held for opening only.
    """
    others = [
        k for k in (_read_key_file(home / NEXT_KEY_FILE), _read_key_file(home / PREVIOUS_KEY_FILE)) if k
    ]
    if env_key:
        return Keyring(parse_master_key(env_key), others)
    current = _read_key_file(home / KEY_FILE)
    if current is None and create:
        # Ours, or the key another worker created a moment before: every worker ends up with one.
        create_key_file(home / KEY_FILE, new_master_key())
        current = _read_key_file(home / KEY_FILE)
    if current is None:
        raise SealingError(f"no master key: set TOLLGATE_MASTER_KEY or create {home / KEY_FILE}")
    return Keyring(current, others)
