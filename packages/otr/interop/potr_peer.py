#!/usr/bin/python3
"""python-potr (Debian python3-potr 1.0.2, OTR v2) driven in JSON lines over stdin/stdout.

The same protocol as libotr_peer.c (see README.md): one request per line, one answer per line,
{"op": ...} in, {"ok": true, ...} or {"ok": false, "error": ..., "traceback": ...} out. One process
holds any number of parties (potr Accounts with one Context per contact).

Run with Debian's /usr/bin/python3: python3-potr and python3-pycryptodome live there.

potr 1.0.2 was written for PyCrypto; Debian runs it on pycryptodome 3.11, where DSA signing,
DSA key generation and AES-CTR with potr's counter object fail. `install_pycryptodome_shim()`
below patches exactly those three places; README.md explains each patch.
"""

import json
import sys
import traceback

# ---------------------------------------------------------------------------------------------
# The compatibility shim (before anything uses potr's crypto)
# ---------------------------------------------------------------------------------------------


def install_pycryptodome_shim():
    from Cryptodome.Cipher import AES
    from Cryptodome.PublicKey import DSA
    import potr.compatcrypto.pycrypto as pc
    import potr.crypt
    import potr.compatcrypto
    from potr.utils import bytes_to_long

    # 1. DSA sign/verify. potr calls PyCrypto's `key.sign(M, K)` / `key.verify(M, (r, s))` with M
    #    the 32-byte SHA256-HMAC (bytes) and its own nonce K. PyCrypto turned M into an integer
    #    (bytes_to_long, no truncation to the 160-bit q: the arithmetic is mod q) and returned
    #    (r, s). pycryptodome's DsaKey.sign/verify only raise NotImplementedError ("use DSS"),
    #    and DSS would truncate the hash to q's bit length (FIPS 186-3), which neither potr nor
    #    libotr (gcry_pk_sign on the raw 256-bit MPI) do. The private _sign/_verify methods do
    #    exactly PyCrypto's arithmetic on integers.
    def _as_int(m):
        return bytes_to_long(m) if isinstance(m, (bytes, bytearray)) else int(m)

    def dsa_sign(self, M, K):
        r, s = self._sign(_as_int(M), int(K))
        return (int(r), int(s))

    def dsa_verify(self, M, signature):
        r, s = signature
        return bool(self._verify(_as_int(M), (int(r), int(s))))

    DSA.DsaKey.sign = dsa_sign
    DSA.DsaKey.verify = dsa_verify

    # 2. DSA key generation. potr reads PyCrypto's `key.key.y` etc.; pycryptodome's DsaKey has
    #    no `.key` (the components are attributes of the key itself).
    def dsa_generate(cls):
        k = DSA.generate(1024)
        return cls((k.y, k.g, k.p, k.q, k.x), private=True)

    pc.DSAKey.generate = classmethod(dsa_generate)

    # 3. AES-CTR. potr passes its own `Counter` (a callable returning the 16-byte block
    #    prefix(8 bytes) || val(8 bytes), PyCrypto's protocol); pycryptodome only accepts a
    #    Crypto.Util.Counter dict or nonce/initial_value. Same blocks: nonce = the 8-byte prefix,
    #    counter = val, incremented per block. Afterwards the Counter's val is advanced by the
    #    blocks used, as PyCrypto's calls would have done. `potr.crypt` imported the name at load
    #    time, so it is replaced there too.
    class _CtrCipher:
        def __init__(self, key, counter):
            self._counter = counter
            self._cipher = AES.new(
                key, AES.MODE_CTR, nonce=counter.byteprefix(), initial_value=counter.val
            )

        def _advance(self, n):
            self._counter.val += (n + 15) // 16

        def encrypt(self, data):
            out = self._cipher.encrypt(data)
            self._advance(len(data))
            return out

        def decrypt(self, data):
            out = self._cipher.decrypt(data)
            self._advance(len(data))
            return out

    def aesctr(key, counter=0):
        if isinstance(counter, int):
            counter = pc.Counter(counter)
        if not isinstance(counter, pc.Counter):
            raise TypeError("counter must be a potr Counter")
        return _CtrCipher(key, counter)

    pc.AESCTR = aesctr
    potr.compatcrypto.AESCTR = aesctr
    potr.crypt.AESCTR = aesctr


install_pycryptodome_shim()

import potr  # noqa: E402
import potr.context  # noqa: E402
import potr.crypt  # noqa: E402
import potr.proto  # noqa: E402
from potr.compatcrypto import DSAKey  # noqa: E402

# potr's only clock use is the heartbeat check (lastSend < time() - 60) and lastSend itself.
# A fixed clock that only the "clock" op moves makes heartbeats deterministic.
CLOCK = [1700000000.0]
potr.context.time = lambda: CLOCK[0]

POLICY_KEYS = {
    "allowV1": "ALLOW_V1",
    "allowV2": "ALLOW_V2",
    "requireEncryption": "REQUIRE_ENCRYPTION",
    "sendWhitespaceTag": "SEND_TAG",
    "whitespaceStartAke": "WHITESPACE_START_AKE",
    "errorStartAke": "ERROR_START_AKE",
}

STATE_NAMES = {
    potr.context.STATE_PLAINTEXT: "plaintext",
    potr.context.STATE_ENCRYPTED: "encrypted",
    potr.context.STATE_FINISHED: "finished",
}


class Failure(Exception):
    pass


def hexbytes(b):
    return b.hex() if b is not None else None


def human(fp_bytes):
    return potr.utils.human_hash(fp_bytes.hex())


class PeerContext(potr.context.Context):
    def __init__(self, account, peername):
        super().__init__(account, peername)

    def getPolicy(self, key):
        return self.user.policy.get(key, False)

    def inject(self, msg, appdata=None):
        if isinstance(msg, bytes):
            msg = msg.decode("ascii")
        self.user.party.outgoing.append({"to": self.peer, "message": msg})


class PeerAccount(potr.context.Account):
    contextclass = PeerContext

    def __init__(self, party, name, protocol, mms, privkey, policy):
        super().__init__(name, protocol, mms, privkey)
        self.party = party
        self.policy = policy

    def loadPrivkey(self):
        return None

    def savePrivkey(self):
        pass

    def saveTrusts(self):
        pass


def parse_policy(p):
    # potr has no v3; allowV3 is accepted and ignored so the same policy object works for both.
    policy = {"ALLOW_V2": True}
    if isinstance(p, dict):
        for k, v in p.items():
            if k in POLICY_KEYS:
                policy[POLICY_KEYS[k]] = bool(v)
            elif k != "allowV3":
                raise Failure("unknown policy field %r" % k)
    elif p is not None:
        raise Failure("policy: expected an object")
    return policy


def dsa_key(spec):
    if spec is None or spec == "generate":
        return DSAKey.generate()
    if not isinstance(spec, dict):
        raise Failure('privkey: expected {"p","q","g","y","x"} in hex or "generate"')
    n = {k: int(spec[k], 16) for k in ("p", "q", "g", "y", "x")}
    return DSAKey((n["y"], n["g"], n["p"], n["q"], n["x"]), private=True)


class Party:
    def __init__(self, name, req):
        self.name = name
        self.outgoing = []
        self.events = []
        key = dsa_key(req.get("privkey"))
        self.account = PeerAccount(
            self,
            req["account"],
            req.get("protocol", "xmpp"),
            int(req.get("maxMessageSize", 0) or 0),
            key,
            parse_policy(req.get("policy")),
        )

    def ctx(self, username):
        return self.account.getContext(username)

    def drain(self, answer):
        answer["outgoing"] = self.outgoing
        answer["events"] = self.events
        self.outgoing = []
        self.events = []
        return answer


PARTIES = {}


def party_of(req):
    name = req.get("party", "default")
    if name not in PARTIES:
        raise Failure('no party "%s" (init it first)' % name)
    return PARTIES[name]


def snapshot(ctx):
    smp = ctx.crypto.smp
    return {
        "state": ctx.state,
        "sessionId": ctx.crypto.sessionId,
        "theirPubkey": ctx.crypto.theirPubkey,
        "smp": (smp.state, smp.prog) if smp is not None else None,
    }


def context_events(party, ctx, before, tlvs):
    """potr has no callbacks: compare the context before and after and name what happened."""
    ev = party.events
    base = {"username": ctx.peer, "protocolVersion": 2}
    after = ctx.state
    if after == potr.context.STATE_ENCRYPTED:
        if before["state"] != potr.context.STATE_ENCRYPTED:
            ev.append(dict(type="gone_secure", **base))
        elif ctx.crypto.sessionId != before["sessionId"]:
            ev.append(dict(type="still_secure", **base))
    elif before["state"] == potr.context.STATE_ENCRYPTED:
        ev.append(dict(type="gone_insecure", finished=after == potr.context.STATE_FINISHED, **base))
    smp = ctx.crypto.smp
    for tlv in tlvs:
        if not isinstance(tlv, potr.proto.SMPTLV):
            continue
        if isinstance(tlv, potr.proto.SMPABORTTLV):
            ev.append(dict(type="smp", event="abort", progress=0, question=None, **base))
        elif smp is None:
            continue
        elif smp.prog == potr.crypt.SMPPROG_CHEATED:
            ev.append(dict(type="smp", event="cheated", progress=0, question=None, **base))
        elif smp.prog == potr.crypt.SMPPROG_SUCCEEDED:
            ev.append(dict(type="smp", event="success", progress=100, question=None, **base))
        elif smp.prog == potr.crypt.SMPPROG_FAILED:
            ev.append(dict(type="smp", event="failure", progress=100, question=None, **base))
        elif isinstance(tlv, potr.proto.SMP1QTLV):
            q = tlv.msg.decode("utf-8", "replace")
            ev.append(dict(type="smp", event="ask_for_answer", progress=25, question=q, **base))
        elif isinstance(tlv, potr.proto.SMP1TLV):
            ev.append(dict(type="smp", event="ask_for_secret", progress=25, question=None, **base))
        else:
            ev.append(dict(type="smp", event="in_progress", progress=60, question=None, **base))


def tlv_json(tlv):
    data = bytes(tlv)
    # bytes(tlv) is type(2) || length(2) || payload
    return {"type": int.from_bytes(data[:2], "big"), "data": data[4:].hex()}


def op_init(req):
    name = req.get("party", "default")
    if name in PARTIES:
        raise Failure('party "%s" exists' % name)
    if "account" not in req:
        raise Failure('missing string field "account"')
    party = Party(name, req)
    PARTIES[name] = party
    key = party.account.privkey
    return {"instag": None, "fingerprint": human(key.fingerprint())}


def op_configure(req):
    party = party_of(req)
    if "policy" in req:
        party.account.policy = parse_policy(req["policy"])
    if "maxMessageSize" in req:
        party.account.maxMessageSize = int(req["maxMessageSize"])
    return {"maxMessageSize": party.account.maxMessageSize}


def op_send(req):
    party = party_of(req)
    ctx = party.ctx(req["to"])
    before = snapshot(ctx)
    message = req["message"].encode("utf-8")
    raw = b""
    for t in req.get("tlvs") or []:
        data = bytes.fromhex(t.get("data", ""))
        raw += int(t["type"]).to_bytes(2, "big") + len(data).to_bytes(2, "big") + data
    tlvs = potr.proto.TLV.parse(raw)
    try:
        out = ctx.sendMessage(potr.context.FRAGMENT_SEND_ALL, message, tlvs=tlvs)
    except potr.context.NotEncryptedError:
        # STATE_FINISHED: potr refuses to send (libotr's "connection ended")
        party.events.append({"type": "msg_event", "event": "connection_ended", "username": ctx.peer})
        out = None
    # sendMessage returns the message for the app to send when it did not inject it itself
    # (plaintext, tagged plaintext, query messages)
    if out is not None:
        ctx.inject(out)
    context_events(party, ctx, before, [])
    return party.drain({"msgstate": STATE_NAMES[ctx.state]})


def op_receive(req):
    party = party_of(req)
    ctx = party.ctx(req["from"])
    before = snapshot(ctx)
    delivered = None
    tlvs = []
    ignored = False
    try:
        text, tlvs = ctx.receiveMessage(req["message"].encode("utf-8"))
        if text is None:
            ignored = True
        else:
            delivered = text.decode("utf-8", "replace")
    except potr.context.NotOTRMessage as e:
        delivered = e.args[0].decode("utf-8", "replace") if isinstance(e.args[0], bytes) else e.args[0]
    except potr.context.UnencryptedMessage as e:
        m = e.args[0]
        delivered = m.decode("utf-8", "replace") if isinstance(m, bytes) else m
        party.events.append({"type": "msg_event", "event": "rcvdmsg_unencrypted", "message": delivered, "username": ctx.peer})
    except potr.context.ErrorReceived as e:
        err = e.args[0]
        text = err.error.decode("utf-8", "replace") if hasattr(err, "error") else str(err)
        party.events.append({"type": "msg_event", "event": "rcvdmsg_general_err", "message": text, "username": ctx.peer})
        ignored = True
    except potr.context.NotEncryptedError:
        party.events.append({"type": "msg_event", "event": "rcvdmsg_not_in_private", "username": ctx.peer})
        ignored = True
    except potr.crypt.InvalidParameterError:
        party.events.append({"type": "msg_event", "event": "rcvdmsg_unreadable", "username": ctx.peer})
        ignored = True
    context_events(party, ctx, before, tlvs)
    return party.drain(
        {
            "ignored": ignored,
            "delivered": delivered,
            "tlvs": [tlv_json(t) for t in tlvs],
            "msgstate": STATE_NAMES[ctx.state],
        }
    )


def op_query(req):
    party = party_of(req)
    ctx = party.ctx(req["to"])
    q = party.account.getDefaultQueryMessage(ctx.getPolicy).decode("ascii")
    ctx.inject(q)
    return party.drain({"query": q})


def op_smp(req, which):
    party = party_of(req)
    ctx = party.ctx(req["to"])
    before = snapshot(ctx)
    if which == "abort":
        ctx.smpAbort()
    else:
        if ctx.state != potr.context.STATE_ENCRYPTED:
            raise Failure("context for %s is %s" % (ctx.peer, STATE_NAMES[ctx.state]))
        secret = req["secret"].encode("utf-8")
        if which == "start":
            q = req.get("question")
            ctx.smpInit(secret, question=q.encode("utf-8") if q is not None else None)
        else:
            ctx.smpGotSecret(secret)
    context_events(party, ctx, before, [])
    return party.drain({})


def op_end(req):
    party = party_of(req)
    ctx = party.ctx(req["to"])
    before = snapshot(ctx)
    ctx.disconnect()
    context_events(party, ctx, before, [])
    return party.drain({})


def op_fingerprint(req):
    party = party_of(req)
    out = {"own": human(party.account.privkey.fingerprint())}
    if req.get("to"):
        key = party.ctx(req["to"]).getCurrentKey()
        out["peer"] = human(key.fingerprint()) if key is not None else None
    return out


def op_state(req):
    party = party_of(req)
    ctx = party.ctx(req["to"])
    key = ctx.getCurrentKey()
    smp = ctx.crypto.smp
    trust = ctx.getCurrentTrust()
    return {
        "context": {
            "username": ctx.peer,
            "msgstate": STATE_NAMES[ctx.state],
            "protocolVersion": 2 if ctx.crypto.sessionId is not None else 0,
            "sessionId": hexbytes(ctx.crypto.sessionId),
            "sessionIdHalf": "second" if ctx.crypto.sessionIdHalf else "first",
            "peerFingerprint": human(key.fingerprint()) if key is not None else None,
            "trust": trust,
            "ourKeyid": ctx.crypto.ourKeyid,
            "theirKeyid": ctx.crypto.theirKeyid,
            "smp": {"state": smp.state, "progress": smp.prog} if smp is not None else None,
            "extraKey": hexbytes(ctx.crypto.extraKey),
        }
    }


def op_clock(req):
    if req.get("set") is not None:
        CLOCK[0] = float(req["set"])
    CLOCK[0] += float(req.get("advance", 0))
    return {"now": CLOCK[0]}


def op_close(req):
    name = req.get("party", "default")
    if name not in PARTIES:
        raise Failure('no party "%s"' % name)
    del PARTIES[name]
    return {}


def op_version(req):
    import Cryptodome

    return {"potr": ".".join(str(x) for x in potr.VERSION[:3]), "pycryptodome": Cryptodome.__version__, "python": sys.version.split()[0]}


OPS = {
    "init": op_init,
    "configure": op_configure,
    "send": op_send,
    "receive": op_receive,
    "start_ake": op_query,
    "query": op_query,
    "smp_start": lambda r: op_smp(r, "start"),
    "smp_respond": lambda r: op_smp(r, "respond"),
    "smp_abort": lambda r: op_smp(r, "abort"),
    "end": op_end,
    "fingerprint": op_fingerprint,
    "state": op_state,
    "clock": op_clock,
    "close": op_close,
    "version": op_version,
}


def main():
    for line in sys.stdin:
        line = line.strip()
        if not line:
            continue
        answer = {}
        try:
            req = json.loads(line)
            if "id" in req:
                answer["id"] = req["id"]
            op = req.get("op") or req.get("cmd")
            if op == "quit":
                sys.stdout.write(json.dumps({"ok": True, **answer}) + "\n")
                sys.stdout.flush()
                return
            if op not in OPS:
                raise Failure('unknown op "%s"' % op)
            result = OPS[op](req)
            answer.update({"ok": True, **result})
        except Failure as e:
            answer.update({"ok": False, "error": str(e)})
        except Exception as e:  # a bug in the driver or in potr: report it with its traceback
            answer.update({"ok": False, "error": "%s: %s" % (type(e).__name__, e), "traceback": traceback.format_exc()})
        sys.stdout.write(json.dumps(answer) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
