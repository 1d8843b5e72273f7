#!/usr/bin/python3
"""python-omemo doing the work of @parley/omemo's benchmark, timed inside one Python process (no process
boundary counted against it). Six devices (3 of alice, 3 of bob), each a real `omemo.SessionManager` of
interop/omemo_peer.py (in-memory JSON storage, one shared PEP view). Answers one JSON line:

  {"steady": µs per message, "first": µs per message, "xml": µs per message, "versions": {...}}

steady: alice's device 0 encrypts one message to bob (3 devices) + alice's 2 other devices, and each of
the 5 decrypts it (sessions established and confirmed); the message is serialized once and parsed at each
receiver with the backend's own etree, as our benchmark does with our XML codec. first: the same round
from fresh devices (5 bundles downloaded, parsed and verified, 5 key exchanges built and accepted).
xml: serialize once + parse at each of the 5 receivers, alone.

Usage: python_omemo_bench.py <namespace> <steady rounds> <first-contact rounds>
"""
import asyncio
import json
import logging
import os
import sys
import time
import xml.etree.ElementTree as ET

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "interop"))

import omemo_peer  # noqa: E402
from omemo_peer import LEGACY, Peer, to_xml  # noqa: E402

ALICE, BOB = "alice@example.org", "bob@example.net"


async def world(namespace):
    pep = {}
    peers = []
    for jid in (ALICE, ALICE, ALICE, BOB, BOB, BOB):
        p = Peer()
        p.pep = pep
        await p.cmd_create({"jid": jid, "namespaces": [namespace]})
        peers.append(p)
    # Every device learns the final device lists (PEP notifications after the others appeared).
    for p in peers:
        for jid in (ALICE, BOB):
            xml = p.latest_item(jid, omemo_peer.DEVICE_LIST_NODE[namespace], None)
            await p.manager.update_device_list(namespace, jid, p.parse_device_list_xml(namespace, xml))
        p.published, p.sent = [], []
    return peers


async def decrypt_at(peer, namespace, xml, sender):
    element = ET.fromstring(xml)
    etree = peer.etree_for(namespace)
    if namespace == LEGACY:
        parsed = await etree.parse_message(element, sender, peer.jid, peer.manager)
    else:
        parsed = etree.parse_message(element, sender)
    got, _, _ = await peer.manager.decrypt(parsed)
    return got


async def round_(peers, namespace, text, check=True, established=False):
    sender, receivers = peers[0], peers[1:]
    plaintext = text.encode()
    messages, errors = await sender.manager.encrypt(
        frozenset([BOB]), {namespace: plaintext}, backend_priority_order=[namespace]
    )
    if errors:
        raise RuntimeError(f"encrypt errors: {errors}")
    message = next(m for m in messages if m.namespace == namespace)
    if check and len(message.keys) != 5:
        raise RuntimeError(f"expected 5 keys, got {len(message.keys)}")
    etree = sender.etree_for(namespace)
    xml = to_xml(etree.serialize_message(message))
    if check and established and any(kex is not None for _, kex in message.keys):
        raise RuntimeError("a steady-state message carried a key exchange")
    for r in receivers:
        got = await decrypt_at(r, namespace, xml, ALICE)
        if got != plaintext:
            raise RuntimeError("python-omemo message did not round-trip")
        r.sent = []  # empty messages (key exchange completion, heartbeats) are not delivered
    sender.sent = []
    return xml


async def main():
    logging.disable(logging.WARNING)
    namespace, n_steady, n_first = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    peers = await world(namespace)
    await round_(peers, namespace, "warm-up")
    # Every receiver answers once, and alice/0 reads the answers, so its sessions are confirmed and no
    # longer carry their key exchange: established sessions, as in a conversation that is going on.
    for r in peers[1:]:
        messages, _ = await r.manager.encrypt(
            frozenset([ALICE]), {namespace: b"ack"}, backend_priority_order=[namespace]
        )
        ack = next(m for m in messages if m.namespace == namespace)
        xml = to_xml(r.etree_for(namespace).serialize_message(ack))
        await decrypt_at(peers[0], namespace, xml, r.jid)
        r.sent, peers[0].sent = [], []
    body = "A message of ordinary length, about as long as a sentence people type."
    for i in range(3):
        await round_(peers, namespace, f"{body} w{i}")
    t = time.perf_counter()
    for i in range(n_steady):
        xml = await round_(peers, namespace, f"{body} {i}", established=True)
    steady = (time.perf_counter() - t) * 1e6 / n_steady

    etree = peers[0].etree_for(namespace)
    message = etree.parse_message(ET.fromstring(xml), ALICE) if namespace != LEGACY else None
    t = time.perf_counter()
    for i in range(n_steady):
        for r in peers[1:]:
            element = ET.fromstring(xml)
            if namespace == LEGACY:
                await etree.parse_message(element, ALICE, r.jid, r.manager)
            else:
                etree.parse_message(element, ALICE)
        if message is not None:
            to_xml(etree.serialize_message(message))
    xml_cost = (time.perf_counter() - t) * 1e6 / n_steady

    first = 0.0
    for i in range(n_first):
        fresh = await world(namespace)
        t = time.perf_counter()
        await round_(fresh, namespace, "first")
        first += time.perf_counter() - t
    import oldmemo.version
    import twomemo.version
    import omemo.version

    versions = {
        "omemo": omemo.version.__version__["short"],
        "oldmemo": oldmemo.version.__version__["short"],
        "twomemo": twomemo.version.__version__["short"],
    }
    print(json.dumps({"steady": steady, "first": first * 1e6 / max(n_first, 1), "xml": xml_cost, "versions": versions}))


if __name__ == "__main__":
    asyncio.run(main())
