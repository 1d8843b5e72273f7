#!/usr/bin/python3
"""An OMEMO echo bot built only from software we did not write: slixmpp (Debian python3-slixmpp) for XMPP and
python-omemo 1.0.2 with python-oldmemo and python-twomemo (Debian python3-omemo, -oldmemo, -twomemo) for OMEMO,
both namespaces on one device. What python-omemo leaves to the application is written here: the XEP-0384 PEP
glue (bundles and device lists published with publish-options, fetched with item requests), the <message>
around the <encrypted> element, and OMEMO 2's XEP-0420 SCE envelope, which python-omemo 1.0.2 neither writes
nor reads. python-omemo's in-memory storage and its XML writer come from the interop harness of @parley/omemo
(packages/omemo/interop/omemo_peer.py, used as a library).

    /usr/bin/python3 slixmpp_omemo_bot.py --service 127.0.0.1:5222 --jid bot@localhost --password bot-pass

It logs in (no TLS: a test server on loopback), sends presence, publishes its device in both namespaces and
prints one JSON object per line on stdout:

    {"event": "ready", "jid", "deviceId", "fingerprint"}
    {"event": "message", "from", "namespace": "omemo2"|"legacy", "deviceId", "keyExchange", "length"}
    {"event": "empty", "from", "namespace", "deviceId", "keyExchange"}      (no payload: protocol upkeep)
    {"event": "sent", "kind": "echo"|"command"|"empty", "to", "namespace", "devices", "errors", "id"?}
    {"event": "error", "message", "type"?, "causes"?, "id"?}
    {"event": "stopped"}

Every decrypted message is answered, in its namespace, with "echo: <body>". Plaintexts are never printed:
`length` is the number of characters (Unicode code points) of the body. Commands are JSON lines on stdin:

    {"cmd": "send", "to": "alice@localhost", "body": "...", "namespace": "omemo2"|"legacy", "id"?: "..."}
    {"cmd": "quit"}

End of input is a quit too. Trust is blind: every device is trusted (a test bot, never a model for a client).
"""
import argparse
import asyncio
import base64
import json
import logging
import os
import secrets
import sys
import xml.etree.ElementTree as ET
from datetime import datetime, timezone
from typing import Any, Awaitable, Callable, Dict, FrozenSet, List, Optional

sys.dont_write_bytecode = True  # no __pycache__ next to the sources
sys.path.insert(
    0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..", "packages", "omemo", "interop")
)

import omemo  # noqa: E402
import oldmemo  # noqa: E402
import oldmemo.etree  # noqa: E402
import slixmpp  # noqa: E402
import twomemo  # noqa: E402
import twomemo.etree  # noqa: E402
from slixmpp.exceptions import IqError, IqTimeout  # noqa: E402
from slixmpp.xmlstream.handler import Callback  # noqa: E402
from slixmpp.xmlstream.matcher import MatchXPath  # noqa: E402

from omemo_peer import (  # noqa: E402
    DEVICE_LIST_NODE,
    LEGACY,
    OMEMO2,
    MemoryStorage,
    Peer,
    describe_exception,
    to_xml,
)

CLIENT = "jabber:client"
PUBSUB = "http://jabber.org/protocol/pubsub"
PUBSUB_EVENT = "http://jabber.org/protocol/pubsub#event"
DATA_FORMS = "jabber:x:data"
HINTS = "urn:xmpp:hints"
EME = "urn:xmpp:eme:0"
SCE = "urn:xmpp:sce:1"
NAMES = {OMEMO2: "omemo2", LEGACY: "legacy"}
NAMESPACES = {name: ns for ns, name in NAMES.items()}
ETREE = {OMEMO2: twomemo.etree, LEGACY: oldmemo.etree}
FALLBACK = "I sent you an OMEMO encrypted message but your client doesn't seem to support that."
IQ_TIMEOUT = 15


def emit(event: str, **fields: Any) -> None:
    """One JSON line on stdout. Callers pass lengths and ids, never a plaintext."""
    sys.stdout.write(json.dumps({"event": event, **fields}) + "\n")
    sys.stdout.flush()


def emit_error(e: BaseException, **fields: Any) -> None:
    causes = []
    cause = e.__cause__ or e.__context__
    while cause is not None and len(causes) < 6:
        causes.append(f"{type(cause).__name__}: {describe_exception(cause)}")
        cause = cause.__cause__ or cause.__context__
    emit("error", type=type(e).__name__, message=describe_exception(e), causes=causes, **fields)


class BotError(Exception):
    """A command or an incoming message the bot refuses; the message names what was wrong."""


def bare(jid: str) -> str:
    return jid.split("/", 1)[0]


# ---------------------------------------------------------------------- SCE (XEP-0420, OMEMO 2's profile)


def make_envelope(body: str, to: str, sender: str) -> bytes:
    """XEP-0384 v0.8.3 §5.5.1: <content> with the body, <rpad>, <time>, <to> and <from>."""
    env = ET.Element(f"{{{SCE}}}envelope")
    ET.SubElement(ET.SubElement(env, f"{{{SCE}}}content"), f"{{{CLIENT}}}body").text = body
    rpad = secrets.token_bytes(secrets.randbelow(32) + 1)
    ET.SubElement(env, f"{{{SCE}}}rpad").text = base64.b64encode(rpad).decode("ascii")
    stamp = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    ET.SubElement(env, f"{{{SCE}}}time", {"stamp": stamp})
    ET.SubElement(env, f"{{{SCE}}}to", {"jid": bare(to)})
    ET.SubElement(env, f"{{{SCE}}}from", {"jid": bare(sender)})
    return to_xml(env).encode("utf-8")


def open_envelope(data: bytes, stanza_to: str, sender: str) -> Optional[str]:
    """The body of a decrypted SCE envelope, after the receiver's checks of the <to> and <from> affixes."""
    try:
        env = ET.fromstring(data)
    except ET.ParseError as e:
        raise BotError(f"the decrypted OMEMO 2 payload is not XML ({e.__class__.__name__})") from None
    if env.tag != f"{{{SCE}}}envelope":
        raise BotError("the decrypted OMEMO 2 payload is not an SCE envelope")
    to = env.find(f"{{{SCE}}}to")
    if to is not None and bare(to.get("jid", "")) != bare(stanza_to):
        raise BotError("the SCE envelope's <to> is not this account")
    frm = env.find(f"{{{SCE}}}from")
    if frm is not None and bare(frm.get("jid", "")) != bare(sender):
        raise BotError("the SCE envelope's <from> is not the stanza's sender")
    body = env.find(f"{{{SCE}}}content/{{{CLIENT}}}body")
    return None if body is None else (body.text or "")


# ---------------------------------------------------------------------- the bot


class Bot(slixmpp.ClientXMPP):
    def __init__(self, jid: str, password: str) -> None:
        super().__init__(jid, password)
        self.own = bare(jid)
        self.storage = MemoryStorage()
        self.manager: Optional[omemo.SessionManager] = None
        self.jobs: "asyncio.Queue[Callable[[], Awaitable[None]]]" = asyncio.Queue()
        self.finished = asyncio.get_event_loop().create_future()
        self.started = False
        self.quitting = False
        # OMEMO messages carry no <body> (ours) or a fallback one: slixmpp's "message" event fires only for
        # messages with a body, so both namespaces get their own handler.
        for ns in (OMEMO2, LEGACY):
            self.register_handler(
                Callback(f"OMEMO {NAMES[ns]}", MatchXPath(f"{{{CLIENT}}}message/{{{ns}}}encrypted"), self.on_encrypted)
            )
        self.register_handler(
            Callback("PEP event", MatchXPath(f"{{{CLIENT}}}message/{{{PUBSUB_EVENT}}}event"), self.on_pep_event)
        )
        self.add_event_handler("session_start", self.on_session_start)
        self.add_event_handler("failed_auth", self.on_failed_auth)
        self.add_event_handler("connection_failed", self.on_connection_failed)
        self.add_event_handler("disconnected", self.on_disconnected)

    # ------------------------------------------------------------------ one job at a time

    async def worker(self) -> None:
        """Stanzas and commands are handled one at a time, in arrival order: python-omemo's state is read and
        written by every call, and an echo must follow the message it answers."""
        while True:
            job = await self.jobs.get()
            try:
                await job()
            except Exception as e:  # reported, and the bot keeps serving
                emit_error(e)

    # ------------------------------------------------------------------ connection events

    def on_session_start(self, _event: Any) -> None:
        if self.started:
            return  # a reconnection: python-omemo's state lives on in memory
        self.started = True
        self.jobs.put_nowait(self.start_omemo)

    async def start_omemo(self) -> None:
        self.send_presence()
        manager = await make_manager_class(self).create(
            [twomemo.Twomemo(self.storage), oldmemo.Oldmemo(self.storage)],
            self.storage,
            self.own,
            None,
            "blind",
        )
        # create() leaves the manager in history-synchronization mode; there is no archive to catch up on.
        await manager.after_history_sync()
        self.manager = manager
        own, _ = await manager.get_own_device_information()
        emit(
            "ready",
            jid=self.own,
            deviceId=own.device_id,
            fingerprint="".join(manager.format_identity_key(own.identity_key)),
        )

    def on_failed_auth(self, _event: Any) -> None:
        emit("error", message="authentication failed")
        self.finish(1)

    def on_connection_failed(self, error: Any) -> None:
        emit("error", message=f"connection failed: {error}")
        self.finish(1)

    def on_disconnected(self, _reason: Any) -> None:
        if not self.quitting:
            emit("error", message="disconnected by the server")
        self.finish(0 if self.quitting else 1)

    def finish(self, code: int) -> None:
        if not self.finished.done():
            self.finished.set_result(code)

    # ------------------------------------------------------------------ PEP

    async def pubsub_iq(self, kind: str, to: Optional[str], child: ET.Element) -> ET.Element:
        iq = self.make_iq_get(ito=to) if kind == "get" else self.make_iq_set(ito=to)
        pubsub = ET.Element(f"{{{PUBSUB}}}pubsub")
        pubsub.append(child)
        iq.xml.append(pubsub)
        result = await iq.send(timeout=IQ_TIMEOUT)
        return result.xml

    async def publish(self, node: str, item_id: str, payload: ET.Element, options: Dict[str, str]) -> None:
        """XEP-0060 §7.1.5 publish with publish-options (XEP-0223); Prosody creates the node with them."""
        publish = ET.Element(f"{{{PUBSUB}}}publish", {"node": node})
        ET.SubElement(publish, f"{{{PUBSUB}}}item", {"id": item_id}).append(payload)
        iq = self.make_iq_set()
        pubsub = ET.SubElement(iq.xml, f"{{{PUBSUB}}}pubsub")
        pubsub.append(publish)
        form = ET.SubElement(ET.SubElement(pubsub, f"{{{PUBSUB}}}publish-options"), f"{{{DATA_FORMS}}}x")
        form.set("type", "submit")
        fields = {"FORM_TYPE": f"{PUBSUB}#publish-options", **options}
        for var, value in fields.items():
            field = ET.SubElement(form, f"{{{DATA_FORMS}}}field", {"var": var})
            if var == "FORM_TYPE":
                field.set("type", "hidden")
            ET.SubElement(field, f"{{{DATA_FORMS}}}value").text = value
        await iq.send(timeout=IQ_TIMEOUT)

    async def fetch_items(self, jid: str, node: str, item_id: Optional[str]) -> List[ET.Element]:
        """The payloads of one item (item_id) or of the newest item of a node; [] when there is none."""
        items = ET.Element(f"{{{PUBSUB}}}items", {"node": node})
        if item_id is None:
            items.set("max_items", "1")
        else:
            ET.SubElement(items, f"{{{PUBSUB}}}item", {"id": item_id})
        try:
            result = await self.pubsub_iq("get", jid, items)
        except IqError as e:
            if e.iq["error"]["condition"] == "item-not-found":
                return []
            raise
        found = result.findall(f"{{{PUBSUB}}}pubsub/{{{PUBSUB}}}items/{{{PUBSUB}}}item")
        return [child for item in found for child in list(item)][:1]

    def on_pep_event(self, msg: slixmpp.Message) -> None:
        sender = bare(str(msg["from"]))
        items = msg.xml.find(f"{{{PUBSUB_EVENT}}}event/{{{PUBSUB_EVENT}}}items")
        if items is None:
            return
        ns = next((n for n, node in DEVICE_LIST_NODE.items() if node == items.get("node")), None)
        payloads = [child for item in items.findall(f"{{{PUBSUB_EVENT}}}item") for child in list(item)]
        if ns is None or not payloads:
            return

        async def job() -> None:
            if self.manager is not None:
                await self.manager.update_device_list(ns, sender, ETREE[ns].parse_device_list(payloads[-1]))

        self.jobs.put_nowait(job)

    # ------------------------------------------------------------------ messages

    def send_encrypted(self, to: str, message: omemo.Message, kind: str, **extra: Any) -> None:
        stanza = self.make_message(mto=to, mtype="chat", mbody=None if message.content.empty else FALLBACK)
        stanza.xml.append(ETREE[message.namespace].serialize_message(message))
        ET.SubElement(stanza.xml, f"{{{HINTS}}}store")
        ET.SubElement(stanza.xml, f"{{{EME}}}encryption", {"namespace": message.namespace, "name": "OMEMO"})
        stanza.send()
        devices = sorted(
            (
                {"jid": material.bare_jid, "deviceId": material.device_id, "keyExchange": kex is not None}
                for material, kex in message.keys
            ),
            key=lambda d: (d["jid"], d["deviceId"]),
        )
        emit("sent", kind=kind, to=to, namespace=NAMES[message.namespace], devices=devices, **extra)

    async def encrypt_and_send(self, to: str, body: str, ns: str, kind: str, **extra: Any) -> None:
        manager = self.need_manager()
        # python-omemo encrypts from its cached device lists only; PEP notifications of a contact come only
        # with a presence subscription, which this bot does not ask for: fetch the list now.
        await manager.refresh_device_list(ns, bare(to))
        plaintext = make_envelope(body, to, self.own) if ns == OMEMO2 else body.encode("utf-8")
        # A plaintext per loaded backend; the priority list picks the one namespace.
        messages, errors = await manager.encrypt(
            frozenset([bare(to)]), {OMEMO2: plaintext, LEGACY: plaintext}, backend_priority_order=[ns]
        )
        message = next((m for m in messages if m.namespace == ns), None)
        failures = [
            {"jid": e.bare_jid, "deviceId": e.device_id, "type": type(e.exception).__name__} for e in errors
        ]
        if message is None:
            raise BotError(f"no device of {bare(to)} could be encrypted to in {NAMES[ns]}: {failures}")
        self.send_encrypted(bare(to), message, kind, errors=failures, **extra)

    def need_manager(self) -> omemo.SessionManager:
        if self.manager is None:
            raise BotError("OMEMO is not set up yet (wait for the ready event)")
        return self.manager

    def on_encrypted(self, msg: slixmpp.Message) -> None:
        if msg["type"] == "error":
            return
        self.jobs.put_nowait(lambda: self.handle_encrypted(msg))

    async def handle_encrypted(self, msg: slixmpp.Message) -> None:
        manager = self.need_manager()
        sender = bare(str(msg["from"]))
        for ns in (OMEMO2, LEGACY):
            element = msg.xml.find(f"{{{ns}}}encrypted")
            if element is None:
                continue
            name = NAMES[ns]
            try:
                if ns == LEGACY:
                    # The legacy header lacks the sign bit of the sender's Ed25519 identity: the manager has it.
                    message = await oldmemo.etree.parse_message(element, sender, self.own, manager)
                else:
                    message = twomemo.etree.parse_message(element, sender)
                own = (await manager.get_own_device_information())[0].device_id
                kex = any(m.bare_jid == self.own and m.device_id == own and k is not None for m, k in message.keys)
                plaintext, device, _ = await manager.decrypt(message)
                if plaintext is None:
                    emit("empty", **{"from": sender}, namespace=name, deviceId=device.device_id, keyExchange=kex)
                    continue
                if ns == OMEMO2:
                    body = open_envelope(plaintext, str(msg["to"]) or self.own, sender)
                else:
                    body = plaintext.decode("utf-8")
            except Exception as e:
                emit_error(e, **{"from": sender}, namespace=name)
                continue
            emit(
                "message",
                **{"from": sender},
                namespace=name,
                deviceId=device.device_id,
                keyExchange=kex,
                length=None if body is None else len(body),
            )
            if body is not None:
                await self.encrypt_and_send(sender, f"echo: {body}", ns, "echo")

    # ------------------------------------------------------------------ commands

    async def command(self, line: str) -> None:
        request_id = None
        try:
            request = json.loads(line)
            if not isinstance(request, dict):
                raise BotError("a command is a JSON object")
            request_id = request.get("id")
            cmd = request.get("cmd")
            if cmd == "quit":
                await self.quit()
            elif cmd == "send":
                to, body, name = request.get("to"), request.get("body"), request.get("namespace", "omemo2")
                if not isinstance(to, str) or "@" not in to:
                    raise BotError("send needs a JID in 'to'")
                if not isinstance(body, str):
                    raise BotError("send needs a string 'body'")
                if name not in NAMESPACES:
                    raise BotError("'namespace' must be 'omemo2' or 'legacy'")
                extra = {} if request_id is None else {"id": request_id}
                await self.encrypt_and_send(to, body, NAMESPACES[name], "command", **extra)
            else:
                raise BotError("unknown command (send, quit)")
        except json.JSONDecodeError:
            emit("error", message="a command line is not JSON")
        except Exception as e:
            emit_error(e, **({} if request_id is None else {"id": request_id}))

    async def quit(self) -> None:
        self.quitting = True
        self.disconnect()
        # If the server does not answer the stream close, give up after a moment.
        asyncio.get_event_loop().call_later(3, self.finish, 0)


def make_manager_class(bot: Bot):
    """python-omemo's SessionManager with its I/O on the bot's XMPP connection."""

    class Manager(omemo.SessionManager):
        async def _upload_bundle(self, bundle: omemo.Bundle) -> None:
            node, item_id = Peer.bundle_address(bundle.namespace, bundle.device_id)
            # XEP-0384 v0.8.3 §5.3.2: OMEMO 2 keeps every device's bundle as an item of one node.
            options = {"pubsub#access_model": "open"}
            if bundle.namespace == OMEMO2:
                options["pubsub#max_items"] = "max"
            try:
                await bot.publish(node, item_id, ETREE[bundle.namespace].serialize_bundle(bundle), options)
            except (IqError, IqTimeout) as e:
                raise omemo.BundleUploadFailed(f"publishing {node} failed: {iq_failure(e)}") from e

        async def _download_bundle(self, namespace: str, bare_jid: str, device_id: int) -> omemo.Bundle:
            node, item_id = Peer.bundle_address(namespace, device_id)
            try:
                payloads = await bot.fetch_items(bare_jid, node, item_id)
            except (IqError, IqTimeout) as e:
                raise omemo.BundleDownloadFailed(f"fetching {node} of {bare_jid} failed: {iq_failure(e)}") from e
            if not payloads:
                raise omemo.BundleNotFound(f"no bundle {item_id} at {bare_jid} {node}")
            try:
                return ETREE[namespace].parse_bundle(payloads[0], bare_jid, device_id)
            except Exception as e:  # python-omemo's schema or key checks refused it
                raise omemo.BundleDownloadFailed(f"bundle at {bare_jid} {node} unparsable: {e}") from e

        async def _delete_bundle(self, namespace: str, device_id: int) -> None:
            node, item_id = Peer.bundle_address(namespace, device_id)
            retract = ET.Element(f"{{{PUBSUB}}}retract", {"node": node})
            ET.SubElement(retract, f"{{{PUBSUB}}}item", {"id": item_id})
            try:
                await bot.pubsub_iq("set", None, retract)
            except IqError as e:
                if e.iq["error"]["condition"] != "item-not-found":
                    raise omemo.BundleDeletionFailed(f"retracting from {node} failed: {iq_failure(e)}") from e
            except IqTimeout as e:
                raise omemo.BundleDeletionFailed(f"retracting from {node} timed out") from e

        async def _upload_device_list(self, namespace: str, device_list: Dict[int, Optional[str]]) -> None:
            node = DEVICE_LIST_NODE[namespace]
            payload = ETREE[namespace].serialize_device_list(device_list)
            try:
                await bot.publish(node, "current", payload, {"pubsub#access_model": "open"})
            except (IqError, IqTimeout) as e:
                raise omemo.DeviceListUploadFailed(f"publishing {node} failed: {iq_failure(e)}") from e

        async def _download_device_list(self, namespace: str, bare_jid: str) -> Dict[int, Optional[str]]:
            node = DEVICE_LIST_NODE[namespace]
            try:
                payloads = await bot.fetch_items(bare_jid, node, None)
            except (IqError, IqTimeout) as e:
                raise omemo.DeviceListDownloadFailed(f"fetching {node} of {bare_jid} failed: {iq_failure(e)}") from e
            if not payloads:
                return {}
            try:
                return ETREE[namespace].parse_device_list(payloads[0])
            except Exception as e:
                raise omemo.DeviceListDownloadFailed(f"device list of {bare_jid} unparsable: {e}") from e

        async def _evaluate_custom_trust_level(self, device: omemo.DeviceInformation) -> omemo.TrustLevel:
            # Blind trust: a test bot trusts every device it sees.
            return omemo.TrustLevel.TRUSTED

        async def _make_trust_decision(
            self, undecided: FrozenSet[omemo.DeviceInformation], identifier: Optional[str]
        ) -> None:
            for device in undecided:
                await self.set_trust(device.bare_jid, device.identity_key, "blind")

        async def _send_message(self, message: omemo.Message, bare_jid: str) -> None:
            # python-omemo's own messages without payload (key exchange completion, heartbeats).
            bot.send_encrypted(bare_jid, message, "empty")

    return Manager


def iq_failure(e: BaseException) -> str:
    if isinstance(e, IqError):
        return f"{e.iq['error']['type']} {e.iq['error']['condition']}"
    return "timed out"


async def read_commands(bot: Bot) -> None:
    loop = asyncio.get_event_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    while True:
        line = await reader.readline()
        if not line:
            bot.jobs.put_nowait(bot.quit)  # end of input: the test (or the user) is gone
            return
        text = line.decode("utf-8", errors="replace").strip()
        if text:
            bot.jobs.put_nowait(lambda text=text: bot.command(text))


async def main() -> int:
    parser = argparse.ArgumentParser(description="slixmpp + python-omemo echo bot (both OMEMO namespaces)")
    parser.add_argument("--service", required=True, help="host:port of the XMPP server (plain TCP, no TLS)")
    parser.add_argument("--jid", required=True)
    parser.add_argument("--password", required=True)
    parser.add_argument("--resource", default="slixmpp-omemo-bot")
    args = parser.parse_args()
    host, _, port = args.service.rpartition(":")
    if not host or not port.isdigit():
        parser.error("--service must be host:port")
    bot = Bot(f"{bare(args.jid)}/{args.resource}", args.password)
    worker = asyncio.ensure_future(bot.worker())
    commands = asyncio.ensure_future(read_commands(bot))
    # A test server on loopback without TLS: never STARTTLS; SCRAM (slixmpp's default) is allowed in clear.
    bot.connect((host, int(port)), use_ssl=False, force_starttls=False, disable_starttls=True)
    code = await bot.finished
    for task in (worker, commands):
        task.cancel()
    emit("stopped")
    return code


if __name__ == "__main__":
    # Warnings and worse go to stderr (python-omemo's, slixmpp's); neither logs plaintexts at that level.
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr, format="%(levelname)s %(name)s: %(message)s")
    sys.exit(asyncio.run(main()))
