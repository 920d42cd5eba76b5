"""Signed checkpoints of the log: its size and head hash at a moment, signed with Ed25519.

Whoever keeps a checkpoint can later prove that the log still extends it (the first
``size`` events re-hash to ``head``), even against someone able to rewrite the whole
chain consistently in the database. The signing key is ``CLAIMS_CHECKPOINT_KEY`` (a PEM,
or the path of one), else ``$CLAIMS_HOME/checkpoint-key.pem``, made on first use.
"""

from __future__ import annotations

import base64
import binascii
import functools
import logging
import os
import stat
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from adapters.settings import Settings

log = logging.getLogger(__name__)

KEY_FILE = "checkpoint-key.pem"
PREFIX = "claims-checkpoint"
FIELDS = ("size", "head", "timestamp", "signed", "signature", "public_key")


class CheckpointInvalid(ValueError):
    """A checkpoint that is malformed, or whose signature does not verify."""


def signed_text(size: int, head: str, timestamp: str) -> str:
    """The exact text a checkpoint signs (its UTF-8 bytes): four lines, no trailing newline."""
    return f"{PREFIX}\n{size}\n{head}\n{timestamp}"


def make(key: Ed25519PrivateKey, size: int, head: bytes, now: datetime | None = None) -> dict[str, Any]:
    """A checkpoint of a log of ``size`` events whose last hash is ``head``."""
    timestamp = (now or datetime.now(UTC)).astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
    text = signed_text(size, head.hex(), timestamp)
    public = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return {
        "size": size,
        "head": head.hex(),
        "timestamp": timestamp,
        "signed": text,
        "signature": base64.b64encode(key.sign(text.encode())).decode(),
        "public_key": base64.b64encode(public).decode(),
    }


def check(checkpoint: Any) -> tuple[int, bytes]:
    """The (size, head) a checkpoint vouches for, once its fields agree with its text and its signature verifies."""
    if not isinstance(checkpoint, dict) or any(f not in checkpoint for f in FIELDS):
        raise CheckpointInvalid(f"a checkpoint is a JSON object with {', '.join(FIELDS)}")
    size, head, timestamp = checkpoint["size"], checkpoint["head"], checkpoint["timestamp"]
    if not isinstance(size, int) or isinstance(size, bool) or size < 0:
        raise CheckpointInvalid("size must be a whole number of events")
    try:
        head_bytes = bytes.fromhex(head)
        signature = base64.b64decode(checkpoint["signature"], validate=True)
        public = Ed25519PublicKey.from_public_bytes(base64.b64decode(checkpoint["public_key"], validate=True))
    except (TypeError, ValueError, binascii.Error) as e:
        raise CheckpointInvalid(f"head, signature or public_key is not well-formed: {e}") from None
    if len(head_bytes) != 32:  # noqa: PLR2004  (a SHA-256 digest)
        raise CheckpointInvalid("head must be 32 bytes in hex")
    if checkpoint["signed"] != signed_text(size, head, str(timestamp)):
        raise CheckpointInvalid("signed is not the text of its size, head and timestamp")
    try:
        public.verify(signature, checkpoint["signed"].encode())
    except InvalidSignature:
        raise CheckpointInvalid("the signature does not verify with the checkpoint's public key") from None
    return size, head_bytes


def signing_key(settings: Settings) -> Ed25519PrivateKey:
    """The server's checkpoint key: from CLAIMS_CHECKPOINT_KEY, else kept under $CLAIMS_HOME (made on first use)."""
    return _load(settings.checkpoint_key, str(settings.home.expanduser().resolve() / KEY_FILE))


@functools.lru_cache(maxsize=8)
def _load(configured: str | None, default_path: str) -> Ed25519PrivateKey:
    if configured is not None:
        inline = configured.lstrip().startswith("-----BEGIN")
        pem = configured.encode() if inline else Path(configured).expanduser().read_bytes()
        return _private(pem, "CLAIMS_CHECKPOINT_KEY")
    path = Path(default_path)
    if not path.exists():
        _create(path)
    elif path.stat().st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        log.warning("%s is readable by others than its owner; chmod 600 it", path)
    return _private(path.read_bytes(), str(path))


def _private(pem: bytes, where: str) -> Ed25519PrivateKey:
    try:
        key = serialization.load_pem_private_key(pem, password=None)
    except ValueError as e:
        raise ValueError(f"{where}: not an unencrypted PEM private key ({e})") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise ValueError(f"{where}: the checkpoint key must be an Ed25519 key")
    return key


def _create(path: Path) -> None:
    """Write a new key with mode 0600; where another process got there first, keep its key."""
    pem = Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    scratch = path.with_name(f".{path.name}.{uuid.uuid4().hex}")
    fd = os.open(scratch, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(pem)
            f.flush()
            os.fsync(f.fileno())
        os.link(scratch, path)  # atomic, and refuses to replace a key another process just made
        log.info("made a checkpoint signing key at %s", path)
    except FileExistsError:
        pass
    finally:
        scratch.unlink(missing_ok=True)
