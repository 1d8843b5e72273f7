/**
 * libotr's private key file (otr.private_key): an s-expression written by libgcrypt's
 * gcry_sexp_sprint(GCRYSEXP_FMT_ADVANCED):
 *
 *   (privkeys (account (name "alice@example.org") (protocol prpl-jabber)
 *     (private-key (dsa (p #00F1...#) (q #00C8...#) (g #...#) (y #...#) (x #...#)))))
 *
 * The reader accepts the advanced and canonical forms libgcrypt reads: quoted strings, bare tokens,
 * #hex#, |base64| and length-prefixed verbatim strings.
 */
import { base64Decode, bytesToBigint, utf8Decode, utf8Encode } from "./bytes.js";
import { MAX_PRIVKEY_FILE_CHARS, MAX_SEXP_DEPTH } from "./consts.js";
import { DsaPrivateKey, gcryHex } from "./dsa.js";
import type { OtrEngine } from "./engine.js";
import { isOtrError, OtrError } from "./errors.js";

type Sexp = Uint8Array | Sexp[];

function bad(message: string): never {
  throw new OtrError("INVALID_KEY", `libotr key file: ${message}`);
}

function parseSexp(text: string): Sexp[] {
  const bytes = utf8Encode(text);
  let i = 0;
  const ws = (c: number) => c === 32 || c === 9 || c === 10 || c === 13 || c === 12;
  const stack: Sexp[][] = [[]];
  while (i < bytes.length) {
    const c = bytes[i]!;
    if (ws(c)) {
      i++;
    } else if (c === 0x28) {
      if (stack.length > MAX_SEXP_DEPTH) bad("nested too deeply");
      const list: Sexp[] = [];
      stack[stack.length - 1]!.push(list);
      stack.push(list);
      i++;
    } else if (c === 0x29) {
      if (stack.length === 1) bad("unbalanced ')'");
      stack.pop();
      i++;
    } else if (c === 0x22) {
      const out: number[] = [];
      i++;
      for (;;) {
        if (i >= bytes.length) bad("unterminated string");
        const d = bytes[i++]!;
        if (d === 0x22) break;
        if (d === 0x5c) {
          const e = bytes[i++];
          if (e === undefined) bad("unterminated string");
          const map: Record<number, number> = { 0x6e: 10, 0x74: 9, 0x72: 13, 0x22: 0x22, 0x5c: 0x5c, 0x27: 0x27 };
          const m = map[e];
          if (m !== undefined) out.push(m);
          else if (e >= 0x30 && e <= 0x37) {
            const oct = utf8Decode(bytes.slice(i - 1, i + 2));
            if (!/^[0-7]{3}$/.test(oct)) bad("bad octal escape");
            out.push(parseInt(oct, 8));
            i += 2;
          } else if (e === 0x0a) {
            /* line continuation */
          } else bad("bad escape");
        } else out.push(d);
      }
      stack[stack.length - 1]!.push(Uint8Array.from(out));
    } else if (c === 0x23) {
      const end = bytes.indexOf(0x23, i + 1);
      if (end < 0) bad("unterminated hex string");
      const hex = utf8Decode(bytes.slice(i + 1, end)).replace(/\s+/g, "");
      if (!/^([0-9a-fA-F]{2})*$/.test(hex)) bad("bad hex string");
      stack[stack.length - 1]!.push(Uint8Array.from((hex.match(/../g) ?? []).map((h) => parseInt(h, 16))));
      i = end + 1;
    } else if (c === 0x7c) {
      const end = bytes.indexOf(0x7c, i + 1);
      if (end < 0) bad("unterminated base64 string");
      try {
        stack[stack.length - 1]!.push(base64Decode(utf8Decode(bytes.slice(i + 1, end)).replace(/\s+/g, "")));
      } catch {
        bad("bad base64 string");
      }
      i = end + 1;
    } else if (c >= 0x30 && c <= 0x39 && /^\d+:/.test(utf8Decode(bytes.slice(i, i + 12)))) {
      const colon = bytes.indexOf(0x3a, i);
      const n = Number(utf8Decode(bytes.slice(i, colon)));
      if (colon + 1 + n > bytes.length) bad("verbatim string runs past the end");
      stack[stack.length - 1]!.push(bytes.slice(colon + 1, colon + 1 + n));
      i = colon + 1 + n;
    } else {
      let j = i;
      while (j < bytes.length && !ws(bytes[j]!) && bytes[j] !== 0x28 && bytes[j] !== 0x29 && bytes[j] !== 0x22) j++;
      stack[stack.length - 1]!.push(bytes.slice(i, j));
      i = j;
    }
  }
  if (stack.length !== 1) bad("unbalanced '('");
  return stack[0]!;
}

const str = (s: Sexp | undefined): string | undefined => (s instanceof Uint8Array ? utf8Decode(s) : undefined);

function find(list: Sexp[], name: string): Sexp[] | undefined {
  for (const item of list) if (Array.isArray(item) && str(item[0]) === name) return item;
  return undefined;
}

/** One account's key from a libotr key file. */
export interface LibotrAccountKey {
  readonly account: string;
  readonly protocol: string;
  readonly key: DsaPrivateKey;
}

/** Reads every DSA key in a libotr private key file (otr.private_key). INVALID_KEY when it cannot. */
export function importLibotrPrivateKeys(text: string, engine?: OtrEngine): LibotrAccountKey[] {
  if (typeof text !== "string") throw new OtrError("INVALID_ARGUMENT", "key file must be a string");
  if (text.length > MAX_PRIVKEY_FILE_CHARS) bad("too large");
  const top = parseSexp(text);
  const privkeys =
    top.length === 1 && Array.isArray(top[0]) && str(top[0][0]) === "privkeys" ? top[0] : bad("no (privkeys ...) list");
  const out: LibotrAccountKey[] = [];
  for (const acct of privkeys.slice(1)) {
    if (!Array.isArray(acct) || str(acct[0]) !== "account") bad("expected (account ...)");
    const account = str(find(acct, "name")?.[1]);
    const protocol = str(find(acct, "protocol")?.[1]);
    const pk = find(acct, "private-key");
    const dsa = pk ? find(pk, "dsa") : undefined;
    if (account === undefined || protocol === undefined || !dsa)
      bad("account lacks name, protocol or a DSA private-key");
    const n = (k: string): bigint => {
      const v = find(dsa, k)?.[1];
      if (!(v instanceof Uint8Array) || v.length === 0 || v.length > 512) bad(`DSA parameter ${k} is missing`);
      return bytesToBigint(v);
    };
    try {
      out.push({ account, protocol, key: new DsaPrivateKey(n("p"), n("q"), n("g"), n("y"), n("x"), engine) });
    } catch (error) {
      if (isOtrError(error)) throw error;
      bad("invalid DSA key");
    }
  }
  return out;
}

function quote(s: string): string {
  if (/^[A-Za-z0-9\-./_:*+=]+$/.test(s) && !/^\d/.test(s)) return s;
  return '"' + s.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n") + '"';
}

/** Writes keys in libotr's private key file format (readable by libotr's otrl_privkey_read). */
export function exportLibotrPrivateKeys(keys: readonly LibotrAccountKey[]): string {
  let out = "(privkeys\n";
  for (const { account, protocol, key } of keys) {
    const { p, q, g, y, x } = key.exportParameters();
    out +=
      ` (account\n(name ${quote(account)})\n(protocol ${quote(protocol)})\n(private-key \n (dsa \n` +
      `  (p #${gcryHex(p)}#)\n  (q #${gcryHex(q)}#)\n  (g #${gcryHex(g)}#)\n  (y #${gcryHex(y)}#)\n  (x #${gcryHex(x)}#)\n  )\n )\n )\n`;
  }
  return out + ")\n";
}
