#!/usr/bin/python3
"""
Recomputes every vector of vectors/x3dh-v1.json with Debian's python3-x3dh, an independent implementation:
as responder (get_shared_secret_passive, from Bob's fixed private keys and the recorded key exchange) and
as initiator (get_shared_secret_active, with Alice's fixed identity and ephemeral keys: the ephemeral key
and the one-time prekey choice are fed through `secrets`, which python-x3dh draws them from). Both must
give the recorded SK and AD. Prints one JSON line per check and exits 1 on any difference.

Run: /usr/bin/python3 scripts/cross_check_x3dh.py [vectors/x3dh-v1.json]   (pnpm test:interop runs it)
"""
import asyncio
import json
import secrets
import sys

sys.dont_write_bytecode = True

import x3dh  # noqa: E402
import xeddsa  # noqa: E402
from x3dh.models import BaseStateModel, IdentityKeyPairModel, SignedPreKeyPairModel  # noqa: E402
from x3dh.types import SecretType  # noqa: E402

INFO = {"legacyOmemo": b"WhisperText", "omemo2": b"OMEMO X3DH", "signal": b"Parley X3DH"}


class State(x3dh.BaseState):
    """AD encodings as our profiles put them: 0x05 || u (legacyOmemo, signal), raw Ed25519 (omemo2)."""

    RAW = False

    @classmethod
    def _encode_public_key(cls, key_format, pub):
        if cls.RAW:
            return pub
        if key_format is x3dh.IdentityKeyFormat.ED_25519:
            pub = xeddsa.ed25519_pub_to_curve25519_pub(pub)
        return b"\x05" + pub


def raw(profile, encoded):
    """Our profile encoding to python-x3dh's raw 32 bytes."""
    return encoded if profile == "omemo2" else encoded[1:]


def state(profile, identity_priv, spk_priv, opk_privs, key_format):
    State.RAW = profile == "omemo2"
    secret_type = SecretType.SEED if profile == "omemo2" else SecretType.PRIV
    model = BaseStateModel(
        identity_key=IdentityKeyPairModel(secret=identity_priv, secret_type=secret_type),
        signed_pre_key=SignedPreKeyPairModel(priv=spk_priv, sig=b"\x00" * 64, timestamp=0),
        old_signed_pre_key=None,
        pre_keys=frozenset(opk_privs),
    )
    return State.from_model(model, key_format, x3dh.HashFunction.SHA_256, INFO[profile])


async def check(v):
    p = v["profile"]
    h = lambda s: bytes.fromhex(s)  # noqa: E731
    bob, alice, kex = v["bob"], v["alice"], v["keyExchange"]
    opks = {k["id"]: h(k["privateKey"]) for k in bob["oneTimePreKeys"]}
    fmt = x3dh.IdentityKeyFormat.ED_25519 if p == "omemo2" else x3dh.IdentityKeyFormat.CURVE_25519
    results = []

    # Responder: Bob's fixed keys, the recorded key exchange.
    b = state(p, h(bob["identityPrivateKey"]), h(bob["signedPreKeyPrivateKey"]), opks.values(), fmt)
    opk_id = kex["oneTimePreKeyId"]
    header = x3dh.Header(
        identity_key=raw(p, h(kex["identityKey"])),
        ephemeral_key=raw(p, h(kex["ephemeralKey"])),
        signed_pre_key=raw(p, h(v["bundle"]["signedPreKey"])),
        pre_key=None if opk_id is None else xeddsa.priv_to_curve25519_pub(opks[opk_id]),
    )
    sk, ad, _ = await b.get_shared_secret_passive(header, require_pre_key=False)
    results.append(("responder", sk.hex(), ad.hex()))

    # Initiator: Alice's fixed identity and ephemeral key. python-x3dh verifies XEdDSA with sign bit 0 for
    # Curve25519 identity keys; libsignal's variant (legacyOmemo) carries the sign bit in signature byte 63,
    # so there the identity key goes in Ed25519 form with that bit, as python-oldmemo does.
    bundle = v["bundle"]
    sig = h(bundle["signedPreKeySignature"])
    identity = raw(p, h(bundle["identityKey"]))
    a_fmt = fmt
    if p == "legacyOmemo":
        a_fmt = x3dh.IdentityKeyFormat.ED_25519
        identity = xeddsa.curve25519_pub_to_ed25519_pub(identity, bool(sig[63] & 0x80))
        sig = sig[:63] + bytes([sig[63] & 0x7F])
    a = state(p, h(alice["identityPrivateKey"]), secrets.token_bytes(32), [], a_fmt)
    pre_keys = frozenset(raw(p, h(k["publicKey"])) for k in bundle["oneTimePreKeys"])
    chosen = None if v["oneTimePreKeyId"] is None else next(
        raw(p, h(k["publicKey"])) for k in bundle["oneTimePreKeys"] if k["id"] == v["oneTimePreKeyId"]
    )
    draws = [h(alice["ephemeralKeyPair"]["privateKey"])]
    token_bytes, choice = secrets.token_bytes, secrets.choice
    secrets.token_bytes = lambda n=32: draws.pop(0)
    secrets.choice = lambda seq: chosen
    try:
        sk, ad, _ = await a.get_shared_secret_active(
            x3dh.Bundle(identity_key=identity, signed_pre_key=raw(p, h(bundle["signedPreKey"])),
                        signed_pre_key_sig=sig, pre_keys=pre_keys),
            require_pre_key=False,
        )
    finally:
        secrets.token_bytes, secrets.choice = token_bytes, choice
    results.append(("initiator", sk.hex(), ad.hex()))
    return results


async def main(path):
    with open(path) as f:
        vectors = json.load(f)["vectors"]
    failures = 0
    for v in vectors:
        for role, sk, ad in await check(v):
            ok = sk == v["sharedSecret"] and ad == v["associatedData"]
            failures += not ok
            print(json.dumps({"vector": v["name"], "role": role, "ok": ok, "sharedSecret": sk, "associatedData": ad}))
    print(json.dumps({"checked": len(vectors), "failures": failures, "x3dh": x3dh.__version__["short"]}))
    return 1 if failures else 0


sys.exit(asyncio.run(main(sys.argv[1] if len(sys.argv) > 1 else "vectors/x3dh-v1.json")))
