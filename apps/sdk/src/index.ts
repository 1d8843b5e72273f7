/**
 * @parley/sdk: the typed API of parley-chat (commands, replies, events: src/protocol.ts; results:
 * src/results.ts) and ParleyClient, a client for its local WebSocket server, for bots and integrations.
 */
export * from "./protocol.js";
export * from "./results.js";
export * from "./client.js";
