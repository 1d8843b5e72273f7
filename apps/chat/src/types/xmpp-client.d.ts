/**
 * The part of @xmpp/client 0.14 (which ships no type declarations) that parley-chat uses. Elements are
 * ltx elements, the same class @parley/omemo's `Element` type describes.
 */
declare module "@xmpp/client" {
  import type { Element } from "@parley/omemo";

  export interface ClientOptions {
    /** e.g. "xmpp://127.0.0.1:5222" or "xmpps://example.org:5223" */
    service: string;
    domain?: string;
    resource?: string;
    username?: string;
    password?: string;
  }

  export interface Jid {
    local: string;
    domain: string;
    resource: string;
    bare(): Jid;
    toString(): string;
  }

  export interface IqCaller {
    /** Sends an `<iq>` and resolves with the result `<iq>`; rejects with a StanzaError (`condition`) on an error reply. */
    request(stanza: Element, timeout?: number): Promise<Element>;
  }

  export interface IqContext {
    readonly stanza: Element;
    readonly element: Element;
    readonly from: Jid | null;
  }

  export interface IqCallee {
    /** Answers `<iq type='get'>` whose child is `<name xmlns=ns>`: return the result's child element. */
    get(ns: string, name: string, handler: (context: IqContext) => Element | Promise<Element>): void;
  }

  export interface Client {
    readonly jid: Jid | null;
    /** "online" once the session is established; "offline", "connecting", "disconnect", ... otherwise. */
    readonly status: string;
    readonly iqCaller: IqCaller;
    readonly iqCallee: IqCallee;
    start(): Promise<Jid>;
    stop(): Promise<void>;
    send(...stanzas: Element[]): Promise<void>;
    on(event: "stanza", listener: (stanza: Element) => void): this;
    on(event: "online", listener: (jid: Jid) => void): this;
    on(event: "offline", listener: () => void): this;
    on(event: "error", listener: (error: Error) => void): this;
    on(event: string, listener: (...args: unknown[]) => void): this;
    /**
     * XEP-0198 (@xmpp/stream-management): after a lost connection, xmpp.js first tries to resume the
     * session; a resumed one says "resumed" here and no "online" (the server kept it: presences,
     * carbons, rooms), a new one says "online".
     */
    readonly streamManagement?: {
      id: string;
      /** `<enable/>` went out and no answer yet, or it was answered with `<enabled/>`. */
      readonly enableSent: boolean;
      /** The server answered `<enabled/>` (and xmpp.js has reset its counters). */
      readonly enabled: boolean;
      on(event: "resumed", listener: () => void): unknown;
      /** The server acknowledged this stanza (`<a h=.../>`): the object that was sent. */
      on(event: "ack", listener: (stanza: Element) => void): unknown;
      /** The stream ended (a resumption refused, the client stopped) before this stanza was acknowledged. */
      on(event: "fail", listener: (stanza: Element) => void): unknown;
    };
    /** @xmpp/reconnect: milliseconds before a new attempt after a lost connection (default 1000). */
    readonly reconnect?: { delay: number };
  }

  export function client(options: ClientOptions): Client;
  export function xml(
    name: string,
    attrs?: Record<string, string | number | undefined>,
    ...children: unknown[]
  ): Element;
  export function jid(value: string): Jid;
}
