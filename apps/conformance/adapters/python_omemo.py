#!/usr/bin/python3
"""
Conformance adapter for Debian's python-omemo (python3-omemo 1.0.2 with python3-oldmemo and python3-twomemo
1.0.3): the omemo suite's ops on real `omemo.SessionManager` devices, both namespaces, XML written and read by
python-omemo's own `oldmemo.etree` / `twomemo.etree` (with their XML schemas).

Each device is the interop harness's python-omemo device of packages/omemo/interop/omemo_peer.py (a
`SessionManager` with an in-memory storage, a PEP view the runner feeds and an outbox), used here as a
library: this file only adds what an XMPP client adds around python-omemo, which handles nothing but the
`<encrypted>` element:
- the `<message>` around it (`to`, `type='chat'`, an XEP-0334 `<store/>` hint and a fallback `<body>`);
- OMEMO 2's XEP-0420 envelope, which python-omemo 1.0.2 neither writes nor reads: the adapter writes
  `<envelope><content><body/></content><rpad/><time/><to/><from/></envelope>` and, on receipt, checks the
  `<to>` affix against the stanza's `to` and `<from>` against its sender (ENVELOPE_MISMATCH) and returns the
  body. The check runs after python-omemo decrypted the message, so the refused message's key is used up.

Run: /usr/bin/python3 adapters/python_omemo.py   (JSON lines on stdin/stdout, see ../README.md)

Supports: profiles legacyOmemo and omemo2; ops hello and omemo.* (not envelopeTo, nor body null: python-omemo
sends messages without payload only by itself, never on request). `omemo.decryptWithKeys` (devices of fixed
keys, for vectors/omemo-v1.json) cannot go through SessionManager, which generates its own keys: it builds the
device from the python-x3dh / python-doubleratchet classes python-oldmemo and python-twomemo configure (through
adapters/python_x3dh_doubleratchet.py, imported as a library) and opens payloads with the backends' own
`decrypt_plaintext`.

Error mapping: anything raised while parsing the stanza (ElementTree, xmlschema, base64, protobuf; also the
TypeError python-omemo 1.0.2 raises for a <header> without sid, which its schema allows; the message names the type) ->
MALFORMED_STANZA; MessageNotForUs -> NO_KEY_FOR_US; NoSession -> NO_SESSION; DecryptionFailed and
KeyExchangeFailed by their cause (doubleratchet's AuthenticationFailedException -> BAD_MAC,
DuplicateMessageException -> DUPLICATE_MESSAGE, DoSProtectionException / TooManySkippedMessageKeys ->
TOO_MANY_SKIPPED, a failed AES-GCM tag (oldmemo's InvalidTag cause) or twomemo's "Authentication tag
verification failed" -> BAD_MAC, x3dh's KeyAgreementException -> UNKNOWN_PRE_KEY);
anything else INTERNAL.
"""
import asyncio
import base64
import json
import os
import secrets
import sys
import xml.etree.ElementTree as ET
from datetime import datetime, timezone
from typing import Any, Dict, List, Optional

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..", "packages", "omemo", "interop"))

import oldmemo.oldmemo as om  # noqa: E402
import omemo  # noqa: E402
import omemo_peer  # noqa: E402
import python_x3dh_doubleratchet as xdr  # noqa: E402  (the adapter next to this one, as a library)
import twomemo.twomemo as tm  # noqa: E402
import xeddsa  # noqa: E402
from omemo_peer import LEGACY, OMEMO2, Peer, to_xml  # noqa: E402

PROFILES = {"legacyOmemo": LEGACY, "omemo2": OMEMO2}
SCE = "urn:xmpp:sce:1"
CLIENT = "jabber:client"
HINTS = "urn:xmpp:hints"
OPS = ["hello", "omemo.createDevice", "omemo.pepPut", "omemo.encrypt", "omemo.decrypt", "omemo.decryptWithKeys"]


class AdapterError(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


devices: Dict[str, Peer] = {}


def bare(jid: str) -> str:
    return jid.split("/", 1)[0]


def device(args) -> Peer:
    peer = devices.get(args.get("device"))
    if peer is None:
        raise AdapterError("UNKNOWN_HANDLE", f"no device {args.get('device')!r}")
    return peer


def namespace(profile) -> str:
    if profile not in PROFILES:
        raise AdapterError("UNSUPPORTED_PROFILE", f"not an OMEMO profile: {profile!r}")
    return PROFILES[profile]


def effects(peer: Peer) -> Dict[str, Any]:
    """What the device published and sent since the last answer; sent <encrypted> elements get their <message>."""
    published, peer.published = peer.published, []
    sent, peer.sent = peer.sent, []
    return {
        "published": [{"jid": p["jid"], "node": p["node"], "itemId": str(p["itemId"]), "xml": p["xml"]} for p in published],
        "sent": [{"to": s["to"], "xml": wrap(s["to"], s["xml"], None)} for s in sent],
    }


def wrap(to: str, encrypted_xml: str, fallback: Optional[str]) -> str:
    message = ET.Element(f"{{{CLIENT}}}message", {"to": to, "type": "chat"})
    message.append(ET.fromstring(encrypted_xml))
    ET.SubElement(message, f"{{{HINTS}}}store")
    if fallback is not None:
        ET.SubElement(message, f"{{{CLIENT}}}body").text = fallback
    return to_xml(message)


def envelope(body: str, to: str, sender: str) -> bytes:
    env = ET.Element(f"{{{SCE}}}envelope")
    content = ET.SubElement(env, f"{{{SCE}}}content")
    ET.SubElement(content, f"{{{CLIENT}}}body").text = body
    ET.SubElement(env, f"{{{SCE}}}rpad").text = base64.b64encode(secrets.token_bytes(secrets.randbelow(32) + 1)).decode()
    ET.SubElement(env, f"{{{SCE}}}time", {"stamp": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")})
    ET.SubElement(env, f"{{{SCE}}}to", {"jid": to})
    ET.SubElement(env, f"{{{SCE}}}from", {"jid": sender})
    return to_xml(env).encode("utf-8")


def read_envelope(data: bytes, stanza_to: str, sender: str) -> Optional[str]:
    try:
        env = ET.fromstring(data)
    except ET.ParseError as e:
        raise AdapterError("MALFORMED_STANZA", f"the SCE envelope is not XML: {e}")
    if env.tag != f"{{{SCE}}}envelope":
        raise AdapterError("MALFORMED_STANZA", f"the payload is not an SCE envelope but {env.tag}")
    # XEP-0384 v0.8.3 §5.5.1: <to> is a MUST only in group chats and <from> a SHOULD: check them when present.
    to = env.find(f"{{{SCE}}}to")
    if to is not None and bare(to.get("jid", "")) != bare(stanza_to):
        raise AdapterError("ENVELOPE_MISMATCH", "the envelope's <to> is not the stanza's recipient")
    frm = env.find(f"{{{SCE}}}from")
    if frm is not None and bare(frm.get("jid", "")) != bare(sender):
        raise AdapterError("ENVELOPE_MISMATCH", "the envelope's <from> is not the stanza's sender")
    body = env.find(f"{{{SCE}}}content/{{{CLIENT}}}body")
    return None if body is None else (body.text or "")


def code_of_cause(e: BaseException) -> str:
    seen = e
    while seen is not None:
        name = type(seen).__name__
        if name == "AuthenticationFailedException" or name == "InvalidTag":
            return "BAD_MAC"
        if name == "DuplicateMessageException":
            return "DUPLICATE_MESSAGE"
        if name in ("DoSProtectionException", "TooManySkippedMessageKeys"):
            return "TOO_MANY_SKIPPED"
        if name == "KeyAgreementException":
            return "UNKNOWN_PRE_KEY"
        seen = seen.__cause__ or seen.__context__
    # python-twomemo's payload check raises DecryptionFailed("Authentication tag verification failed.") itself.
    if isinstance(e, omemo.DecryptionFailed) and "Authentication tag verification failed" in str(e):
        return "BAD_MAC"
    return "INTERNAL"  # a failure this adapter cannot attribute: never passed off as an expected code


async def op_hello(args):
    import oldmemo.version
    import twomemo.version

    return {
        "implementation": "python-omemo",
        "version": f"omemo {omemo.version.__version__['short']}, oldmemo {oldmemo.version.__version__['short']}, "
        f"twomemo {twomemo.version.__version__['short']}",
        "protocol": 1,
        "profiles": list(PROFILES),
        "ops": OPS,
    }


async def op_create_device(args):
    peer = Peer()
    for item in args.get("pep", []):
        peer.put_item(item["jid"], item["node"], str(item["itemId"]), item["xml"])
    await peer.cmd_create({"jid": args["jid"], "namespaces": [namespace(p) for p in args["profiles"]]})
    handle = f"device-{len(devices) + 1}"
    devices[handle] = peer
    own = await peer.own_state()
    return {"device": handle, "deviceId": own["deviceId"], **effects(peer)}


async def op_pep_put(args):
    peer = device(args)
    item = args["item"]
    await peer.cmd_pep_put({"jid": item["jid"], "node": item["node"], "itemId": item["itemId"], "xml": item["xml"]})
    return effects(peer)


async def op_encrypt(args):
    peer = device(args)
    ns = namespace(args["profile"])
    if args.get("body") is None:
        raise AdapterError("UNSUPPORTED_OP", "python-omemo sends messages without payload only by itself")
    if "envelopeTo" in args:
        raise AdapterError("UNSUPPORTED_OP", "envelopeTo is a reference-only option")
    to, body = args["to"], args["body"]
    request: Dict[str, Any] = {"to": [to], "namespace": ns}
    if ns == OMEMO2:
        request["plaintextBase64"] = base64.b64encode(envelope(body, to, peer.jid)).decode()
    else:
        request["plaintext"] = body
    out = await peer.cmd_encrypt(request)
    if out["xml"] is None:
        raise AdapterError("INTERNAL", f"no device could get a key: {out['errors']}")
    fallback = "I sent you an OMEMO encrypted message but your client doesn't seem to support that."
    return {
        "stanza": wrap(to, out["xml"], fallback),
        "keys": [{"jid": k["jid"], "deviceId": k["deviceId"], "keyExchange": k["kex"]} for k in out["keys"]],
        **effects(peer),
    }


async def op_decrypt(args):
    peer = device(args)
    manager = peer.need_manager()
    try:
        stanza = ET.fromstring(args["stanza"])
    except ET.ParseError as e:
        raise AdapterError("MALFORMED_STANZA", f"not XML: {e}")
    sender, stanza_to = bare(stanza.get("from", "")), stanza.get("to", peer.jid)
    found = [(ns, el) for ns in PROFILES.values() for el in stanza.findall(f"{{{ns}}}encrypted")]
    if len(found) != 1:
        raise AdapterError("MALFORMED_STANZA", f"{len(found)} OMEMO <encrypted> elements")
    ns, element = found[0]
    if ns not in peer.namespaces:
        raise AdapterError("MALFORMED_STANZA", f"this device does not speak {ns}")
    etree = peer.etree_for(ns)
    try:
        if ns == LEGACY:
            # Legacy needs the manager: the sign bit of the sender's Ed25519 identity is not on the wire.
            message = await etree.parse_message(element, sender, peer.jid, manager)
        else:
            message = etree.parse_message(element, sender)
    except AdapterError:
        raise
    except Exception as e:  # schema, base64, protobuf: python-omemo's parser refused the element
        raise AdapterError("MALFORMED_STANZA", f"{type(e).__name__}: {omemo_peer.describe_exception(e)}")
    own_id = (await manager.get_own_device_information())[0].device_id
    kex = next((k for m, k in message.keys if m.bare_jid == peer.jid and m.device_id == own_id), None)
    try:
        plaintext, info, _ = await manager.decrypt(message)
    except omemo.MessageNotForUs as e:
        raise AdapterError("NO_KEY_FOR_US", str(e))
    except omemo.NoSession as e:
        raise AdapterError("NO_SESSION", str(e))
    except (omemo.DecryptionFailed, omemo.KeyExchangeFailed) as e:
        raise AdapterError(code_of_cause(e), f"{type(e).__name__}: {omemo_peer.describe_exception(e)}")
    if plaintext is None:
        body = None
    elif ns == OMEMO2:
        body = read_envelope(plaintext, stanza_to, sender)
    else:
        body = plaintext.decode("utf-8", errors="replace")
    return {"body": body, "from": sender, "senderDeviceId": info.device_id, "keyExchange": kex is not None, **effects(peer)}


def b64(text, what):
    try:
        return base64.b64decode("".join((text or "").split()), validate=True)
    except ValueError as e:
        raise AdapterError("MALFORMED_STANZA", f"{what} is not base64: {e}")


async def xdr_call(op, args):
    """An op of the python-x3dh / python-doubleratchet adapter, its protocol errors kept as they are."""
    try:
        return await op(args)
    except xdr.AdapterError as e:
        raise AdapterError(e.code, str(e))


async def op_decrypt_with_keys(args):
    """A device of fixed keys, built from the same python-x3dh / python-doubleratchet classes python-oldmemo and
    python-twomemo use (adapters/python_x3dh_doubleratchet.py); payloads opened by the backends' own
    decrypt_plaintext. The stanza glue (finding our <key>, base64) is ElementTree's."""
    profile = args.get("profile")
    ns = namespace(profile)
    keys = args.get("device") or {}
    seed = bytes.fromhex(keys["identitySeed"])
    made = await xdr_call(xdr.bundle, {
        "profile": profile,
        # python-omemo keeps one Ed25519 seed; legacy OMEMO uses its X25519 scalar.
        "identityPrivateKey": (xeddsa.seed_to_priv(seed) if ns == LEGACY else seed).hex(),
        "signedPreKeyId": keys["signedPreKeyId"],
        "signedPreKeyPrivateKey": keys["signedPreKeyPrivateKey"],
        "oneTimePreKeys": keys["oneTimePreKeys"],
    })
    jid, device_id = keys["jid"], int(keys["deviceId"])
    session = None
    out = []
    for xml in args.get("stanzas", []):
        try:
            stanza = ET.fromstring(xml)
        except ET.ParseError as e:
            raise AdapterError("MALFORMED_STANZA", f"not XML: {e}")
        encrypted = stanza.find(f"{{{ns}}}encrypted")
        header = None if encrypted is None else encrypted.find(f"{{{ns}}}header")
        if header is None:
            raise AdapterError("MALFORMED_STANZA", "no <encrypted> with a <header>")
        if ns == LEGACY:
            key = next((k for k in header.findall(f"{{{ns}}}key") if k.get("rid") == str(device_id)), None)
            flag = "prekey"
        else:
            group = next((g for g in header.findall(f"{{{ns}}}keys") if g.get("jid") == jid), None)
            key = None if group is None else next((k for k in group.findall(f"{{{ns}}}key") if k.get("rid") == str(device_id)), None)
            flag = "kex"
        if key is None:
            raise AdapterError("NO_KEY_FOR_US", f"no <key> for device {device_id}")
        kex = key.get(flag) in ("true", "1")
        data = b64(key.text, "a <key>").hex()
        sid = header.get("sid")
        if sid is None or not sid.isdigit():
            raise AdapterError("MALFORMED_STANZA", "the <header> has no numeric sid")
        if session is None:
            if not kex:
                raise AdapterError("NO_SESSION", "the first stanza must carry the key exchange")
            accepted = await xdr_call(xdr.ratchet_accept, {"party": made["party"], "message": data})
            session, material = accepted["session"], bytes.fromhex(accepted["plaintext"])
        else:
            decrypted = await xdr_call(xdr.decrypt, {"session": session, "message": data, "isKeyExchange": kex})
            material = bytes.fromhex(decrypted["plaintext"])
        payload = encrypted.find(f"{{{ns}}}payload")
        body = None
        if payload is not None:
            ciphertext = b64(payload.text, "the <payload>")
            try:
                if ns == LEGACY:
                    iv_element = header.find(f"{{{ns}}}iv")
                    if iv_element is None:
                        raise AdapterError("MALFORMED_STANZA", "a legacy <header> without <iv>")
                    iv = b64(iv_element.text, "the <iv>")
                    plaintext = await om.Oldmemo.decrypt_plaintext(
                        None, om.ContentImpl(ciphertext, iv), om.PlainKeyMaterialImpl(material[:16], material[16:32]))
                    body = plaintext.decode("utf-8")
                else:
                    plaintext = await tm.Twomemo.decrypt_plaintext(
                        None, tm.ContentImpl(ciphertext), tm.PlainKeyMaterialImpl(material[:32], material[32:48]))
                    body = read_envelope(plaintext, stanza.get("to", jid), bare(stanza.get("from", "")))
            except omemo.DecryptionFailed as e:
                raise AdapterError("BAD_MAC", f"the payload does not decrypt: {e}")
        out.append({"body": body, "senderDeviceId": int(sid), "keyExchange": kex})
    return {"messages": out}


OP_HANDLERS = {
    "hello": op_hello,
    "omemo.createDevice": op_create_device,
    "omemo.pepPut": op_pep_put,
    "omemo.encrypt": op_encrypt,
    "omemo.decrypt": op_decrypt,
    "omemo.decryptWithKeys": op_decrypt_with_keys,
}


async def main() -> None:
    loop = asyncio.get_running_loop()
    while True:
        line = await loop.run_in_executor(None, sys.stdin.readline)
        if not line:
            return
        if not line.strip():
            continue
        request_id = None
        try:
            request = json.loads(line)
            request_id = request.get("id")
            handler = OP_HANDLERS.get(request.get("op"))
            if handler is None:
                raise AdapterError("UNSUPPORTED_OP", f"unknown op {request.get('op')!r}")
            answer = {"id": request_id, "ok": True, "result": await handler(request.get("args") or {})}
        except AdapterError as e:
            answer = {"id": request_id, "ok": False, "error": {"code": e.code, "message": str(e)}}
        except Exception as e:  # a bug here or in python-omemo: INTERNAL, and keep serving
            answer = {"id": request_id, "ok": False, "error": {"code": "INTERNAL", "message": f"{type(e).__name__}: {e}"}}
        # A failed op's effects are not reported; drop them so that the next answer has only its own.
        if not answer["ok"]:
            for peer in devices.values():
                peer.published, peer.sent = [], []
        sys.stdout.write(json.dumps(answer) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    asyncio.run(main())
