#!/usr/bin/python3
"""The independent side of the XEdDSA interop test: Debian's python3-xeddsa (libxeddsa, C).

Reads one JSON document on stdin: {"cases": [{privateKey, message, nonce, ourXeddsa, ourLibsignal, tampered}]}
(hex strings). For each case it verifies our signatures (and a tampered one) with libxeddsa and
makes its own spec and libsignal-variant signatures for us to verify. Writes JSON on stdout.
"""
import json
import sys

import xeddsa.bindings as x


def main():
    cases = json.load(sys.stdin)["cases"]
    out = []
    for c in cases:
        priv, msg, nonce = (bytes.fromhex(c[k]) for k in ("privateKey", "message", "nonce"))
        pub = x.priv_to_curve25519_pub(priv)
        ed0 = x.curve25519_pub_to_ed25519_pub(pub, False)
        ours = bytes.fromhex(c["ourXeddsa"])
        ours_ls = bytearray(bytes.fromhex(c["ourLibsignal"]))
        # libsignal's verifier: move the sign bit from byte 63 into the Edwards key, then verify.
        sign_bit = bool(ours_ls[63] & 0x80)
        ours_ls[63] &= 0x7F
        ed_ls = x.curve25519_pub_to_ed25519_pub(pub, sign_bit)
        ed_real = x.priv_to_ed25519_pub(priv)
        theirs = x.ed25519_priv_sign(x.priv_force_sign(priv, False), msg, nonce)
        theirs_ls = bytearray(x.ed25519_priv_sign(priv, msg, nonce))
        theirs_ls[63] |= ed_real[31] & 0x80
        out.append({
            "publicKey": pub.hex(),
            "verifiesOurXeddsa": x.ed25519_verify(ours, ed0, msg),
            "verifiesOurLibsignal": x.ed25519_verify(bytes(ours_ls), ed_ls, msg),
            "verifiesTampered": x.ed25519_verify(bytes.fromhex(c["tampered"]), ed0, msg),
            "theirXeddsa": theirs.hex(),
            "theirLibsignal": bytes(theirs_ls).hex(),
        })
    json.dump({"results": out}, sys.stdout)


if __name__ == "__main__":
    main()
