"""The audit trail's keys, kept in files outside the database.

Two secrets live beside each other on the server's disk (or are mounted there from a secret
store), never in the database:

- the **key file** (``AISC_AUDIT_KEY_FILE``, default ``<data dir>/audit.key``): the HMAC-SHA256
  keys that chain the events, each with an id. The last one added is current; events record the
  id of the key that chained them, so older keys stay in the file to verify older events.
  ``aisc audit rotate-key`` adds a new current key.
- the **signing key** (the key file's name plus ``.ed25519``): an Ed25519 private key that signs
  exported checkpoints; anyone holding its public key can check a checkpoint.

Both files are created with mode 0600 the first time the platform needs them (its first audit
event, or its first checkpoint). Someone who can write to the database but cannot read these files
cannot forge a chained event or a checkpoint.

The key file is resolved from the deployment's settings where it is used (every edge, the API,
the portal, the CLI, the worker and the demo, chains with the same key without passing it on);
``Settings`` is built once per distinct configuration, and the file is re-read when it changes,
so a rotation by the CLI reaches a running server.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import json
import os
import secrets
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from aisc.errors import NotReady, ValidationFailed
from aisc.settings import Settings

FORMAT = "aisc-audit-keys/1"
SECRET_BYTES = 32


class KeyFileError(NotReady):
    """A key file that exists but cannot be read or parsed: the deployment is misconfigured."""


@dataclass(frozen=True)
class HmacKey:
    id: str
    created: str
    secret: bytes


@dataclass(frozen=True)
class KeyRing:
    """The HMAC keys of one key file; the last is current.

    ``legacy_events`` is how many events the chain held when the file was created: events
    written before the chain was keyed. Any unkeyed event beyond them was written without the
    platform, so rewriting keyed events as "legacy" ones is caught without a checkpoint.
    """

    path: Path
    keys: tuple[HmacKey, ...]
    legacy_events: int | None = None  # None: not known (a key file made outside the platform)

    @property
    def current(self) -> HmacKey:
        return self.keys[-1]

    def get(self, key_id: str) -> HmacKey | None:
        for key in self.keys:
            if key.id == key_id:
                return key
        return None

    def mac(self, key_id: str, material: bytes) -> str | None:
        """HMAC-SHA256 of ``material`` under key ``key_id`` (None when the key is unknown)."""
        key = self.get(key_id)
        if key is None:
            return None
        return hmac.new(key.secret, material, hashlib.sha256).hexdigest()


def configured_key_file() -> Path:
    """The key file of this deployment (``AISC_AUDIT_KEY_FILE`` or ``<data dir>/audit.key``)."""
    return _key_file_for(
        os.environ.get("AISC_AUDIT_KEY_FILE"), os.environ.get("AISC_DATA_DIR"), os.getcwd()
    )


@lru_cache(maxsize=64)
def _key_file_for(_key_file: str | None, _data_dir: str | None, _cwd: str) -> Path:
    # The arguments are the cache key only: Settings reads the same variables (and validates
    # them) but costs milliseconds to build, too much for every audit event.
    return Settings().effective_audit_key_file


def signing_key_file(key_file: Path) -> Path:
    return key_file.with_name(key_file.name + ".ed25519")


def _new_key(now: datetime) -> HmacKey:
    return HmacKey(
        id=f"{now.astimezone(UTC):%Y%m%d}-{secrets.token_hex(4)}",
        created=now.astimezone(UTC).isoformat(timespec="seconds"),
        secret=secrets.token_bytes(SECRET_BYTES),
    )


def _serialise(keys: tuple[HmacKey, ...], legacy_events: int | None) -> bytes:
    document = {
        "format": FORMAT,
        "note": "aisc audit chain keys: keep outside the database; the last key is current; "
        "never delete a key that chained events",
        "legacy_events": legacy_events,
        "keys": [{"id": k.id, "created": k.created, "secret": k.secret.hex()} for k in keys],
    }
    return (json.dumps(document, indent=2) + "\n").encode()


def _parse(path: Path, raw: bytes) -> KeyRing:
    try:
        document = json.loads(raw)
        if document.get("format") != FORMAT:
            raise ValueError(f"format is not {FORMAT}")
        keys = tuple(
            HmacKey(id=str(k["id"]), created=str(k["created"]), secret=bytes.fromhex(k["secret"]))
            for k in document["keys"]
        )
        legacy = document.get("legacy_events")
        if legacy is not None and (not isinstance(legacy, int) or legacy < 0):
            raise ValueError("legacy_events is not a count")
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise KeyFileError(
            f"the audit key file {path} cannot be read: {exc}", field="audit_key_file"
        ) from exc
    if not keys or any(len(k.secret) < 16 for k in keys):
        raise KeyFileError(f"the audit key file {path} holds no usable key", field="audit_key_file")
    return KeyRing(path=path, keys=keys, legacy_events=legacy)


def _write_new(path: Path, content: bytes) -> None:
    """Create ``path`` with mode 0600; FileExistsError when someone else created it first."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.write(fd, content)
        os.fsync(fd)
    finally:
        os.close(fd)


_lock = threading.Lock()
_cache: dict[Path, tuple[tuple[int, int, int], KeyRing]] = {}


def load(path: Path) -> KeyRing | None:
    """The key ring in ``path``, or None when there is no such file."""
    try:
        stat = path.stat()
    except FileNotFoundError:
        return None
    stamp = (stat.st_ino, stat.st_mtime_ns, stat.st_size)
    with _lock:
        cached = _cache.get(path)
        if cached is not None and cached[0] == stamp:
            return cached[1]
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise KeyFileError(
            f"the audit key file {path} cannot be read: {exc.strerror}", field="audit_key_file"
        ) from exc
    ring = _parse(path, raw)
    with _lock:
        _cache[path] = (stamp, ring)
    return ring


def load_or_create(path: Path, *, now: datetime, legacy_events: int) -> KeyRing:
    """The key ring in ``path``, created with one fresh key (and a signing key) if missing.

    ``legacy_events``: the events the chain holds now, all written before it was keyed.
    """
    ring = load(path)
    if ring is not None:
        return ring
    try:
        # Another process may have created it a moment ago: then use theirs.
        with contextlib.suppress(FileExistsError):
            _write_new(path, _serialise((_new_key(now),), legacy_events))
        ensure_signing_key(path)
    except OSError as exc:
        raise KeyFileError(
            f"cannot create the audit key file {path}: {exc.strerror} (set AISC_AUDIT_KEY_FILE "
            "to a writable place outside the database)",
            field="audit_key_file",
        ) from exc
    ring = load(path)
    assert ring is not None
    return ring


def rotate(path: Path, *, now: datetime, legacy_events: int) -> HmacKey:
    """Add a new current key; the old ones stay to verify the events they chained.

    ``legacy_events`` is recorded only when this creates the file (see ``load_or_create``).
    """
    ring = load(path)
    key = _new_key(now)
    if ring is None:
        _write_new(path, _serialise((key,), legacy_events))
        ensure_signing_key(path)
        return key
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(4)}")
    _write_new(temporary, _serialise((*ring.keys, key), ring.legacy_events))
    os.replace(temporary, path)
    return key


# -- checkpoint signatures ------------------------------------------------------------------


def ensure_signing_key(key_file: Path) -> Ed25519PrivateKey:
    """The checkpoint signing key beside ``key_file``, created (0600) if missing."""
    path = signing_key_file(key_file)
    if not path.exists():
        private = Ed25519PrivateKey.generate()
        pem = private.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        with contextlib.suppress(FileExistsError):
            _write_new(path, pem)
    return load_signing_key(path)


def load_signing_key(path: Path) -> Ed25519PrivateKey:
    try:
        private = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except (OSError, ValueError, TypeError) as exc:
        raise KeyFileError(
            f"the checkpoint signing key {path} cannot be read: {exc}", field="audit_key_file"
        ) from exc
    if not isinstance(private, Ed25519PrivateKey):
        raise KeyFileError(f"{path} is not an Ed25519 key", field="audit_key_file")
    return private


def public_key_text(public: Ed25519PublicKey) -> str:
    """The raw public key in base64: what a checkpoint carries and people publish."""
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return base64.b64encode(raw).decode()


def parse_public_key(text: str, *, field: str) -> Ed25519PublicKey:
    """A public key as ``public_key_text`` writes it, or as a PEM file's content."""
    text = text.strip()
    try:
        if text.startswith("-----BEGIN"):
            key = serialization.load_pem_public_key(text.encode())
            if not isinstance(key, Ed25519PublicKey):
                raise ValueError("not an Ed25519 public key")
            return key
        return Ed25519PublicKey.from_public_bytes(base64.b64decode(text, validate=True))
    except ValueError as exc:
        raise ValidationFailed(f"{field}: not an Ed25519 public key ({exc})", field=field) from exc


def sign(private: Ed25519PrivateKey, message: bytes) -> str:
    return base64.b64encode(private.sign(message)).decode()


def signature_valid(public: Ed25519PublicKey, message: bytes, signature: str) -> bool:
    try:
        public.verify(base64.b64decode(signature, validate=True), message)
    except (InvalidSignature, ValueError):
        return False
    return True
