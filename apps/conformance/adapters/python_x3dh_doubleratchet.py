#!/usr/bin/python3
"""
Conformance adapter for Debian's python peers: python3-x3dh 1.0.x and python3-doubleratchet 1.0.x, configured
as python-omemo configures them, through the classes python3-oldmemo (legacy OMEMO,
eu.siacs.conversations.axolotl, libsignal v3 wire format) and python3-twomemo (OMEMO 2, urn:xmpp:omemo:2)
define: their X3DH states (`StateImpl`: info string and key encoding), Double Ratchets (`DoubleRatchetImpl`,
`RootChainKDFImpl`, `MessageChainKDFImpl`, `AEADImpl`: KDFs and the message format), key exchanges
(`KeyExchangeImpl`) and authenticated messages (`EncryptedKeyMaterialImpl`). python-omemo's session layer
(`Oldmemo`/`Twomemo` backends) is not used: it only encrypts its fixed-size key material, while the suites send
free-form plaintexts, so this adapter plays its part (associated-data order, key-exchange wrapping until a
reply was decrypted, skipped-key limits of 1000) on the same classes.

Run: /usr/bin/python3 adapters/python_x3dh_doubleratchet.py   (JSON lines on stdin/stdout, see ../README.md)

The xeddsa ops use Debian's python3-xeddsa (libxeddsa) directly: `libsignal` signs with
ed25519_priv_sign(k) and puts the sign bit of k·B in bit 7 of byte 63 (libsignal's curve25519_sign);
`xeddsa` signs with ed25519_priv_sign(a) where a = priv_force_sign(k, False) reduced mod q, the spec's
scalar (libxeddsa leaves k unreduced when no negation is needed, which gives other, equally valid bytes:
without this reduction the suite's byte-exact case would fail for keys of sign bit 0);
verify refuses u >= p first (XEdDSA §3 step 1, which libxeddsa's conversion lacks), then ed25519_verify
against curve25519_pub_to_ed25519_pub(u, sign bit), the bit 0 or, for `libsignal`, taken from byte 63.

Supports: profiles legacyOmemo and omemo2 (signal and signalHeaderEncrypted are Parley's own wire format,
which none of these packages implement); the x3dh, ratchet and xeddsa ops of protocol 1 (not the OMEMO
stanza or OTR ops). Result (runner, suites xeddsa, x3dh, ratchet): xeddsa 15 passed, x3dh 20 passed,
ratchet 36 passed, 0 failed, 43 skipped (the two unsupported profiles); it replays vectors/ratchet-v1.json's
legacyOmemo and omemo2 conversations byte for byte in both roles (scripts/cross_check_ratchet.ts records
that in the file's provenance), and reproduces every signature of vectors/xeddsa-v1.json byte for byte.

Differences from Parley (none fails a case; test/python-adapter.interop.test.ts pins them):
- Skipped-key limit: python-doubleratchet with python-omemo's default limits (1000) refuses a message more
  than 1000 ahead of its chain (DoSProtectionException -> TOO_MANY_SKIPPED); Parley reads up to 25,000 ahead.
- Legacy OMEMO without a one-time prekey: python-x3dh agrees on a 3-DH key exchange (require_pre_key=False),
  so x3dh.initiate/x3dh.respond accept it as Parley does; python-oldmemo builds sessions only with a one-time
  prekey, so ratchet.initiate answers MISSING_ONE_TIME_PRE_KEY where Parley starts the session.
- Non-canonical s: libxeddsa's ed25519_verify refuses L <= s < 2^253 (RFC 8032), so xeddsa.verify answers
  valid: false for s + L with or without `strict`; Parley's default accepts it (the spec's bound s < 2^253,
  as libsignal), and refuses it with strict: true. The suite allows either default.
- Low-order keys: libxeddsa's ed25519_verify (libsodium's crypto_sign_verify_detached) refuses small-order
  keys, so xeddsa.verify answers valid: false for the vectors' forgeries (R = the identity, s = 0), which the
  spec's algorithm, Parley and libsignal-protocol-c accept. The suite allows either answer, the same for every
  low-order key.

Error mapping: x3dh.KeyAgreementException -> BAD_SIGNATURE (signature) / MISSING_ONE_TIME_PRE_KEY /
UNKNOWN_PRE_KEY; AuthenticationFailedException -> BAD_MAC; DuplicateMessageException -> DUPLICATE_MESSAGE;
DoSProtectionException -> TOO_MANY_SKIPPED; DecryptionFailedException and parse errors (ValueError,
protobuf DecodeError) -> MALFORMED_MESSAGE; prekey ids the party does not have -> UNKNOWN_(SIGNED_)PRE_KEY;
xeddsa: a wrong length or variant -> INVALID_ARGUMENT, an invalid signature -> valid: false.
"""
import asyncio
import json
import secrets
import sys
import warnings

sys.dont_write_bytecode = True

import doubleratchet  # noqa: E402
import oldmemo  # noqa: E402
import oldmemo.oldmemo as om  # noqa: E402
import twomemo  # noqa: E402
import twomemo.twomemo as tm  # noqa: E402
import x3dh  # noqa: E402
import xeddsa  # noqa: E402
from doubleratchet.recommended import diffie_hellman_ratchet_curve25519  # noqa: E402
from x3dh.models import BaseStateModel, IdentityKeyPairModel, SignedPreKeyPairModel  # noqa: E402
from x3dh.types import SecretType  # noqa: E402

warnings.simplefilter("ignore")  # python-doubleratchet warns about skipped keys; stdout stays JSON only

DH = diffie_hellman_ratchet_curve25519.DiffieHellmanRatchet
MAX_SKIPPED = 1000  # python-omemo's default max_num_per_session_skipped_keys (and per message)
PEER_JID, PEER_DEVICE = "peer@conformance.invalid", 1  # python-omemo's message classes want an address


class AdapterError(Exception):
    def __init__(self, code, message):
        super().__init__(message)
        self.code = code


class Profile:
    """What differs between legacy OMEMO (python-oldmemo) and OMEMO 2 (python-twomemo)."""

    def __init__(self, name, mod):
        self.name = name
        self.mod = mod
        self.legacy = name == "legacyOmemo"
        self.secret_type = SecretType.PRIV if self.legacy else SecretType.SEED

    # Keys as the protocol encodes them: 0x05 || u (legacy), raw 32 bytes (OMEMO 2; identity in Ed25519 form).
    def encode(self, u):
        return b"\x05" + u if self.legacy else u

    def decode(self, data, what, code="INVALID_ARGUMENT"):
        if self.legacy:
            if len(data) != 33 or data[0] != 0x05:
                raise AdapterError(code, f"{what}: not 0x05 || 32 bytes")
            return data[1:]
        if len(data) != 32:
            raise AdapterError(code, f"{what}: not 32 bytes")
        return data

    def identity_ed(self, data, code="INVALID_ARGUMENT", sign_bit=False):
        """Identity key (protocol encoding) in python-omemo's Ed25519 form."""
        raw = self.decode(data, "identity key", code)
        return xeddsa.curve25519_pub_to_ed25519_pub(raw, sign_bit) if self.legacy else raw

    def identity_out(self, ed):
        return self.encode(xeddsa.ed25519_pub_to_curve25519_pub(ed)) if self.legacy else ed

    def identity_pub(self, secret):
        if self.legacy:
            return self.encode(xeddsa.priv_to_curve25519_pub(secret))
        return xeddsa.seed_to_ed25519_pub(secret)

    def state(self, identity_secret, spk_priv, spk_sig, opk_privs):
        model = BaseStateModel(
            identity_key=IdentityKeyPairModel(secret=identity_secret, secret_type=self.secret_type),
            signed_pre_key=SignedPreKeyPairModel(priv=spk_priv, sig=spk_sig, timestamp=0),
            old_signed_pre_key=None,
            pre_keys=frozenset(opk_privs),
        )
        # python-omemo's identity key format is Ed25519 for both; oldmemo's StateImpl encodes it as 0x05 || u.
        return self.mod.StateImpl.from_model(
            model, x3dh.IdentityKeyFormat.ED_25519, x3dh.HashFunction.SHA_256, self.mod.StateImpl.INFO
        )

    def sign(self, identity_secret, spk_pub):
        """The signed prekey's signature, as python-x3dh makes it (XEdDSA over the encoded key)."""
        encoded = self.mod.StateImpl._encode_public_key(x3dh.IdentityKeyFormat.CURVE_25519, spk_pub)
        if self.legacy:  # Curve25519 identity: XEdDSA with the sign bit forced to 0 (libsignal verifies that)
            return xeddsa.ed25519_priv_sign(xeddsa.priv_force_sign(identity_secret, False), encoded)
        return xeddsa.ed25519_priv_sign(xeddsa.seed_to_priv(identity_secret), encoded)

    def ad_send(self, session):
        """Associated data to encrypt with: legacy puts sender || recipient (libsignal), OMEMO 2 the X3DH AD."""
        if self.legacy and session.role == "passive":
            return session.ad[33:] + session.ad[:33]
        return session.ad

    def ad_receive(self, session):
        if self.legacy and session.role == "active":
            return session.ad[33:] + session.ad[:33]
        return session.ad

    def wrap(self, kex, authenticated):
        out = kex.serialize(authenticated)
        return out[0] if isinstance(out, tuple) else out

    def parse_kex(self, data):
        try:
            if self.legacy:
                return self.mod.KeyExchangeImpl.parse(data, False)
            return self.mod.KeyExchangeImpl.parse(data)
        except Exception as e:
            raise AdapterError("MALFORMED_MESSAGE", f"key exchange: {e!r}") from e

    def parse_message(self, data):
        try:
            em = self.mod.EncryptedKeyMaterialImpl.parse(data, PEER_JID, PEER_DEVICE).encrypted_message
        except Exception as e:
            raise AdapterError("MALFORMED_MESSAGE", f"message: {e!r}") from e
        if len(em.header.ratchet_pub) != 32:
            raise AdapterError("MALFORMED_MESSAGE", "ratchet key is not 32 bytes")
        return em

    def ratchet_args(self):
        m = self.mod
        return (DH, m.RootChainKDFImpl, m.MessageChainKDFImpl, m.DoubleRatchetImpl.MESSAGE_CHAIN_CONSTANT,
                MAX_SKIPPED, MAX_SKIPPED, m.AEADImpl)


PROFILES = {"legacyOmemo": Profile("legacyOmemo", om), "omemo2": Profile("omemo2", tm)}


# ---------------------------------------------------------------------------------------------------- helpers

def h(args, key, length=None, optional=False):
    if key not in args or args[key] is None:
        if optional:
            return None
        raise AdapterError("INVALID_ARGUMENT", f"missing {key}")
    try:
        b = bytes.fromhex(args[key])
    except (TypeError, ValueError) as e:
        raise AdapterError("INVALID_ARGUMENT", f"{key}: not hex") from e
    if length is not None and len(b) != length:
        raise AdapterError("INVALID_ARGUMENT", f"{key}: {len(b)} bytes, not {length}")
    return b


def clamp(priv):
    return bytes([priv[0] & 248]) + priv[1:31] + bytes([(priv[31] & 127) | 64])


def profile_of(args):
    p = PROFILES.get(args.get("profile"))
    if p is None:
        raise AdapterError("UNSUPPORTED_PROFILE", f"profile {args.get('profile')!r}")
    return p


def identity_secret(p, args):
    s = h(args, "identityPrivateKey", 32)
    return clamp(s) if p.legacy else s


def key_pair(args, key):
    """A fixed X25519 key pair (reproducible runs): the private key, checked against its public half."""
    kp = args.get(key)
    if kp is None:
        return None
    priv = clamp(h(kp, "privateKey", 32))
    if xeddsa.priv_to_curve25519_pub(priv) != h(kp, "publicKey", 32):
        raise AdapterError("INVALID_ARGUMENT", f"{key}: the halves do not match")
    return priv


class Fixed:
    """Feeds fixed keys to the libraries where they draw them (python-x3dh: secrets.token_bytes for EK_A;
    python-doubleratchet: DiffieHellmanRatchet._generate_priv for ratchet keys)."""

    def __init__(self, ephemeral=None, ratchet=None):
        self.ephemeral, self.ratchet = ephemeral, ratchet

    def __enter__(self):
        self.saved = secrets.token_bytes, DH.__dict__["_generate_priv"]
        if self.ephemeral is not None:
            draws = [self.ephemeral]
            secrets.token_bytes = lambda n=32: draws.pop(0) if draws and n == 32 else self.saved[0](n)
        if self.ratchet is not None:
            ratchet = [self.ratchet]
            orig = self.saved[1].__func__
            DH._generate_priv = staticmethod(lambda: ratchet.pop(0) if ratchet else orig())
        return self

    def __exit__(self, *exc):
        secrets.token_bytes = self.saved[0]
        DH._generate_priv = self.saved[1]
        return False


def dr_errors(e):
    if isinstance(e, AdapterError):
        return e
    if isinstance(e, doubleratchet.DuplicateMessageException):
        return AdapterError("DUPLICATE_MESSAGE", str(e))
    if isinstance(e, doubleratchet.DoSProtectionException):
        return AdapterError("TOO_MANY_SKIPPED", str(e))
    if isinstance(e, doubleratchet.AuthenticationFailedException):
        return AdapterError("BAD_MAC", str(e) or "authentication failed")
    if isinstance(e, doubleratchet.DecryptionFailedException):
        # Raised after the MAC was checked (framing of the authenticated bytes, padding): not a valid message.
        return AdapterError("MALFORMED_MESSAGE", repr(e.__cause__ or e))
    return None


# ------------------------------------------------------------------------------------------------------- state

parties = {}  # handle -> Party
sessions = {}  # handle -> Session
counter = [0]


def new_handle(prefix):
    counter[0] += 1
    return f"{prefix}{counter[0]}"


class Party:
    def __init__(self, p, secret, spk_id, spk_priv, spk_sig, opks):
        self.p, self.secret, self.spk_id, self.spk_priv = p, secret, spk_id, spk_priv
        self.opks = dict(opks)  # id -> priv
        self.state = p.state(secret, spk_priv, spk_sig, opks.values())


class Session:
    def __init__(self, p, role, ad, kex, dr=None, pending=None, confirmed=False):
        self.p, self.role, self.ad, self.kex, self.dr = p, role, ad, kex, dr
        self.pending = pending  # active, before the first message: (shared secret, their SPK, fixed ratchet priv)
        self.confirmed = confirmed

    def to_json(self):
        hx = lambda b: None if b is None else b.hex()  # noqa: E731
        k = self.kex
        return {
            "profile": self.p.name,
            "role": self.role,
            "ad": self.ad.hex(),
            "kex": [hx(k.header.identity_key), hx(k.header.ephemeral_key), hx(k.header.signed_pre_key),
                    hx(k.header.pre_key), k.signed_pre_key_id, k.pre_key_id],
            "dr": None if self.dr is None else self.dr.json,
            "pending": None if self.pending is None else [hx(x) for x in self.pending],
            "confirmed": self.confirmed,
        }

    @staticmethod
    def from_json(o):
        p = PROFILES[o["profile"]]
        b = lambda s: None if s is None else bytes.fromhex(s)  # noqa: E731
        ik, ek, spk, pk, spk_id, pk_id = o["kex"]
        kex = p.mod.KeyExchangeImpl(x3dh.Header(b(ik), b(ek), b(spk), b(pk)), spk_id, pk_id)
        dr = None if o["dr"] is None else p.mod.DoubleRatchetImpl.from_json(o["dr"], *p.ratchet_args())
        pending = None if o["pending"] is None else tuple(b(x) for x in o["pending"])
        if o["role"] not in ("active", "passive") or (dr is None and pending is None):
            raise ValueError("inconsistent state")
        return Session(p, o["role"], bytes.fromhex(o["ad"]), kex, dr, pending, bool(o["confirmed"]))


def get(table, args, key):
    handle = args.get(key)
    if handle not in table:
        raise AdapterError("UNKNOWN_HANDLE", f"unknown {key} {handle!r}")
    return table[handle]


# ------------------------------------------------------------------------------------------------------- x3dh

async def hello(args):
    return {
        "implementation": "python-x3dh/python-doubleratchet (Debian, OMEMO configurations of python-oldmemo/-twomemo)",
        "version": "x3dh %s, doubleratchet %s, oldmemo %s, twomemo %s, xeddsa %s" % (
            x3dh.__version__["short"], doubleratchet.__version__["short"],
            oldmemo.__version__["short"], twomemo.__version__["short"], xeddsa.__version__["short"]),
        "protocol": 1,
        "profiles": sorted(PROFILES),
        "ops": sorted(OPS),
    }


async def generate_identity(args):
    p = profile_of(args)
    secret = clamp(secrets.token_bytes(32)) if p.legacy else secrets.token_bytes(32)
    return {"privateKey": secret.hex(), "identityKey": p.identity_pub(secret).hex()}


async def bundle(args):
    p = profile_of(args)
    secret = identity_secret(p, args)
    spk_id = args.get("signedPreKeyId")
    if not isinstance(spk_id, int):
        raise AdapterError("INVALID_ARGUMENT", "signedPreKeyId")
    spk_priv = h(args, "signedPreKeyPrivateKey", 32, optional=True)
    spk_priv = clamp(spk_priv if spk_priv is not None else secrets.token_bytes(32))
    opks = {}
    for k in args.get("oneTimePreKeys", []):
        priv = h(k, "privateKey", 32, optional=True)
        opks[k["id"]] = clamp(priv if priv is not None else secrets.token_bytes(32))
    spk_pub = xeddsa.priv_to_curve25519_pub(spk_priv)
    sig = p.sign(secret, spk_pub)
    party = Party(p, secret, spk_id, spk_priv, sig, opks)
    handle = new_handle("party")
    parties[handle] = party
    return {
        "party": handle,
        "bundle": {
            "identityKey": p.identity_pub(secret).hex(),
            "signedPreKeyId": spk_id,
            "signedPreKey": p.encode(spk_pub).hex(),
            "signedPreKeySignature": sig.hex(),
            "oneTimePreKeys": [{"id": i, "publicKey": p.encode(xeddsa.priv_to_curve25519_pub(v)).hex()}
                               for i, v in opks.items()],
        },
    }


async def x3dh_active(p, args, require_pre_key):
    """python-x3dh's get_shared_secret_active on the bundle; returns (SK, AD, header, spk id, opk id)."""
    secret = identity_secret(p, args)
    b = args.get("bundle") or {}
    try:
        sig = bytes.fromhex(b["signedPreKeySignature"])
        spk = p.decode(bytes.fromhex(b["signedPreKey"]), "signed prekey", "INVALID_BUNDLE")
        opks = {k["id"]: p.decode(bytes.fromhex(k["publicKey"]), "one-time prekey", "INVALID_BUNDLE")
                for k in b["oneTimePreKeys"]}
        identity_raw = bytes.fromhex(b["identityKey"])
    except (KeyError, TypeError, ValueError) as e:
        raise AdapterError("INVALID_BUNDLE", f"bundle: {e!r}") from e
    if len(sig) != 64:
        raise AdapterError("BAD_SIGNATURE", "signature is not 64 bytes")
    # Legacy: libsignal's XEdDSA carries the Ed25519 sign bit in the signature's byte 63, python-omemo takes
    # it from there to give python-x3dh the identity key in Ed25519 form (see python-oldmemo's etree).
    sign_bit = bool(sig[63] & 0x80) if p.legacy else False
    identity = p.identity_ed(identity_raw, "INVALID_BUNDLE", sign_bit)
    if p.legacy:
        sig = sig[:63] + bytes([sig[63] & 0x7F])
    chosen = args.get("oneTimePreKeyId")
    if chosen is not None:
        if chosen not in opks:
            raise AdapterError("INVALID_ARGUMENT", f"the bundle has no one-time prekey {chosen}")
        offered = {chosen: opks[chosen]}  # python-x3dh picks one of the offered prekeys
    else:
        offered = opks
    if require_pre_key and not offered:
        raise AdapterError("MISSING_ONE_TIME_PRE_KEY", "the bundle has no one-time prekey")
    state = p.state(secret, secrets.token_bytes(32), b"\x00" * 64, [])
    try:
        with Fixed(ephemeral=key_pair(args, "ephemeralKeyPair")):
            sk, ad, header = await state.get_shared_secret_active(
                x3dh.Bundle(identity_key=identity, signed_pre_key=spk, signed_pre_key_sig=sig,
                            pre_keys=frozenset(offered.values())),
                require_pre_key=require_pre_key,
            )
    except x3dh.KeyAgreementException as e:
        code = "BAD_SIGNATURE" if "signature" in str(e) else "MISSING_ONE_TIME_PRE_KEY"
        raise AdapterError(code, str(e)) from e
    opk_id = None if header.pre_key is None else next(i for i, v in offered.items() if v == header.pre_key)
    return sk, ad, header, b["signedPreKeyId"], opk_id


async def initiate(args):
    p = profile_of(args)
    sk, ad, header, spk_id, opk_id = await x3dh_active(p, args, require_pre_key=not p.legacy)
    return {
        "sharedSecret": sk.hex(),
        "associatedData": ad.hex(),
        "keyExchange": {
            "identityKey": p.identity_out(header.identity_key).hex(),
            "ephemeralKey": p.encode(header.ephemeral_key).hex(),
            "signedPreKeyId": spk_id,
            "oneTimePreKeyId": opk_id,
        },
    }


async def x3dh_passive(party, identity_ed, ephemeral, spk_id, opk_id):
    """python-x3dh's get_shared_secret_passive, prekeys looked up by id as python-oldmemo/-twomemo do."""
    p = party.p
    if spk_id != party.spk_id:
        raise AdapterError("UNKNOWN_SIGNED_PRE_KEY", f"no signed prekey {spk_id}")
    if opk_id is None:
        if not p.legacy:
            raise AdapterError("MISSING_ONE_TIME_PRE_KEY", "OMEMO 2 requires a one-time prekey")
        opk_pub = None
    elif opk_id not in party.opks:
        raise AdapterError("UNKNOWN_PRE_KEY", f"no one-time prekey {opk_id}")
    else:
        opk_pub = xeddsa.priv_to_curve25519_pub(party.opks[opk_id])
    header = x3dh.Header(identity_ed, ephemeral, xeddsa.priv_to_curve25519_pub(party.spk_priv), opk_pub)
    try:
        sk, ad, spk = await party.state.get_shared_secret_passive(header, require_pre_key=not p.legacy)
    except x3dh.KeyAgreementException as e:
        raise AdapterError("UNKNOWN_PRE_KEY", str(e)) from e
    return sk, ad, spk, header


def consume(party, opk_id):
    if opk_id is not None:
        party.state.delete_pre_key(xeddsa.priv_to_curve25519_pub(party.opks.pop(opk_id)))


async def respond(args):
    party = get(parties, args, "party")
    p = party.p
    k = args.get("keyExchange") or {}
    identity = p.identity_ed(h(k, "identityKey"))
    ephemeral = p.decode(h(k, "ephemeralKey"), "ephemeral key")
    opk_id = k.get("oneTimePreKeyId")
    sk, ad, _, _ = await x3dh_passive(party, identity, ephemeral, k.get("signedPreKeyId"), opk_id)
    consume(party, opk_id)
    return {"sharedSecret": sk.hex(), "associatedData": ad.hex()}


# ---------------------------------------------------------------------------------------------------- ratchet

async def ratchet_initiate(args):
    p = profile_of(args)
    # python-oldmemo and python-twomemo build sessions only with a one-time prekey (require_pre_key=True).
    sk, ad, header, spk_id, opk_id = await x3dh_active(p, args, require_pre_key=True)
    kex = p.mod.KeyExchangeImpl(header, spk_id, opk_id)
    fixed = key_pair(args, "ratchetKeyPair")
    handle = new_handle("session")
    sessions[handle] = Session(p, "active", ad, kex, pending=(sk, header.signed_pre_key, fixed))
    return {"session": handle}


async def ratchet_accept(args):
    party = get(parties, args, "party")
    p = party.p
    kex, authenticated = p.parse_kex(h(args, "message"))
    em = p.parse_message(authenticated)
    opk_id = kex.pre_key_id
    sk, ad, spk, header = await x3dh_passive(
        party, kex.header.identity_key, kex.header.ephemeral_key, kex.signed_pre_key_id, opk_id)
    try:
        with Fixed(ratchet=key_pair(args, "nextRatchetKeyPair")):
            dr, plaintext = await p.mod.DoubleRatchetImpl.decrypt_initial_message(
                *p.ratchet_args(), sk, spk.priv, em, ad)
    except Exception as e:
        raise (dr_errors(e) or e) from e
    consume(party, opk_id)
    filled = p.mod.KeyExchangeImpl(header, kex.signed_pre_key_id, opk_id)
    handle = new_handle("session")
    sessions[handle] = Session(p, "passive", ad, filled, dr)
    return {"session": handle, "plaintext": plaintext.hex(), "identityKey": p.identity_out(kex.header.identity_key).hex()}


async def encrypt(args):
    s = get(sessions, args, "session")
    p = s.p
    plaintext = h(args, "plaintext")
    if s.dr is None:
        sk, their_spk, fixed = s.pending
        with Fixed(ratchet=fixed):
            dr, em = await p.mod.DoubleRatchetImpl.encrypt_initial_message(
                *p.ratchet_args(), sk, their_spk, plaintext, s.ad)
        s.dr, s.pending = dr, None
    else:
        em = await s.dr.encrypt_message(plaintext, p.ad_send(s))
    authenticated = em.ciphertext
    # python-omemo's SessionManager repeats the key exchange until the active session decrypted a reply.
    if s.role == "active" and not s.confirmed:
        return {"message": p.wrap(s.kex, authenticated).hex(), "isKeyExchange": True}
    return {"message": authenticated.hex(), "isKeyExchange": False}


async def decrypt(args):
    s = get(sessions, args, "session")
    p = s.p
    data = h(args, "message")
    if args.get("isKeyExchange"):
        kex, data = p.parse_kex(data)
        if s.role != "passive" or not kex.builds_same_session(s.kex):
            raise AdapterError("KEY_EXCHANGE_MISMATCH", "the key exchange does not build this session")
    em = p.parse_message(data)
    if s.dr is None:
        raise AdapterError("INVALID_STATE", "nothing was sent yet, so nothing can be received")
    try:
        with Fixed(ratchet=key_pair(args, "nextRatchetKeyPair")):
            plaintext = await s.dr.decrypt_message(em, p.ad_receive(s))
    except Exception as e:
        raise (dr_errors(e) or e) from e
    s.confirmed = True
    return {"plaintext": plaintext.hex()}


async def inspect(args):
    p = profile_of(args)
    data = h(args, "message")
    kex_out = None
    if args.get("isKeyExchange"):
        kex, data = p.parse_kex(data)
        kex_out = {
            "identityKey": p.identity_out(kex.header.identity_key).hex(),
            "ephemeralKey": p.encode(kex.header.ephemeral_key).hex(),
            "signedPreKeyId": kex.signed_pre_key_id,
            "oneTimePreKeyId": kex.pre_key_id,
        }
    header = p.parse_message(data).header
    return {
        "isKeyExchange": bool(args.get("isKeyExchange")),
        "keyExchange": kex_out,
        "message": data.hex(),
        "header": {
            "ratchetKey": header.ratchet_pub.hex(),
            "previousCounter": header.previous_sending_chain_length,
            "counter": header.sending_chain_length,
        },
    }


async def serialize(args):
    s = get(sessions, args, "session")
    return {"state": json.dumps(s.to_json()).encode().hex()}


async def deserialize(args):
    p = profile_of(args)
    try:
        o = json.loads(bytes.fromhex(args["state"]).decode())
        if o.get("profile") != p.name:
            raise ValueError("state of another profile")
        s = Session.from_json(o)
    except Exception as e:
        raise AdapterError("INVALID_SESSION", repr(e)) from e
    handle = new_handle("session")
    sessions[handle] = s
    return {"session": handle}


# ----------------------------------------------------------------------------------------------------- xeddsa

Q = 2**252 + 27742317777372353535851937790883648493  # the base point's order (L)
P = 2**255 - 19


def variant_of(args):
    v = args.get("variant")
    if v not in ("xeddsa", "libsignal"):
        raise AdapterError("INVALID_ARGUMENT", f"variant {v!r}")
    return v


async def xeddsa_sign(args):
    variant = variant_of(args)
    k = clamp(h(args, "privateKey", 32))
    msg, nonce = h(args, "message"), h(args, "nonce", 64)
    if variant == "libsignal":  # curve25519_sign: k as is, the sign bit of k·B in bit 7 of byte 63
        sig = bytearray(xeddsa.ed25519_priv_sign(k, msg, nonce))
        sig[63] |= xeddsa.priv_to_ed25519_pub(k)[31] & 0x80
        return {"signature": bytes(sig).hex()}
    # The spec's a = ±k mod q: priv_force_sign negates when needed but leaves k unreduced otherwise, which
    # would put another scalar into the nonce hash (a valid signature, other bytes).
    a = int.from_bytes(xeddsa.priv_force_sign(k, False), "little") % Q
    return {"signature": xeddsa.ed25519_priv_sign(a.to_bytes(32, "little"), msg, nonce).hex()}


async def xeddsa_verify(args):
    variant = variant_of(args)
    pub, msg, sig = h(args, "publicKey", 32), h(args, "message"), h(args, "signature", 64)
    if not isinstance(args.get("strict", False), bool):
        raise AdapterError("INVALID_ARGUMENT", "strict must be a boolean")
    # libxeddsa's ed25519_verify always refuses s >= L, so `strict` changes nothing here.
    if int.from_bytes(pub, "little") >= P:  # XEdDSA §3 verify, step 1 (libxeddsa's conversion does not check)
        return {"valid": False}
    bit = False
    if variant == "libsignal":
        bit = bool(sig[63] & 0x80)
        sig = sig[:63] + bytes([sig[63] & 0x7F])
    return {"valid": xeddsa.ed25519_verify(sig, xeddsa.curve25519_pub_to_ed25519_pub(pub, bit), msg)}


async def xeddsa_to_edwards(args):
    k = clamp(h(args, "privateKey", 32))
    ed = xeddsa.priv_to_ed25519_pub(k)
    return {"publicKey": xeddsa.priv_to_curve25519_pub(k).hex(), "edwardsPublicKey": ed.hex(), "signBit": ed[31] >> 7}


OPS = {
    "hello": hello,
    "x3dh.generateIdentity": generate_identity,
    "x3dh.bundle": bundle,
    "x3dh.initiate": initiate,
    "x3dh.respond": respond,
    "ratchet.initiate": ratchet_initiate,
    "ratchet.accept": ratchet_accept,
    "ratchet.encrypt": encrypt,
    "ratchet.decrypt": decrypt,
    "ratchet.inspect": inspect,
    "ratchet.serialize": serialize,
    "ratchet.deserialize": deserialize,
    "xeddsa.sign": xeddsa_sign,
    "xeddsa.verify": xeddsa_verify,
    "xeddsa.toEdwards": xeddsa_to_edwards,
}


async def answer(request):
    rid = request.get("id")
    try:
        op = OPS.get(request.get("op"))
        if op is None:
            raise AdapterError("UNSUPPORTED_OP", f"unknown op {request.get('op')!r}")
        args = request.get("args") or {}
        if not isinstance(args, dict):
            raise AdapterError("INVALID_ARGUMENT", "args is not an object")
        return {"id": rid, "ok": True, "result": await op(args)}
    except AdapterError as e:
        return {"id": rid, "ok": False, "error": {"code": e.code, "message": str(e)}}
    except Exception as e:  # a bug in the adapter or a library error without a protocol code
        return {"id": rid, "ok": False, "error": {"code": "INTERNAL", "message": repr(e)}}


async def main():
    loop = asyncio.get_running_loop()
    while True:
        line = await loop.run_in_executor(None, sys.stdin.readline)
        if not line:
            return
        if not line.strip():
            continue
        try:
            request = json.loads(line)
        except ValueError:
            continue
        sys.stdout.write(json.dumps(await answer(request)) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    asyncio.run(main())
