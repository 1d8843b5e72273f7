#!/usr/bin/python3
"""python-omemo (Debian: python3-omemo 1.0.2, python3-oldmemo / python3-twomemo 1.0.3) as one OMEMO device.

The independent side of @parley/omemo's interop tests. One long-running process is ONE device of one
account: a real `omemo.SessionManager` with the `oldmemo.Oldmemo` and/or `twomemo.Twomemo` backends (one
identity for both), an in-memory `omemo.Storage`, and XMPP replaced by:

- a simulated PEP view that the test controls: what this device publishes is answered in `published`, what
  others publish is fed in with `pep.put`. `_download_bundle` / `_download_device_list` read that view and
  parse it with the backend's own `etree.parse_bundle` / `etree.parse_device_list`, so XML written by
  anyone else goes through python-omemo's own parser (and its XML schema);
- an outbox: whatever the session manager sends by itself through `_send_message` (empty messages that
  complete a key exchange, heartbeats against staleness, session replacements) is answered in `sent`,
  serialized with the backend's `etree.serialize_message`, for the test to deliver (or lose).

Protocol: one JSON object per line on stdin, one JSON object per line on stdout (same order). Every answer
carries `published`, `sent` and `warnings` (python-omemo's WARNING+ log lines) for what happened while it was
handled, and either `"ok": true` plus the command's fields, or `"ok": false, "error": {"type", "message",
"causes", "traceback"}`. The schema is in README.md next to this file.

XML strings are produced by `xml.etree.ElementTree.tostring` with the backend's namespace as the default
namespace (`<list xmlns="eu.siacs.conversations.axolotl">`, not `<ns0:list xmlns:ns0=...>`), which is how an
XMPP library puts these elements on the wire. Plaintexts are UTF-8 strings; keys and key material base64.
"""
import asyncio
import base64
import json
import logging
import random
import secrets
import sys
import traceback
import xml.etree.ElementTree as ET
from xml.sax.saxutils import escape, quoteattr
from typing import Any, Dict, FrozenSet, List, Optional

sys.dont_write_bytecode = True  # no __pycache__ next to the sources

import omemo  # noqa: E402
from omemo.session import Initiation  # noqa: E402
from omemo.storage import Just, Nothing, Storage  # noqa: E402

LEGACY = "eu.siacs.conversations.axolotl"
OMEMO2 = "urn:xmpp:omemo:2"

# PEP nodes and item ids (XEP-0384 v0.3 §4.2-4.3; v0.8 §5.3.1-5.3.2).
DEVICE_LIST_NODE = {LEGACY: f"{LEGACY}.devicelist", OMEMO2: f"{OMEMO2}:devices"}
LEGACY_BUNDLE_NODE_PREFIX = f"{LEGACY}.bundles:"
OMEMO2_BUNDLE_NODE = f"{OMEMO2}:bundles"

TRUST_LEVELS = {
    "trusted": omemo.TrustLevel.TRUSTED,
    "distrusted": omemo.TrustLevel.DISTRUSTED,
    "undecided": omemo.TrustLevel.UNDECIDED,
}


class PeerError(Exception):
    """A request the harness itself refuses (bad arguments, wrong order of commands)."""


def make_deterministic(seed: int) -> None:
    """Feeds every random choice python-omemo makes from random.Random(seed): device id, identity, prekeys,
    signatures, X3DH ephemeral keys and prekey choice, payload keys and IVs, ratchet keys. Together with
    PYTHONHASHSEED=0 (set iteration order) a seeded run repeats; only the order of <key> elements of a
    message to several devices still varies (python-omemo keeps them in a set of objects)."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
    from doubleratchet.recommended import diffie_hellman_ratchet_curve25519

    rng = random.Random(seed)
    secrets.token_bytes = lambda n=32: rng.randbytes(n)
    secrets.choice = lambda seq: seq[rng.randrange(len(seq))]
    secrets.randbelow = lambda n: rng.randrange(n)

    def generate_priv() -> bytes:
        return X25519PrivateKey.from_private_bytes(rng.randbytes(32)).private_bytes(
            encoding=serialization.Encoding.Raw,
            format=serialization.PrivateFormat.Raw,
            encryption_algorithm=serialization.NoEncryption(),
        )

    diffie_hellman_ratchet_curve25519.DiffieHellmanRatchet._generate_priv = staticmethod(generate_priv)


class MemoryStorage(Storage):
    """python-omemo's key-value storage, in memory. Values are kept as JSON text so that every value really
    is JSON (what a persistent storage would hold) and no object is shared with the library; the cache of the
    base class is off so that `dump` sees every write."""

    def __init__(self, data: Optional[Dict[str, str]] = None) -> None:
        super().__init__(True)
        self.data: Dict[str, str] = dict(data or {})

    async def _load(self, key: str):
        return Just(json.loads(self.data[key])) if key in self.data else Nothing()

    async def _store(self, key: str, value) -> None:
        self.data[key] = json.dumps(value)

    async def _delete(self, key: str) -> None:
        self.data.pop(key, None)


class WarningCollector(logging.Handler):
    """Collects python-omemo's warnings (e.g. "Key exchange replaces existing session.") for the answer."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.records: List[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(f"{record.name}: {record.getMessage()}")


def to_xml(element: ET.Element) -> str:
    """Serializes an element built by oldmemo.etree / twomemo.etree as an XMPP library puts it on the wire:
    the namespace as a default `xmlns` (ElementTree's own tostring would write `ns0:` prefixes, and its
    default_namespace option refuses unqualified attributes). Text and attributes are escaped; nothing else
    is added or reordered."""

    def write(elt: ET.Element, parent_ns: Optional[str], out: List[str]) -> None:
        if not elt.tag.startswith("{"):
            raise ValueError(f"unqualified element {elt.tag}")
        ns, local = elt.tag[1:].split("}", 1)
        out.append(f"<{local}")
        if ns != parent_ns:
            out.append(f" xmlns={quoteattr(ns)}")
        for key, value in elt.attrib.items():
            out.append(f" {key}={quoteattr(value)}")
        if elt.text is None and len(elt) == 0:
            out.append("/>")
            return
        out.append(">")
        if elt.text is not None:
            out.append(escape(elt.text))
        for child in elt:
            write(child, ns, out)
            if child.tail is not None:
                out.append(escape(child.tail))
        out.append(f"</{local}>")

    parts: List[str] = []
    write(element, None, parts)
    return "".join(parts)


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


class Peer:
    def __init__(self) -> None:
        self.jid: Optional[str] = None
        self.namespaces: List[str] = []
        self.blind_trust = True
        self.create_options: Dict[str, Any] = {}
        self.storage = MemoryStorage()
        self.manager: Optional[omemo.SessionManager] = None
        self.rotation_task: Optional[asyncio.Task] = None
        self.etree: Dict[str, Any] = {}
        # The PEP view: (owner bare JID, node) -> {item id: XML text}, in publication order.
        self.pep: Dict[tuple, Dict[str, str]] = {}
        self.published: List[Dict[str, Any]] = []
        self.sent: List[Dict[str, Any]] = []

    # ------------------------------------------------------------------ PEP view and outbox

    def etree_for(self, namespace: str):
        if namespace not in self.etree:
            if namespace == LEGACY:
                import oldmemo.etree as etree
            elif namespace == OMEMO2:
                import twomemo.etree as etree
            else:
                raise omemo.UnknownNamespace(f"unknown namespace {namespace}")
            self.etree[namespace] = etree
        return self.etree[namespace]

    @staticmethod
    def bundle_address(namespace: str, device_id: int):
        if namespace == LEGACY:
            return f"{LEGACY_BUNDLE_NODE_PREFIX}{device_id}", "current"
        if namespace == OMEMO2:
            return OMEMO2_BUNDLE_NODE, str(device_id)
        raise omemo.UnknownNamespace(f"unknown namespace {namespace}")

    def publish(self, node: str, item_id: str, xml: Optional[str]) -> None:
        """This device publishes to (or, with xml None, retracts from) its own account's PEP service."""
        self.put_item(self.jid, node, item_id, xml)
        self.published.append({"jid": self.jid, "node": node, "itemId": item_id, "xml": xml})

    def put_item(self, jid: str, node: str, item_id: str, xml: Optional[str]) -> None:
        items = self.pep.setdefault((jid, node), {})
        items.pop(item_id, None)  # a republished item becomes the newest
        if xml is not None:
            items[item_id] = xml

    def latest_item(self, jid: str, node: str, item_id: Optional[str]) -> Optional[str]:
        items = self.pep.get((jid, node), {})
        if item_id is not None:
            return items.get(item_id)
        return next(reversed(items.values()), None)

    def namespace_of_device_list_node(self, node: str) -> Optional[str]:
        return next((ns for ns, n in DEVICE_LIST_NODE.items() if n == node), None)

    def parse_device_list_xml(self, namespace: str, xml: str) -> Dict[int, Optional[str]]:
        return self.etree_for(namespace).parse_device_list(ET.fromstring(xml))

    # ------------------------------------------------------------------ the session manager

    def manager_class(self):
        peer = self

        class Manager(omemo.SessionManager):
            async def _upload_bundle(self, bundle: omemo.Bundle) -> None:
                node, item_id = peer.bundle_address(bundle.namespace, bundle.device_id)
                etree = peer.etree_for(bundle.namespace)
                peer.publish(node, item_id, to_xml(etree.serialize_bundle(bundle)))

            async def _download_bundle(self, namespace: str, bare_jid: str, device_id: int) -> omemo.Bundle:
                node, item_id = peer.bundle_address(namespace, device_id)
                xml = peer.latest_item(bare_jid, node, item_id)
                if xml is None:
                    raise omemo.BundleNotFound(f"no item {item_id} at {bare_jid} {node}")
                try:
                    return peer.etree_for(namespace).parse_bundle(ET.fromstring(xml), bare_jid, device_id)
                except Exception as e:  # schema violations, bad keys: what a failed fetch looks like to it
                    raise omemo.BundleDownloadFailed(f"bundle {bare_jid} {node} {item_id} unparsable: {e}") from e

            async def _delete_bundle(self, namespace: str, device_id: int) -> None:
                node, item_id = peer.bundle_address(namespace, device_id)
                peer.publish(node, item_id, None)

            async def _upload_device_list(self, namespace: str, device_list: Dict[int, Optional[str]]) -> None:
                etree = peer.etree_for(namespace)
                peer.publish(
                    DEVICE_LIST_NODE[namespace], "current", to_xml(etree.serialize_device_list(device_list))
                )

            async def _download_device_list(self, namespace: str, bare_jid: str) -> Dict[int, Optional[str]]:
                xml = peer.latest_item(bare_jid, DEVICE_LIST_NODE[namespace], None)
                if xml is None:
                    return {}
                try:
                    return peer.parse_device_list_xml(namespace, xml)
                except Exception as e:
                    raise omemo.DeviceListDownloadFailed(f"device list of {bare_jid} unparsable: {e}") from e

            async def _evaluate_custom_trust_level(self, device: omemo.DeviceInformation) -> omemo.TrustLevel:
                level = TRUST_LEVELS.get(device.trust_level_name)
                if level is None:
                    raise omemo.UnknownTrustLevel(f"unknown trust level {device.trust_level_name}")
                return level

            async def _make_trust_decision(
                self, undecided: FrozenSet[omemo.DeviceInformation], identifier: Optional[str]
            ) -> None:
                # Blind trust: what the tests want by default. Otherwise the devices stay undecided and
                # encrypt fails with StillUndecided, as it would for an app whose user did not decide.
                if peer.blind_trust:
                    for device in undecided:
                        await self.set_trust(device.bare_jid, device.identity_key, "trusted")

            async def _send_message(self, message: omemo.Message, bare_jid: str) -> None:
                peer.sent.append(peer.describe_message(message, bare_jid))

        return Manager

    def describe_message(self, message: omemo.Message, to: Optional[str]) -> Dict[str, Any]:
        etree = self.etree_for(message.namespace)
        keys = sorted(
            (
                {"jid": material.bare_jid, "deviceId": material.device_id, "kex": key_exchange is not None}
                for material, key_exchange in message.keys
            ),
            key=lambda k: (k["jid"], k["deviceId"]),
        )
        out = {
            "namespace": message.namespace,
            "from": message.bare_jid,
            "fromDeviceId": message.device_id,
            "empty": message.content.empty,
            "keys": keys,
            "xml": to_xml(etree.serialize_message(message)),
        }
        if to is not None:
            out["to"] = to
        return out

    async def start_manager(self) -> None:
        """SessionManager.create: loads the account from storage, or on the first run generates a device id,
        the keys and 100 prekeys per backend, publishes the bundles and adds itself to the device lists."""
        opts = self.create_options
        backends = []
        for namespace in self.namespaces:
            if namespace == LEGACY:
                import oldmemo

                backends.append(oldmemo.Oldmemo(self.storage))
            elif namespace == OMEMO2:
                import twomemo

                backends.append(twomemo.Twomemo(self.storage))
            else:
                raise PeerError(f"unknown namespace {namespace}")
        tasks_before = asyncio.all_tasks()
        self.manager = await self.manager_class().create(
            backends,
            self.storage,
            self.jid,
            opts.get("label"),
            "undecided",
            signed_pre_key_rotation_period=int(opts.get("signedPreKeyRotationPeriod", 7 * 24 * 60 * 60)),
            pre_key_refill_threshold=int(opts.get("preKeyRefillThreshold", 99)),
        )
        # create() starts the signed-prekey rotation loop with asyncio.ensure_future; keep it to stop it on
        # restore (a restarted device must not run two loops).
        new_tasks = asyncio.all_tasks() - tasks_before
        self.rotation_task = next(iter(new_tasks), None)
        # A client receives the last device list of every contact it follows as PEP notifications after
        # login (+notify); feed what the view holds, as such a client would.
        for (jid, node), items in list(self.pep.items()):
            namespace = self.namespace_of_device_list_node(node)
            if jid != self.jid and namespace in self.namespaces and items:
                xml = next(reversed(items.values()))
                await self.manager.update_device_list(namespace, jid, self.parse_device_list_xml(namespace, xml))
        # create() leaves the manager in history-synchronization mode (prekeys hidden instead of deleted,
        # empty messages queued); a client leaves it once its MAM catch-up is done.
        if not opts.get("historySync", False):
            await self.manager.after_history_sync()

    def need_manager(self) -> omemo.SessionManager:
        if self.manager is None:
            raise PeerError("no session manager yet: send create first")
        return self.manager

    def backend(self, namespace: str):
        manager = self.need_manager()
        backends = manager._SessionManager__backends  # the loaded backends, in priority order
        found = next((b for b in backends if b.namespace == namespace), None)
        if found is None:
            raise omemo.UnknownNamespace(f"backend {namespace} not loaded")
        return found

    async def device(self, jid: str, device_id: int) -> omemo.DeviceInformation:
        devices = await self.need_manager().get_device_information(jid)
        found = next((d for d in devices if d.device_id == device_id), None)
        if found is None:
            raise PeerError(f"device {device_id} of {jid} unknown")
        return found

    async def own_state(self) -> Dict[str, Any]:
        manager = self.need_manager()
        own, _ = await manager.get_own_device_information()
        bundles = {}
        for namespace in self.namespaces:
            backend = self.backend(namespace)
            bundle = await backend.get_bundle(self.jid, own.device_id)
            bundles[namespace] = {
                "signedPreKeyId": bundle.signed_pre_key_id,
                "preKeyIds": sorted(bundle.pre_key_ids.values()),
                "signedPreKeyAge": await backend.signed_pre_key_age(),
            }
        return {
            "jid": self.jid,
            "deviceId": own.device_id,
            "identityKey": b64(own.identity_key),
            "fingerprint": "".join(manager.format_identity_key(own.identity_key)),
            "bundles": bundles,
        }

    # ------------------------------------------------------------------ commands

    async def cmd_create(self, req):
        if self.manager is not None:
            raise PeerError("create was already sent; this process is one device")
        self.jid = req["jid"]
        self.namespaces = list(req.get("namespaces", [LEGACY, OMEMO2]))
        self.blind_trust = req.get("trust", "blind") == "blind"
        if "seed" in req:
            make_deterministic(int(req["seed"]))
        self.create_options = {
            k: req[k]
            for k in ("label", "signedPreKeyRotationPeriod", "preKeyRefillThreshold", "historySync")
            if k in req
        }
        await self.start_manager()
        return await self.own_state()

    async def cmd_info(self, req):
        return await self.own_state()

    async def cmd_versions(self, req):
        import oldmemo.version
        import twomemo.version

        return {
            "omemo": omemo.version.__version__["short"],
            "oldmemo": oldmemo.version.__version__["short"],
            "twomemo": twomemo.version.__version__["short"],
        }

    async def cmd_pep_put(self, req):
        jid, node, item_id, xml = req["jid"], req["node"], str(req["itemId"]), req.get("xml")
        self.put_item(jid, node, item_id, xml)
        out: Dict[str, Any] = {}
        namespace = self.namespace_of_device_list_node(node)
        if namespace is not None and xml is not None:
            # A PEP notification: parsed with python-omemo's parser, then SessionManager.update_device_list,
            # which for our own account re-adds this device (and republishes) when the list lacks it.
            device_list = self.parse_device_list_xml(namespace, xml)
            out["deviceIds"] = sorted(device_list)
            out["devices"] = [{"id": device_id, "label": label} for device_id, label in device_list.items()]
            if self.manager is not None and namespace in self.namespaces:
                await self.manager.update_device_list(namespace, jid, device_list)
        elif xml is not None and req.get("validate", True):
            # A bundle is parsed only when needed (session building); parse it now so that a publication
            # python-omemo cannot read fails here, where the test can see which one it was.
            if node == OMEMO2_BUNDLE_NODE:
                bundle = self.etree_for(OMEMO2).parse_bundle(ET.fromstring(xml), jid, int(item_id))
            elif node.startswith(LEGACY_BUNDLE_NODE_PREFIX):
                device_id = int(node[len(LEGACY_BUNDLE_NODE_PREFIX):])
                bundle = self.etree_for(LEGACY).parse_bundle(ET.fromstring(xml), jid, device_id)
            else:
                bundle = None
            if bundle is not None:
                out["preKeyIds"] = sorted(bundle.pre_key_ids.values())
                out["signedPreKeyId"] = bundle.signed_pre_key_id
                out["identityKey"] = b64(bundle.identity_key)
        return out

    async def cmd_encrypt(self, req):
        manager = self.need_manager()
        namespace = req["namespace"]
        # Text as UTF-8, or any bytes in base64 (e.g. an SCE envelope with odd content).
        plaintext = base64.b64decode(req["plaintextBase64"]) if "plaintextBase64" in req else req["plaintext"].encode()
        # SessionManager.encrypt wants a plaintext per loaded backend; the priority list restricts it to one.
        messages, errors = await manager.encrypt(
            frozenset(req["to"]),
            {ns: plaintext for ns in self.namespaces},
            backend_priority_order=[namespace],
        )
        message = next((m for m in messages if m.namespace == namespace), None)
        out = {
            "xml": None,
            "keys": [],
            "errors": sorted(
                (
                    {
                        "jid": e.bare_jid,
                        "deviceId": e.device_id,
                        "type": type(e.exception).__name__,
                        "message": describe_exception(e.exception),
                    }
                    for e in errors
                ),
                key=lambda e: (e["jid"], e["deviceId"]),
            ),
        }
        if message is not None:
            described = self.describe_message(message, None)
            out["xml"] = described["xml"]
            out["keys"] = described["keys"]
        return out

    async def cmd_decrypt(self, req):
        manager = self.need_manager()
        namespace, sender = req["namespace"], req["from"]
        element = ET.fromstring(req["xml"])
        etree = self.etree_for(namespace)
        if namespace == LEGACY:
            # Legacy needs the manager: the sign bit of the sender's Ed25519 identity is not on the wire.
            message = await etree.parse_message(element, sender, self.jid, manager)
        else:
            message = etree.parse_message(element, sender)
        backend = self.backend(namespace)
        before = await backend.load_session(sender, message.device_id)
        own_id = (await manager.get_own_device_information())[0].device_id
        key_exchange = next(
            (kex for material, kex in message.keys if material.bare_jid == self.jid and material.device_id == own_id),
            None,
        )
        plaintext, device, key_material = await manager.decrypt(message)
        after = await backend.load_session(sender, message.device_id)
        new_session = before is None or not (
            before.initiation is after.initiation and before.key_exchange.builds_same_session(after.key_exchange)
        )
        return {
            # python-omemo returns the payload as bytes and never looks inside (no SCE parsing in 1.0.2).
            "plaintext": None if plaintext is None else plaintext.decode("utf-8", errors="replace"),
            "plaintextBase64": None if plaintext is None else b64(plaintext),
            "senderDeviceId": device.device_id,
            "senderIdentityKey": b64(device.identity_key),
            "keyExchange": key_exchange is not None,
            "newSession": new_session,
            "keyMaterial": b64(key_material.key + key_material.auth_tag),
        }

    async def cmd_trust(self, req):
        level = req["level"]
        if level not in TRUST_LEVELS:
            raise PeerError(f"unknown trust level {level}")
        await self.need_manager().set_trust(req["jid"], base64.b64decode(req["identityKey"]), level)
        return {}

    async def cmd_devices(self, req):
        manager = self.need_manager()
        devices = await manager.get_device_information(req["jid"])
        return {
            "devices": sorted(
                (
                    {
                        "deviceId": d.device_id,
                        "namespaces": sorted(d.namespaces),
                        "active": {ns: active for ns, active in d.active},
                        "identityKey": b64(d.identity_key),
                        "fingerprint": "".join(manager.format_identity_key(d.identity_key)),
                        "trust": d.trust_level_name,
                        "label": d.label,
                    }
                    for d in devices
                ),
                key=lambda d: d["deviceId"],
            )
        }

    async def cmd_session(self, req):
        session = await self.backend(req["namespace"]).load_session(req["jid"], int(req["deviceId"]))
        if session is None:
            return {"session": None}
        return {
            "session": {
                "initiation": session.initiation.name.lower(),
                "confirmed": session.confirmed,
                "sendingChainLength": session.sending_chain_length,
                "receivingChainLength": session.receiving_chain_length,
                "preKeyId": session.key_exchange.pre_key_id,
                "signedPreKeyId": session.key_exchange.signed_pre_key_id,
            }
        }

    async def cmd_forget(self, req):
        """Loses this device's session state with one device, as after a lost or restored-from-old storage:
        the backends' per-device keys are deleted, so load_session answers None."""
        self.need_manager()
        jid, device_id = req["jid"], int(req["deviceId"])
        namespaces = [req["namespace"]] if "namespace" in req else self.namespaces
        removed = 0
        for namespace in namespaces:
            prefix = f"/{namespace}/{jid}/{device_id}/"
            for key in [k for k in self.storage.data if k.startswith(prefix)]:
                del self.storage.data[key]
                removed += 1
        return {"removedKeys": removed}

    async def cmd_dump(self, req):
        return {"storage": dict(self.storage.data)}

    async def cmd_restore(self, req):
        """A restart: the SessionManager is dropped and created again from storage (this device's own by
        default, or a snapshot taken earlier with dump). The PEP view is the server's and survives."""
        self.need_manager()
        data = req.get("storage", self.storage.data)
        if self.rotation_task is not None:
            self.rotation_task.cancel()
        self.manager = None
        self.storage = MemoryStorage(data)
        await self.start_manager()
        return await self.own_state()

    async def cmd_rotateSignedPreKey(self, req):
        """What SessionManager's rotation loop does when a signed prekey is older than the period (default 7
        days): Backend.rotate_signed_pre_key (the old one is kept for one more period), then upload the
        bundle. The loop itself only wakes up after the period, so tests trigger its body directly."""
        namespaces = [req["namespace"]] if "namespace" in req else self.namespaces
        manager = self.need_manager()
        own_id = (await manager.get_own_device_information())[0].device_id
        for namespace in namespaces:
            backend = self.backend(namespace)
            await backend.rotate_signed_pre_key()
            await manager._upload_bundle(await backend.get_bundle(self.jid, own_id))
        return await self.own_state()

    async def cmd_historySync(self, req):
        manager = self.need_manager()
        if req["active"]:
            manager.before_history_sync()
        else:
            await manager.after_history_sync()
        return {}

    async def cmd_replaceSessions(self, req):
        """SessionManager.replace_sessions: python-omemo's only session-healing tool, which an app calls by
        hand (the library never calls it): a new key exchange per namespace, announced in an empty message."""
        manager = self.need_manager()
        failures = await manager.replace_sessions(await self.device(req["jid"], int(req["deviceId"])))
        return {"failures": {ns: describe_exception(e) for ns, e in failures.items()}}

    async def cmd_sendEmpty(self, req):
        """The empty message python-omemo sends to complete a key exchange or against staleness
        (SessionManager.__send_empty_message), on demand."""
        manager = self.need_manager()
        backend = self.backend(req["namespace"])
        session = await backend.load_session(req["jid"], int(req["deviceId"]))
        if session is None:
            raise omemo.NoSession(f"no session with {req['jid']} {req['deviceId']}")
        await manager._SessionManager__send_empty_message(backend, session)
        return {}

    async def cmd_refreshDeviceList(self, req):
        await self.need_manager().refresh_device_list(req["namespace"], req["jid"])
        return {}


def describe_exception(e: BaseException) -> str:
    return str(e) or type(e).__name__


def error_answer(e: BaseException) -> Dict[str, Any]:
    # The explicit chain (`raise ... from e`): python-omemo wraps the real reason that way, e.g.
    # DecryptionFailed from doubleratchet's AuthenticationFailedException. The traceback has everything.
    causes = []
    cause = e.__cause__
    while cause is not None and len(causes) < 8:
        causes.append({"type": type(cause).__name__, "message": describe_exception(cause)})
        cause = cause.__cause__
    return {
        "type": type(e).__name__,
        "message": describe_exception(e),
        "causes": causes,
        "traceback": "".join(traceback.format_exception(e)),
    }


COMMANDS = {
    "create": Peer.cmd_create,
    "info": Peer.cmd_info,
    "versions": Peer.cmd_versions,
    "pep.put": Peer.cmd_pep_put,
    "encrypt": Peer.cmd_encrypt,
    "decrypt": Peer.cmd_decrypt,
    "trust": Peer.cmd_trust,
    "devices": Peer.cmd_devices,
    "session": Peer.cmd_session,
    "forget": Peer.cmd_forget,
    "dump": Peer.cmd_dump,
    "restore": Peer.cmd_restore,
    "rotateSignedPreKey": Peer.cmd_rotateSignedPreKey,
    "historySync": Peer.cmd_historySync,
    "replaceSessions": Peer.cmd_replaceSessions,
    "sendEmpty": Peer.cmd_sendEmpty,
    "refreshDeviceList": Peer.cmd_refreshDeviceList,
}


async def main() -> None:
    collector = WarningCollector()
    logging.getLogger().addHandler(collector)
    peer = Peer()
    loop = asyncio.get_running_loop()
    while True:
        line = await loop.run_in_executor(None, sys.stdin.readline)
        if not line:
            return
        answer: Dict[str, Any]
        request_id = None
        try:
            req = json.loads(line)
            request_id = req.get("id")
            handler = COMMANDS.get(req.get("cmd"))
            if handler is None:
                raise PeerError(f"unknown command {req.get('cmd')!r}")
            answer = {"ok": True, **(await handler(peer, req))}
        except Exception as e:  # every failure is an answer, never a crash
            answer = {"ok": False, "error": error_answer(e)}
        answer["id"] = request_id
        answer["published"], peer.published = peer.published, []
        answer["sent"], peer.sent = peer.sent, []
        answer["warnings"], collector.records = collector.records, []
        sys.stdout.write(json.dumps(answer) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    asyncio.run(main())
