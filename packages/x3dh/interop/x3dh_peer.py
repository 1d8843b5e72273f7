#!/usr/bin/python3
"""The independent side of the X3DH interop tests: python-x3dh as configured by python-oldmemo
(legacy OMEMO, libsignal v3) and python-twomemo (OMEMO 2), Debian packages.

It drives `oldmemo.oldmemo.StateImpl` / `twomemo.twomemo.StateImpl` (subclasses of `x3dh.BaseState`)
directly and moves bundles through the backends' own `etree.serialize_bundle` / `etree.parse_bundle`,
so the legacy sign-bit-in-signature convention and the 0x05 key prefix are theirs, not ours.
Prekey ids: 1..n in the order of the sorted public keys at creation (python-x3dh itself has no ids).

JSON lines on stdin, one JSON line per request on stdout; bytes are hex.
  {"cmd": "create", "preKeys": n, "identitySeed"?: hex32}  -> {"bundle": wire, "identityKeyEd25519", "identityKeyCurve25519"}
  {"cmd": "active", "bundle": wire}                        -> {"sharedSecret", "associatedData", "header": {...}}
  {"cmd": "passive", "header": {identityKey, ephemeralKey, signedPreKeyId, preKeyId}} -> {"sharedSecret", "associatedData"}
  {"cmd": "deletePreKey", "id": n}                         -> {"deleted": bool}
Failures answer {"ok": false, "error", "type"}.

Usage: x3dh_peer.py legacy|omemo2 SEED   (SEED feeds `secrets`, as in omemo_peer.py)
"""
import json
import os
import random
import secrets
import sys

sys.dont_write_bytecode = True  # no __pycache__ in the source tree

import x3dh
import xeddsa

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import omemo_bundle_xml  # noqa: E402


def make_deterministic(seed: int) -> None:
    rng = random.Random(seed)
    secrets.token_bytes = lambda n=32: rng.randbytes(n)
    secrets.choice = lambda seq: seq[rng.randrange(len(seq))]


class Peer:
    def __init__(self, profile: str) -> None:
        self.profile = profile
        if profile == "legacy":
            import oldmemo.oldmemo as mod
            import oldmemo.etree as etree
        else:
            import twomemo.twomemo as mod
            import twomemo.etree as etree
        self.mod, self.etree, self.ns = mod, etree, etree.NS
        self.state = None

    # ---- bundle wire form, through the backend's own XML (de)serializer ----
    def ids(self):
        return {pk: i for pk, i in self.id_of.items() if pk in self.state.bundle.pre_keys}

    def my_bundle_wire(self) -> dict:
        bundle = self.mod.BundleImpl("me@example.org", 1, self.state.bundle, 1, self.ids())
        return omemo_bundle_xml.element_to_wire(self.profile, self.ns, self.etree.serialize_bundle(bundle))

    def parse_bundle_wire(self, wire: dict):
        element = omemo_bundle_xml.wire_to_element(self.profile, self.ns, wire)
        return self.etree.parse_bundle(element, "them@example.org", 2)

    def key_to_wire(self, key: bytes, is_identity: bool) -> bytes:
        if self.profile == "legacy":
            return self.mod.StateImpl.serialize_public_key(
                xeddsa.ed25519_pub_to_curve25519_pub(key) if is_identity else key
            )
        return key

    def key_from_wire(self, data: bytes, is_identity: bool, sign_bit: bool = False) -> bytes:
        if self.profile == "legacy":
            raw = self.mod.StateImpl.parse_public_key(data)
            return xeddsa.curve25519_pub_to_ed25519_pub(raw, sign_bit) if is_identity else raw
        return data

    # ---- commands ----
    def cmd_create(self, req):
        seed = req.get("identitySeed")
        identity = x3dh.identity_key_pair.IdentityKeyPairSeed(bytes.fromhex(seed) if seed else secrets.token_bytes(32))
        self.state = self.mod.StateImpl.create(
            x3dh.IdentityKeyFormat.ED_25519, x3dh.HashFunction.SHA_256, self.mod.StateImpl.INFO, identity
        )
        self.state.generate_pre_keys(int(req.get("preKeys", 5)))
        self.id_of = {pk: i + 1 for i, pk in enumerate(sorted(self.state.bundle.pre_keys))}
        ed = self.state.bundle.identity_key
        return {
            "bundle": self.my_bundle_wire(),
            "identityKeyEd25519": ed.hex(),
            "identityKeyCurve25519": xeddsa.ed25519_pub_to_curve25519_pub(ed).hex(),
        }

    async def cmd_active(self, req):
        bundle = self.parse_bundle_wire(req["bundle"])
        shared, ad, header = await self.state.get_shared_secret_active(bundle.bundle)
        return {
            "sharedSecret": shared.hex(),
            "associatedData": ad.hex(),
            "header": {
                "identityKey": self.key_to_wire(header.identity_key, True).hex(),
                "ephemeralKey": self.key_to_wire(header.ephemeral_key, False).hex(),
                "signedPreKeyId": bundle.signed_pre_key_id,
                "preKeyId": bundle.pre_key_ids[header.pre_key],
            },
        }

    async def cmd_passive(self, req):
        h = req["header"]
        by_id = {i: pk for pk, i in self.ids().items()}
        pre_key = by_id.get(h["preKeyId"])
        if pre_key is None:
            raise KeyError(f"no pre key with id {h['preKeyId']}")
        if h["signedPreKeyId"] != 1:
            raise KeyError(f"no signed pre key with id {h['signedPreKeyId']}")
        header = x3dh.Header(
            self.key_from_wire(bytes.fromhex(h["identityKey"]), True),
            self.key_from_wire(bytes.fromhex(h["ephemeralKey"]), False),
            self.state.bundle.signed_pre_key,
            pre_key,
        )
        shared, ad, _spk = await self.state.get_shared_secret_passive(header)
        return {"sharedSecret": shared.hex(), "associatedData": ad.hex()}

    def cmd_deletePreKey(self, req):
        by_id = {i: pk for pk, i in self.ids().items()}
        pk = by_id.get(req["id"])
        return {"deleted": pk is not None and self.state.delete_pre_key(pk)}


def main() -> None:
    import asyncio

    peer = Peer(sys.argv[1])
    make_deterministic(int(sys.argv[2]) if len(sys.argv) > 2 else 0)
    for line in sys.stdin:
        req = json.loads(line)
        try:
            res = getattr(peer, "cmd_" + req["cmd"])(req)
            if asyncio.iscoroutine(res):
                res = asyncio.run(res)
            res["ok"] = True
        except Exception as e:
            res = {"ok": False, "error": str(e) or repr(e), "type": type(e).__name__}
        sys.stdout.write(json.dumps(res) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
