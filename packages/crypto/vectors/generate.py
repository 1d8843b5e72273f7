#!/usr/bin/python3
"""Regenerates the known-answer vector files in this folder. Run with Debian's python3:

    apt-get install -y python3-cryptography-vectors python3-xeddsa
    /usr/bin/python3 packages/crypto/vectors/generate.py [output-dir]

Sources (independent of this project):
  * python3-cryptography-vectors (Debian, pyca/cryptography's vector collection):
      RFC 7748 §5.2 X25519, RFC 8032 / djb's ed25519 sign.input, RFC 5869 HKDF-SHA256,
      RFC 4231 HMAC-SHA256, NIST CAVP AES-GCM (gcmEncryptExtIV) and AES-CBC (CBCMMT), RFC 7914 scrypt.
  * python3-cryptography (pyca, over OpenSSL): AES-GCM with 16-byte IVs, which NIST's files lack.
  * python3-xeddsa (Debian, Syndace/python-xeddsa over libxeddsa, a C implementation): XEdDSA signatures,
    libsignal-variant signatures and Montgomery/Edwards conversions for deterministic inputs.
Every file records its origin. The inputs for the XEdDSA vectors come from SHA-256 counters, so a
rerun reproduces the same files byte for byte.
"""
import hashlib
import json
import os
import sys

HERE = sys.argv[1] if len(sys.argv) > 1 else os.path.dirname(os.path.abspath(__file__))
CV = "/usr/lib/python3/dist-packages/cryptography_vectors"


def blocks(path):
    """Parses NIST-style 'KEY = value' blocks separated by blank lines; [section] headers kept."""
    out, cur, section = [], {}, {}
    for raw in open(path, encoding="utf-8"):
        line = raw.strip()
        if line.startswith("[") and line.endswith("]"):
            k, _, v = line[1:-1].partition("=")
            section[k.strip()] = v.strip()
            continue
        if line.startswith("#"):
            continue
        if not line:
            if cur:
                out.append(cur)
                cur = {}
            continue
        if "=" in line:
            k, _, v = line.partition("=")
            cur[k.strip()] = v.strip()
            cur.setdefault("_section", dict(section))
        elif line == "FAIL":
            cur["FAIL"] = True
    if cur:
        out.append(cur)
    return out


def write(name, origin, vectors):
    with open(os.path.join(HERE, name), "w", encoding="utf-8") as f:
        json.dump({"origin": origin, "vectors": vectors}, f, indent=1)
        f.write("\n")
    print(f"{name}: {len(vectors)} vectors")


def x25519():
    vs = [{"scalar": b["INPUT_SCALAR"], "u": b["INPUT_U"], "output": b["OUTPUT_U"]}
          for b in blocks(f"{CV}/asymmetric/X25519/rfc7748.txt") if "INPUT_SCALAR" in b]
    write("x25519-rfc7748.json", "RFC 7748 §5.2, via python3-cryptography-vectors asymmetric/X25519/rfc7748.txt", vs)


def ed25519():
    vs = []
    for i, line in enumerate(open(f"{CV}/asymmetric/Ed25519/sign.input", encoding="ascii")):
        # Every 8th of djb's 1024 lines (the first is RFC 8032 §7.1 TEST 1), to keep the file small.
        if i % 8:
            continue
        sk, pk, msg, sm, _ = line.split(":")
        vs.append({"seed": sk[:64], "publicKey": pk, "message": msg, "signature": sm[:128]})
    write("ed25519-rfc8032.json", "djb's ed25519 sign.input (RFC 8032 §7.1 TEST 1 is line 1), every 8th line, via python3-cryptography-vectors", vs)


def hkdf():
    merged = []  # this file puts a blank line inside some cases: a block without IKM continues the last one
    for b in blocks(f"{CV}/KDF/rfc-5869-HKDF-SHA256.txt"):
        if "IKM" not in b and merged:
            merged[-1].update(b)
        else:
            merged.append(b)
    vs = [{"ikm": b["IKM"], "salt": b.get("salt", ""), "info": b.get("info", ""), "length": int(b["L"]), "okm": b["OKM"]}
          for b in merged if "OKM" in b]
    write("hkdf-sha256-rfc5869.json", "RFC 5869 Appendix A.1-A.3, via python3-cryptography-vectors KDF/rfc-5869-HKDF-SHA256.txt", vs)


def hmac():
    vs = [{"key": b["Key"], "message": b["Msg"], "mac": b["MD"]}
          for b in blocks(f"{CV}/HMAC/rfc-4231-sha256.txt") if "MD" in b]
    write("hmac-sha256-rfc4231.json", "RFC 4231 §4, via python3-cryptography-vectors HMAC/rfc-4231-sha256.txt (test 5 truncates to 128 bits: compare the prefix)", vs)


def aes_gcm():
    vs = []
    for bits in (128, 256):
        for b in blocks(f"{CV}/ciphers/AES/GCM/gcmEncryptExtIV{bits}.rsp"):
            sec = b.get("_section", {})
            if "Key" not in b or sec.get("Taglen") != "128" or sec.get("IVlen") != "96":
                continue
            if int(b.get("Count", "0")) > 2:  # three per parameter set is plenty
                continue
            vs.append({"key": b["Key"], "iv": b["IV"], "plaintext": b.get("PT", ""), "aad": b.get("AAD", ""),
                       "ciphertext": b.get("CT", ""), "tag": b["Tag"]})
    write("aes-gcm-nist.json", "NIST CAVP gcmEncryptExtIV128/256.rsp (Taglen 128, IVlen 96, Count 0-2), via python3-cryptography-vectors", vs)


def aes_gcm_iv16():
    # NIST's GCM files have 8-, 96- and 1024-bit IVs only; legacy OMEMO media (aesgcm:// in old
    # Conversations) used 16-byte IVs. pyca/cryptography (OpenSSL) makes these.
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM
    vs = []
    for i in range(12):
        h = lambda label, n: (hashlib.sha256(f"parley-gcm16-{label}-{i}".encode()).digest() * 8)[:n]
        key, iv, pt, aad = h("key", 32 if i % 2 else 16), h("iv", 16), h("pt", i * 13), h("aad", i % 3 * 7)
        sealed = AESGCM(key).encrypt(iv, pt, aad)
        vs.append({"key": key.hex(), "iv": iv.hex(), "plaintext": pt.hex(), "aad": aad.hex(),
                   "ciphertext": sealed[:-16].hex(), "tag": sealed[-16:].hex()})
    write("aes-gcm-iv16-pyca.json", "python3-cryptography (Debian 38, OpenSSL) AESGCM with 16-byte IVs, deterministic inputs", vs)


def aes_cbc():
    vs = []
    for bits in (128, 256):
        for b in blocks(f"{CV}/ciphers/AES/CBC/CBCMMT{bits}.rsp"):
            if "KEY" in b and "PLAINTEXT" in b and b.get("_section", {}).get("ENCRYPT") is not None:
                vs.append({"key": b["KEY"], "iv": b["IV"], "plaintext": b["PLAINTEXT"], "ciphertext": b["CIPHERTEXT"]})
    write("aes-cbc-nist.json", "NIST CAVP CBCMMT128/256.rsp [ENCRYPT] (no padding: our PKCS#7 output starts with these blocks), via python3-cryptography-vectors", vs)


def sha2():
    vs = []
    for name, algo in (("SHA256ShortMsg.rsp", "sha256"), ("SHA512ShortMsg.rsp", "sha512"), ("SHA256LongMsg.rsp", "sha256")):
        for i, b in enumerate(x for x in blocks(f"{CV}/hashes/SHA2/{name}") if "MD" in x):
            if i % 8 == 0:
                msg = "" if b["Len"] == "0" else b["Msg"]
                vs.append({"algorithm": algo, "message": msg, "digest": b["MD"]})
    write("sha2-fips180.json", "NIST CAVP SHA256ShortMsg/SHA512ShortMsg/SHA256LongMsg.rsp, every 8th, via python3-cryptography-vectors", vs)


def scrypt():
    vs = []
    for b in blocks(f"{CV}/KDF/scrypt.txt"):
        if "DERIVED_KEY" not in b or int(b["N"]) * int(b["r"]) > 16384 * 8:
            continue  # the N = 2^20 case needs 1 GiB
        vs.append({"password": b["PASSWORD"].encode().hex(), "salt": b["SALT"].encode().hex(),
                   "N": int(b["N"]), "r": int(b["r"]), "p": int(b["p"]), "dkLen": int(b["LENGTH"]), "key": b["DERIVED_KEY"]})
    write("scrypt-rfc7914.json", "RFC 7914 §12 (N <= 16384), via python3-cryptography-vectors KDF/scrypt.txt", vs)


def xeddsa_vectors():
    import xeddsa.bindings as x

    def det(label, i, n):
        out = b""
        c = 0
        while len(out) < n:
            out += hashlib.sha256(f"parley-xeddsa-{label}-{i}-{c}".encode()).digest()
            c += 1
        return out[:n]

    def clamp(k):
        k = bytearray(k)
        k[0] &= 248
        k[31] &= 127
        k[31] |= 64
        return bytes(k)

    vs = []
    for i in range(48):
        priv = clamp(det("priv", i, 32))
        msg = det("msg", i, i * 7 % 90)
        nonce = det("nonce", i, 64)
        pub = x.priv_to_curve25519_pub(priv)
        ed_pub = x.priv_to_ed25519_pub(priv)  # real sign bit of priv·B
        negated = bool(ed_pub[31] & 0x80)
        spec_sig = x.ed25519_priv_sign(x.priv_force_sign(priv, False), msg, nonce)
        raw = bytearray(x.ed25519_priv_sign(priv, msg, nonce))
        raw[63] |= ed_pub[31] & 0x80  # libsignal stores A's sign bit in the top bit of byte 63
        seed = det("seed", i, 32)
        seed_ed_pub = x.seed_to_ed25519_pub(seed)
        vs.append({
            "privateKey": priv.hex(), "publicKey": pub.hex(), "message": msg.hex(), "nonce": nonce.hex(),
            "edwardsPublicKeySign0": x.curve25519_pub_to_ed25519_pub(pub, False).hex(),
            "signBitOfKTimesB": 1 if negated else 0,
            "xeddsaSignature": spec_sig.hex(),
            "libsignalSignature": bytes(raw).hex(),
            "seed": seed.hex(), "seedEd25519PublicKey": seed_ed_pub.hex(),
            "seedX25519PrivateKey": x.seed_to_priv(seed).hex(),
            "seedMontgomeryPublicKey": x.ed25519_pub_to_curve25519_pub(seed_ed_pub).hex(),
        })
    write("xeddsa-python-xeddsa.json",
          "python3-xeddsa (Debian 1.0.2, libxeddsa): xeddsaSignature = ed25519_priv_sign(priv_force_sign(priv, False), msg, nonce); "
          "libsignalSignature = ed25519_priv_sign(priv, msg, nonce) with the sign bit of priv_to_ed25519_pub(priv) in byte 63; "
          "conversions from curve25519_pub_to_ed25519_pub, seed_to_priv, ed25519_pub_to_curve25519_pub", vs)


if __name__ == "__main__":
    if not os.path.isdir(CV):
        sys.exit("python3-cryptography-vectors is not installed (apt-get install -y python3-cryptography-vectors)")
    x25519(); ed25519(); hkdf(); hmac(); sha2(); aes_gcm(); aes_gcm_iv16(); aes_cbc(); scrypt(); xeddsa_vectors()
