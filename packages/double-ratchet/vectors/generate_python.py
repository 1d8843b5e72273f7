#!/usr/bin/python3
"""
Generates known-answer vectors for @parley/double-ratchet (and @parley/x3dh) from the Debian
python peers: python3-x3dh, python3-doubleratchet, python3-oldmemo, python3-twomemo.

Run with Debian's interpreter (the peers live there):  /usr/bin/python3 vectors/generate_python.py
Writes vectors/python-peers.json.

Every random value the peers draw (secrets.token_bytes, and the Double Ratchet's ratchet key
generation) comes from a deterministic SHA-256 counter stream and is recorded, so our test can
replay the same keys in the same order and must produce byte-identical messages.

Conversation (both profiles):
  Alice (initiator) a1, a2          -> both wrapped in the key exchange (no reply yet)
  Bob accepts a1, decrypts a2, sends b1, b2
  Alice decrypts b2 then b1 (out of order), sends a3, a4
  Bob decrypts a4 then a3 (out of order), sends b3; Alice decrypts b3
"""
import asyncio
import hashlib
import json
import secrets
import sys

import doubleratchet
from doubleratchet.recommended import diffie_hellman_ratchet_curve25519
import x3dh
import x3dh.identity_key_pair
import xeddsa

import oldmemo.oldmemo as om
import twomemo.twomemo as tm
from oldmemo.oldmemo_pb2 import OMEMOKeyExchange as OldKeyExchange
from twomemo.twomemo_pb2 import OMEMOKeyExchange as TwoKeyExchange, OMEMOAuthenticatedMessage as TwoAuth

DRAWS = []  # (label, hex) in order
COUNTER = [0]
LABEL = ["?"]


def det_token_bytes(n=32):
    out = b""
    while len(out) < n:
        out += hashlib.sha256(b"parley-vectors-" + COUNTER[0].to_bytes(8, "big")).digest()
        COUNTER[0] += 1
    out = out[:n]
    DRAWS.append((LABEL[0], out.hex()))
    return out


secrets.token_bytes = det_token_bytes
diffie_hellman_ratchet_curve25519.DiffieHellmanRatchet._generate_priv = staticmethod(lambda: det_token_bytes(32))


def draws_for(party):
    return [h for (label, h) in DRAWS if label == party]


async def conversation(name, mod, encode_kex, parse_kex_inner, ad_swap):
    DRAWS.clear()
    LABEL[0] = "setup"
    bob_seed = det_token_bytes(32)
    alice_seed = det_token_bytes(32)
    fmt = x3dh.IdentityKeyFormat.ED_25519
    bob = mod.StateImpl.create(fmt, x3dh.HashFunction.SHA_256, mod.StateImpl.INFO,
                               x3dh.identity_key_pair.IdentityKeyPairSeed(bob_seed))
    bob.generate_pre_keys(1)
    alice = mod.StateImpl.create(fmt, x3dh.HashFunction.SHA_256, mod.StateImpl.INFO,
                                 x3dh.identity_key_pair.IdentityKeyPairSeed(alice_seed))
    spk_id, opk_id = 7, 42
    bundle = bob.bundle
    spk_priv = bob.model.signed_pre_key.priv
    opk_priv = next(iter(bob.model.pre_keys))
    sig = bundle.signed_pre_key_sig
    if name == "legacyOmemo":
        # python-oldmemo etree.serialize_bundle: the Ed25519 identity key's sign bit goes into sig[63].
        sig = sig[:63] + bytes([sig[63] | (bundle.identity_key[31] & 0x80)])

    kw = dict(dos_protection_threshold=1000, max_num_skipped_message_keys=1000)
    dr_args = (diffie_hellman_ratchet_curve25519.DiffieHellmanRatchet, mod.RootChainKDFImpl,
               mod.MessageChainKDFImpl, mod.DoubleRatchetImpl.MESSAGE_CHAIN_CONSTANT,
               kw["dos_protection_threshold"], kw["max_num_skipped_message_keys"], mod.AEADImpl)

    LABEL[0] = "alice"
    ss_a, ad_a, header = await alice.get_shared_secret_active(bundle)
    plaintexts = {k: (k + " from the python peer (" + name + ")").encode() for k in ["a1", "a2", "a3", "a4", "b1", "b2", "b3"]}
    # Legacy OMEMO's MAC order is sender || receiver; python-oldmemo swaps the X3DH AD for the passive side.
    ad_alice_send = ad_a
    dr_a, m1 = await mod.DoubleRatchetImpl.encrypt_initial_message(*dr_args, ss_a, bundle.signed_pre_key, plaintexts["a1"], ad_alice_send)
    m2 = await dr_a.encrypt_message(plaintexts["a2"], ad_alice_send)
    kex = lambda m: encode_kex(opk_id, spk_id, header, m.ciphertext)
    wire = {"a1": kex(m1), "a2": kex(m2)}

    LABEL[0] = "bob"
    ss_b, ad_b, _spk = await bob.get_shared_secret_passive(header)
    assert ss_a == ss_b and ad_a == ad_b
    ad_bob_recv = ad_b
    ad_bob_send = ad_swap(ad_b)
    dr_b, p1 = await mod.DoubleRatchetImpl.decrypt_initial_message(*dr_args, ss_b, spk_priv, m1, ad_bob_recv)
    assert p1 == plaintexts["a1"]
    assert await dr_b.decrypt_message(m2, ad_bob_recv) == plaintexts["a2"]
    b1 = await dr_b.encrypt_message(plaintexts["b1"], ad_bob_send)
    b2 = await dr_b.encrypt_message(plaintexts["b2"], ad_bob_send)
    wire["b1"], wire["b2"] = b1.ciphertext, b2.ciphertext

    LABEL[0] = "alice"
    ad_alice_recv = ad_swap(ad_a)
    assert await dr_a.decrypt_message(b2, ad_alice_recv) == plaintexts["b2"]
    assert await dr_a.decrypt_message(b1, ad_alice_recv) == plaintexts["b1"]
    a3 = await dr_a.encrypt_message(plaintexts["a3"], ad_alice_send)
    a4 = await dr_a.encrypt_message(plaintexts["a4"], ad_alice_send)
    wire["a3"], wire["a4"] = a3.ciphertext, a4.ciphertext

    LABEL[0] = "bob"
    assert await dr_b.decrypt_message(a4, ad_bob_recv) == plaintexts["a4"]
    assert await dr_b.decrypt_message(a3, ad_bob_recv) == plaintexts["a3"]
    b3 = await dr_b.encrypt_message(plaintexts["b3"], ad_bob_send)
    wire["b3"] = b3.ciphertext
    LABEL[0] = "alice"
    assert await dr_a.decrypt_message(b3, ad_alice_recv) == plaintexts["b3"]

    return {
        "profile": name,
        "bob": {
            "identitySeed": bob_seed.hex(),
            "identityKey": bundle.identity_key.hex(),
            "signedPreKey": {"id": spk_id, "private": spk_priv.hex(), "public": bundle.signed_pre_key.hex(), "signature": sig.hex()},
            "oneTimePreKey": {"id": opk_id, "private": opk_priv.hex(), "public": next(iter(bundle.pre_keys)).hex()},
            "randomDraws": draws_for("bob"),
        },
        "alice": {"identitySeed": alice_seed.hex(), "randomDraws": draws_for("alice")},
        "sharedSecret": ss_a.hex(),
        "associatedData": ad_a.hex(),
        "plaintexts": {k: v.decode() for k, v in plaintexts.items()},
        "messages": {k: v.hex() for k, v in wire.items()},
        "order": ["a1", "a2", "b1", "b2", "a3", "a4", "b3"],
    }


def old_kex(opk_id, spk_id, header, authenticated):
    return b"\x33" + OldKeyExchange(
        pk_id=opk_id, spk_id=spk_id,
        ik=om.StateImpl.serialize_public_key(xeddsa.ed25519_pub_to_curve25519_pub(header.identity_key)),
        ek=om.StateImpl.serialize_public_key(header.ephemeral_key),
        message=authenticated).SerializeToString()


def two_kex(opk_id, spk_id, header, authenticated):
    return TwoKeyExchange(pk_id=opk_id, spk_id=spk_id, ik=header.identity_key, ek=header.ephemeral_key,
                          message=TwoAuth.FromString(authenticated)).SerializeToString()


async def main():
    legacy = await conversation("legacyOmemo", om, old_kex, None, lambda ad: ad[33:] + ad[:33])
    two = await conversation("omemo2", tm, two_kex, None, lambda ad: ad)
    versions = {}
    for pkg in ["x3dh", "doubleratchet", "oldmemo", "twomemo", "xeddsa"]:
        versions[pkg] = __import__(pkg).__version__["short"] if isinstance(__import__(pkg).__version__, dict) else str(__import__(pkg).__version__)
    out = {
        "origin": "generated by vectors/generate_python.py with Debian's python3-x3dh, python3-doubleratchet, python3-oldmemo, python3-twomemo",
        "peerVersions": versions,
        "conversations": [legacy, two],
    }
    with open(sys.argv[1] if len(sys.argv) > 1 else "python-peers.json", "w") as f:
        json.dump(out, f, indent=2)
        f.write("\n")


asyncio.run(main())
