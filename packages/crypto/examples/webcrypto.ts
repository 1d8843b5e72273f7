// Run with: pnpm --filter @parley/crypto exec tsx examples/webcrypto.ts
// Prekeys and bundle checks through WebCrypto where the platform has X25519/Ed25519 (Chromium 150 and
// Node 20 do), noble otherwise; the synchronous facade uses the keys as they are.
import { createCrypto } from "@parley/crypto";
import { generateX25519KeyPairs, webCryptoAvailable, xeddsaVerifyAsync } from "@parley/crypto/webcrypto";

const crypto = createCrypto();
console.log("webcrypto:", await webCryptoAvailable()); // { x25519: true, ed25519: true } in Chromium 150 and Node 20

// 100 one-time prekeys off the main thread, in the facade's KeyPair format (clamped private key)
const prekeys = await generateX25519KeyPairs(100);
const peer = crypto.generateX25519KeyPair();
const shared = crypto.x25519(prekeys[0]!.privateKey, peer.publicKey); // the sync ratchet takes them as is
console.log("prekeys:", prekeys.length, "shared secret bytes:", shared.length);

// A fetched bundle: check the signed prekey's XEdDSA signature before starting a session
const identity = crypto.generateX25519KeyPair();
const signedPreKey = prekeys[1]!.publicKey;
const signature = crypto.xeddsaSign(identity.privateKey, signedPreKey);
console.log("bundle valid:", await xeddsaVerifyAsync(identity.publicKey, signedPreKey, signature));
signature[0]! ^= 1;
console.log("tampered bundle valid:", await xeddsaVerifyAsync(identity.publicKey, signedPreKey, signature));
