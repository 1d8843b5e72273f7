/**
 * What parley-chat speaks beyond @parley/sdk's protocol (PROTOCOL_VERSION 2), until the SDK takes it
 * over: one command and two fields of an event. Everything else goes through the SDK's gate
 * (`parseRequest`) unchanged, and this gate checks its own command as strictly (and never echoes input).
 *
 * - `{"cmd": "omemo", "enabled": false}` turns OMEMO off for this device (`/omemo off`): the device leaves
 *   our device lists and its bundles are retracted, so contacts stop encrypting to it, and parley-chat
 *   stops sending with OMEMO, also after a restart, until `{"cmd": "omemo", "enabled": true}` (`/omemo on`).
 * - The `otr` event carries `trust` (the trust store's state of the peer's key: `tofu`, `verified`,
 *   `untrusted`, `compromised`) and `trusted` (whether its policy trusts it) once encrypted.
 */
import {
  MAX_COMMAND_BYTES,
  parseRequest,
  parseRequestText,
  ProtocolError,
  type ChatEvent,
  type Command,
  type Request,
} from "@parley/sdk";

/** Turn OMEMO off (or back on) for this device. */
export interface OmemoSwitchCommand {
  readonly cmd: "omemo";
  readonly enabled: boolean;
}

/** Every command ChatClient runs: the SDK's and parley-chat's own. */
export type ChatCommand = Command | OmemoSwitchCommand;
export type ChatRequest = Request | (OmemoSwitchCommand & { readonly id?: string });

/** The `otr` event with the trust of the peer's key. */
export type OtrStateEvent = Extract<ChatEvent, { event: "otr" }> & {
  readonly trust?: string;
  readonly trusted?: boolean;
};

/** Every event ChatClient emits (each is also a ChatEvent of the SDK, which ignores the extra fields). */
export type ChatClientEvent = Exclude<ChatEvent, { event: "otr" }> | OtrStateEvent;

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);

/** One request (a parsed JSON value): parley-chat's own command, or whatever the SDK's gate says. */
export function parseChatRequest(value: unknown): ChatRequest {
  if (!isObject(value) || value["cmd"] !== "omemo") return parseRequest(value);
  // The request id, checked by the SDK's gate (a command without fields of its own lends it its checks).
  const { id } = parseRequest({ cmd: "status", ...(value["id"] === undefined ? {} : { id: value["id"] }) });
  const enabled = value["enabled"];
  if (typeof enabled !== "boolean") throw new ProtocolError("BAD_COMMAND", '"enabled" must be true or false');
  return { cmd: "omemo", enabled, ...(id === undefined ? {} : { id }) };
}

/** One JSON line or WebSocket text frame to a request: TOO_LARGE, BAD_COMMAND, or the request. */
export function parseChatRequestText(text: string): ChatRequest {
  if (text.length > MAX_COMMAND_BYTES || new TextEncoder().encode(text).length > MAX_COMMAND_BYTES)
    return parseRequestText(text); // TOO_LARGE
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return parseRequestText(text); // its BAD_COMMAND
  }
  return parseChatRequest(value);
}
