"""The one HPKE suite of sealed record v1: its wire identifiers and the library that runs it.

DHKEM(P-256, HKDF-SHA256), HKDF-SHA256, AES-128-GCM in RFC 9180 base mode. The
identifiers are what an envelope's header names and what HPKE's own key schedule
mixes into every labeled KDF step (``suite_id``); ``HPKE_SUITE`` is
``cryptography``'s implementation of exactly that suite. Keeping both in one place
means the header cannot claim one suite while the library runs another. There is no
negotiation, so there is nothing else here.
"""

from __future__ import annotations

from typing import Final

from cryptography.hazmat.primitives.hpke import AEAD, KDF, KEM, Suite

KEM_ID: Final = 0x0010  # DHKEM(P-256, HKDF-SHA256)
KDF_ID: Final = 0x0001  # HKDF-SHA256
AEAD_ID: Final = 0x0001  # AES-128-GCM
SUITE_BYTES: Final = (
    KEM_ID.to_bytes(2, "big") + KDF_ID.to_bytes(2, "big") + AEAD_ID.to_bytes(2, "big")
)

ENC_SIZE: Final = 65  # Nenc: the ephemeral public key as an uncompressed SEC1 point
TAG_SIZE: Final = 16  # Nt of AES-128-GCM

# Single-shot base mode: encrypt() returns enc || ciphertext with a fresh ephemeral
# key, decrypt() takes the same bytes; both authenticate an empty aad.
HPKE_SUITE: Final = Suite(KEM.P256, KDF.HKDF_SHA256, AEAD.AES_128_GCM)
