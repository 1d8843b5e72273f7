/** Types of build-libotr-peer.mjs (plain JavaScript, shared with apps/conformance/adapters/libotr.mjs). */
export declare function buildLibotrPeer(options?: { beforeBuild?: () => void }): string;
