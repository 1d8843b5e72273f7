/**
 * Chunked AEAD (the STREAM construction, Hoang-Reyhanitabar-Rogaway-Vizár 2015): each chunk sealed
 * with XChaCha20-Poly1305 under a nonce made of its index and a last-chunk flag, so reordering,
 * dropping, truncating or extending the stream fails authentication. Memory stays at one chunk.
 */
import { concatBytes, isCryptoError, type Crypto } from "@parley/crypto";
import { u64be } from "./encoding.js";
import { StorageError } from "./errors.js";

const TAG_BYTES = 16;

/** Collects pieces of any size and hands out exact lengths without quadratic copying. */
export class ByteQueue {
  #pieces: Uint8Array[] = [];
  #length = 0;
  get length(): number {
    return this.#length;
  }
  push(piece: Uint8Array): void {
    if (piece.length === 0) return;
    this.#pieces.push(piece);
    this.#length += piece.length;
  }
  /** Removes and returns the first `n` bytes (n <= length). */
  take(n: number): Uint8Array {
    const out = new Uint8Array(n);
    let filled = 0;
    while (filled < n) {
      const head = this.#pieces[0]!;
      const used = Math.min(head.length, n - filled);
      out.set(head.subarray(0, used), filled);
      filled += used;
      if (used === head.length) this.#pieces.shift();
      else this.#pieces[0] = head.subarray(used);
    }
    this.#length -= n;
    return out;
  }
}

function nonce(index: number, last: boolean): Uint8Array {
  const out = new Uint8Array(24);
  out.set(u64be(index), 0);
  out[8] = last ? 1 : 0;
  return out;
}

export type ByteSource = Uint8Array | Iterable<Uint8Array> | AsyncIterable<Uint8Array>;

export async function* pieces(source: ByteSource): AsyncIterable<Uint8Array> {
  if (source instanceof Uint8Array) {
    yield source;
    return;
  }
  for await (const piece of source as AsyncIterable<Uint8Array>) {
    if (!(piece instanceof Uint8Array))
      throw new StorageError("INVALID_ARGUMENT", "a stream must yield Uint8Array pieces");
    yield piece;
  }
}

export interface SealStats {
  size: number;
  chunks: number;
}

/** Seals `source` chunk by chunk; `stats` is filled in as it goes (final when the iterable ends). */
export async function* sealStream(
  crypto: Crypto,
  key: Uint8Array,
  ad: Uint8Array,
  chunkBytes: number,
  source: ByteSource,
  stats: SealStats,
): AsyncIterable<Uint8Array> {
  const queue = new ByteQueue();
  for await (const piece of pieces(source)) {
    queue.push(piece.slice());
    stats.size += piece.length;
    // Hold back at least one byte more than a chunk: only at the end do we know which chunk is last.
    while (queue.length > chunkBytes) {
      yield crypto.xchacha20Poly1305Encrypt(key, nonce(stats.chunks++, false), queue.take(chunkBytes), ad);
    }
  }
  yield crypto.xchacha20Poly1305Encrypt(key, nonce(stats.chunks++, true), queue.take(queue.length), ad);
}

/** Opens a sealed stream; yields each chunk's plaintext only after its tag verified; TAMPERED otherwise. */
export async function* openStream(
  crypto: Crypto,
  key: Uint8Array,
  ad: Uint8Array,
  chunkBytes: number,
  sealed: AsyncIterable<Uint8Array>,
  what: string,
): AsyncIterable<Uint8Array> {
  const sealedBytes = chunkBytes + TAG_BYTES;
  const queue = new ByteQueue();
  let index = 0;
  const open = (chunk: Uint8Array, last: boolean) => {
    try {
      return crypto.xchacha20Poly1305Decrypt(key, nonce(index++, last), chunk, ad);
    } catch (error) {
      if (isCryptoError(error)) {
        throw new StorageError("TAMPERED", `${what} failed authentication (altered, truncated or extended)`);
      }
      throw error;
    }
  };
  for await (const piece of sealed) {
    queue.push(piece);
    while (queue.length > sealedBytes) yield open(queue.take(sealedBytes), false);
  }
  yield open(queue.take(queue.length), true);
}

export async function collect(source: AsyncIterable<Uint8Array>): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  for await (const piece of source) parts.push(piece);
  return concatBytes(...parts);
}
