#!/usr/bin/python3
"""
Known-answer vectors for @parley/x3dh from Debian's python3-x3dh with the python3-oldmemo and
python3-twomemo profiles (StateImpl: info, key encodings). Run: /usr/bin/python3 vectors/generate_python.py
Writes vectors/python-x3dh.json. Randomness (secrets.token_bytes) is a recorded SHA-256 counter
stream, so the test can replay Alice's ephemeral key.
"""
import asyncio, hashlib, json, secrets
import x3dh, x3dh.identity_key_pair, xeddsa
import oldmemo.oldmemo as om
import twomemo.twomemo as tm

DRAWS, COUNTER = [], [0]


def det(n=32):
    out = b""
    while len(out) < n:
        out += hashlib.sha256(b"parley-x3dh-" + COUNTER[0].to_bytes(8, "big")).digest()
        COUNTER[0] += 1
    DRAWS.append(out[:n].hex())
    return out[:n]


secrets.token_bytes = det


async def case(name, mod):
    fmt = x3dh.IdentityKeyFormat.ED_25519
    bob_seed, alice_seed = det(), det()
    bob = mod.StateImpl.create(fmt, x3dh.HashFunction.SHA_256, mod.StateImpl.INFO, x3dh.identity_key_pair.IdentityKeyPairSeed(bob_seed))
    bob.generate_pre_keys(1)
    alice = mod.StateImpl.create(fmt, x3dh.HashFunction.SHA_256, mod.StateImpl.INFO, x3dh.identity_key_pair.IdentityKeyPairSeed(alice_seed))
    b = bob.bundle
    sig = b.signed_pre_key_sig
    if name == "legacyOmemo":  # python-oldmemo etree: Ed25519 sign bit into sig[63]
        sig = sig[:63] + bytes([sig[63] | (b.identity_key[31] & 0x80)])
    DRAWS.clear()
    ss, ad, header = await alice.get_shared_secret_active(b)
    ek_priv = DRAWS[0]
    ss2, ad2, _ = await bob.get_shared_secret_passive(header)
    assert ss == ss2 and ad == ad2
    return {
        "profile": name,
        "bobIdentitySeed": bob_seed.hex(), "aliceIdentitySeed": alice_seed.hex(),
        "bobIdentityKeyEd25519": b.identity_key.hex(),
        "signedPreKeyPrivate": bob.model.signed_pre_key.priv.hex(), "signedPreKeySignature": sig.hex(),
        "oneTimePreKeyPrivate": next(iter(bob.model.pre_keys)).hex(),
        "ephemeralPrivate": ek_priv, "ephemeralPublic": header.ephemeral_key.hex(),
        "sharedSecret": ss.hex(), "associatedData": ad.hex(),
    }


async def main():
    out = {"origin": "vectors/generate_python.py with Debian python3-x3dh " + x3dh.__version__["short"] + ", python3-oldmemo, python3-twomemo",
           "cases": [await case("legacyOmemo", om), await case("omemo2", tm)]}
    with open("python-x3dh.json", "w") as f:
        json.dump(out, f, indent=2)
        f.write("\n")

asyncio.run(main())
