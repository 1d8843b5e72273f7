#!/usr/bin/python3
"""The independent side of the Double Ratchet interop tests: python-oldmemo / python-twomemo (Debian).

One long-running process plays ONE OMEMO device. It drives the real crypto backend of python-omemo
(`oldmemo.Oldmemo` for legacy OMEMO, libsignal v3 wire format; `twomemo.Twomemo` for OMEMO 2) over an
in-memory storage, exactly as python-omemo's SessionManager would, minus XMPP:
bundles go through the backend's own `etree.serialize_bundle` / `etree.parse_bundle`, key exchanges and
messages through its own `KeyExchangeImpl` / `EncryptedKeyMaterialImpl` (de)serializers, sessions are
built with `build_session_active` / `build_session_passive` and used with `encrypt_key_material` /
`decrypt_key_material`. Like the SessionManager it repeats the key exchange on every message of an
actively built session until a message from the peer was decrypted, reuses a passive session when a
repeated key exchange "builds the same session", and deletes a one-time prekey after it was used.

The Double Ratchet plaintext is free-form here: python-omemo concatenates key || auth_tag, so we split
the plaintext the same way and join it again after decryption.

Protocol: JSON lines on stdin, one JSON line per request on stdout. Bytes are hex strings.
  {"cmd": "bundle"}                                -> {"bundle": {...wire form...}}
  {"cmd": "initiate", "peer", "bundle", "plaintext"} -> {"message", "kex": true}
  {"cmd": "encrypt", "peer", "plaintext"}          -> {"message", "kex"}
  {"cmd": "decrypt", "peer", "message", "kex"}     -> {"plaintext"} | {"ok": false, "error", "type"}
  {"cmd": "serialize", "peer"}                     -> {"doubleRatchet": <python-doubleratchet JSON>}
                                                      (the session continues from the reloaded copy)
  {"cmd": "info", "peer"}                          -> chain lengths, confirmed, initiation
  {"cmd": "preKeyIds"}                             -> ids of the one-time prekeys still available
  {"cmd": "privateKeys"}                           -> this device's private X3DH keys (vector generation only)
Failures answer {"ok": false, "error": message, "type": exception class} and change nothing.

Usage: omemo_peer.py legacy|omemo2 SEED
SEED makes the run deterministic: `secrets` (identity seed, prekeys, X3DH ephemeral key, prekey choice,
signature nonces) and the ratchet key generation are fed from random.Random(SEED).
"""
import asyncio
import json
import os
import random
import secrets
import sys
import xml.etree.ElementTree as ET

from doubleratchet.recommended import diffie_hellman_ratchet_curve25519
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from cryptography.hazmat.primitives import serialization

import xeddsa
from omemo.session import Initiation
from omemo.storage import Just, Nothing, Storage

# The bundle XML <-> JSON codec is shared with the X3DH peer of @parley/x3dh.
sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "x3dh", "interop"))
import omemo_bundle_xml  # noqa: E402


def make_deterministic(seed: int) -> None:
    rng = random.Random(seed)
    secrets.token_bytes = lambda n=32: rng.randbytes(n)
    secrets.choice = lambda seq: seq[rng.randrange(len(seq))]

    def generate_priv() -> bytes:
        return X25519PrivateKey.from_private_bytes(rng.randbytes(32)).private_bytes(
            encoding=serialization.Encoding.Raw,
            format=serialization.PrivateFormat.Raw,
            encryption_algorithm=serialization.NoEncryption(),
        )

    diffie_hellman_ratchet_curve25519.DiffieHellmanRatchet._generate_priv = staticmethod(generate_priv)


class MemoryStorage(Storage):
    def __init__(self) -> None:
        super().__init__(True)
        self.data = {}

    async def _load(self, key):
        return Just(self.data[key]) if key in self.data else Nothing()

    async def _store(self, key, value):
        self.data[key] = value

    async def _delete(self, key):
        self.data.pop(key, None)


class Profile:
    """What differs between the two backends, kept to wire-format glue only."""

    def __init__(self, name: str) -> None:
        self.name = name
        if name == "legacy":
            import oldmemo
            import oldmemo.etree as etree

            self.mod, self.etree, self.backend_class = oldmemo.oldmemo, etree, oldmemo.Oldmemo
            self.key_length = self.mod.PlainKeyMaterialImpl.KEY_LENGTH
        elif name == "omemo2":
            import twomemo
            import twomemo.etree as etree

            self.mod, self.etree, self.backend_class = twomemo.twomemo, etree, twomemo.Twomemo
            self.key_length = self.mod.PlainKeyMaterialImpl.KEY_LENGTH
        else:
            raise SystemExit(f"unknown profile {name}")
        self.ns = self.etree.NS

    def bundle_to_wire(self, element: ET.Element) -> dict:
        return omemo_bundle_xml.element_to_wire(self.name, self.ns, element)

    def wire_to_bundle_element(self, wire: dict) -> ET.Element:
        return omemo_bundle_xml.wire_to_element(self.name, self.ns, wire)

    def serialize_key_exchange(self, key_exchange, authenticated_message: bytes) -> bytes:
        out = key_exchange.serialize(authenticated_message)
        return out[0] if isinstance(out, tuple) else out

    def parse_key_exchange(self, data: bytes, sign_bit: bool):
        if self.name == "legacy":
            return self.mod.KeyExchangeImpl.parse(data, sign_bit)
        return self.mod.KeyExchangeImpl.parse(data)


class Peer:
    def __init__(self, profile: Profile) -> None:
        self.p = profile
        self.storage = MemoryStorage()
        self.backend = profile.backend_class(self.storage)
        self.sessions = {}

    def plain(self, plaintext: bytes):
        k = self.p.key_length
        return self.p.mod.PlainKeyMaterialImpl(plaintext[:k], plaintext[k:])

    @staticmethod
    def unplain(material) -> bytes:
        return material.key + material.auth_tag

    async def cmd_bundle(self, req):
        if await self.backend.get_num_visible_pre_keys() == 0:
            await self.backend.generate_pre_keys(int(req.get("preKeys", 100)))
        bundle = await self.backend.get_bundle("me@example.org", 1)
        return {"bundle": self.p.bundle_to_wire(self.p.etree.serialize_bundle(bundle))}

    async def cmd_preKeyIds(self, req):
        bundle = await self.backend.get_bundle("me@example.org", 1)
        return {"ids": sorted(bundle.pre_key_ids.values())}

    async def cmd_initiate(self, req):
        peer = req["peer"]
        bundle = self.p.etree.parse_bundle(self.p.wire_to_bundle_element(req["bundle"]), peer, 2)
        session, encrypted = await self.backend.build_session_active(
            peer, 2, bundle, self.plain(bytes.fromhex(req["plaintext"]))
        )
        self.sessions[peer] = session
        message = self.p.serialize_key_exchange(session.key_exchange, encrypted.serialize())
        return {"message": message.hex(), "kex": True, "preKeyId": session.key_exchange.pre_key_id}

    async def cmd_encrypt(self, req):
        session = self.sessions[req["peer"]]
        encrypted = await self.backend.encrypt_key_material(session, self.plain(bytes.fromhex(req["plaintext"])))
        # SessionManager: repeat the key exchange until the actively built session is confirmed.
        if session.initiation is Initiation.ACTIVE and not session.confirmed:
            return {"message": self.p.serialize_key_exchange(session.key_exchange, encrypted.serialize()).hex(), "kex": True}
        return {"message": encrypted.serialize().hex(), "kex": False}

    async def cmd_decrypt(self, req):
        peer = req["peer"]
        data = bytes.fromhex(req["message"])
        if not req.get("kex"):
            session = self.sessions[peer]
            material = self.p.mod.EncryptedKeyMaterialImpl.parse(data, peer, 2)
            return {"plaintext": self.unplain(await self.backend.decrypt_key_material(session, material))}
        # Legacy: python-omemo takes the sign bit of the sender's Ed25519 identity key from the sender's
        # bundle (sig[63]); it only affects the stored identity, never DH or the MAC input.
        key_exchange, authenticated = self.p.parse_key_exchange(data, bool(req.get("identitySignBit", False)))
        material = self.p.mod.EncryptedKeyMaterialImpl.parse(authenticated, peer, 2)
        session = self.sessions.get(peer)
        if session is not None and not (
            session.initiation is Initiation.PASSIVE and session.key_exchange.builds_same_session(key_exchange)
        ):
            session = None
        new_session = session is None
        if session is None:
            session, plain = await self.backend.build_session_passive(peer, 2, key_exchange, material)
            await self.backend.delete_pre_key(session)
        else:
            plain = await self.backend.decrypt_key_material(session, material)
        self.sessions[peer] = session
        return {"plaintext": self.unplain(plain), "newSession": new_session}

    async def cmd_serialize(self, req):
        peer = req["peer"]
        await self.backend.store_session(self.sessions[peer])
        dr_json = self.storage.data[f"/{self.backend.namespace}/{peer}/2/double_ratchet"]
        reloaded = await self.backend.load_session(peer, 2)
        # Keep the confirmation flag of the live object (it is stored too, this is just explicit).
        self.sessions[peer] = reloaded
        return {"doubleRatchet": dr_json}

    async def cmd_privateKeys(self, req):
        """For known-answer vectors only: this device's private X3DH material, as our engine loads it."""
        mangled = "_" + type(self.backend).__name__
        state = await getattr(self.backend, mangled + "__get_state")()
        pre_key_ids = await getattr(self.backend, mangled + "__get_pre_key_ids")()
        model = state.model
        seed = model.identity_key.secret
        assert model.identity_key.secret_type.name == "SEED"
        spk_priv = model.signed_pre_key.priv
        return {
            # Legacy: libsignal-style X25519 identity = the clamped scalar of the Ed25519 seed.
            # OMEMO 2: the Ed25519 seed itself.
            "identityPrivateKey": (xeddsa.seed_to_priv(seed) if self.p.name == "legacy" else seed).hex(),
            "signedPreKey": {"id": 1, "privateKey": spk_priv.hex(), "publicKey": xeddsa.priv_to_curve25519_pub(spk_priv).hex()},
            "preKeys": sorted(
                (
                    {"id": pre_key_ids[xeddsa.priv_to_curve25519_pub(p)], "privateKey": p.hex(), "publicKey": xeddsa.priv_to_curve25519_pub(p).hex()}
                    for p in model.pre_keys
                ),
                key=lambda k: k["id"],
            ),
        }

    async def cmd_info(self, req):
        s = self.sessions[req["peer"]]
        return {
            "sendingChainLength": s.sending_chain_length,
            "receivingChainLength": s.receiving_chain_length,
            "confirmed": s.confirmed,
            "initiation": s.initiation.name,
        }


async def main() -> None:
    profile = Profile(sys.argv[1])
    make_deterministic(int(sys.argv[2]) if len(sys.argv) > 2 else 0)
    peer = Peer(profile)
    loop = asyncio.get_running_loop()
    while True:
        line = await loop.run_in_executor(None, sys.stdin.readline)
        if not line:
            return
        req = json.loads(line)
        try:
            res = await getattr(peer, "cmd_" + req["cmd"])(req)
            if isinstance(res.get("plaintext"), bytes):
                res["plaintext"] = res["plaintext"].hex()
            res["ok"] = True
        except Exception as e:  # every failure is an answer, never a crash
            res = {"ok": False, "error": str(e) or repr(e), "type": type(e).__name__}
        sys.stdout.write(json.dumps(res) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    asyncio.run(main())
