// The pieces of parley-chat's account that need no server: entity capabilities (XEP-0115) and the OMEMO
// transport over an iq caller (publish-options, item-not-found as "no such node").
import { describe, expect, it } from "vitest";
import { NS_PUBSUB, parseXml, serializeXml, type Element } from "@parley/omemo";
import type { Client } from "@xmpp/client";
import { capsVer } from "../src/account.js";
import { omemoTransport } from "../src/transport.js";

describe("capsVer", () => {
  it("gives XEP-0115 §5.2's example verification string", () => {
    const ver = capsVer({ category: "client", type: "pc", name: "Exodus 0.9.1" }, [
      "http://jabber.org/protocol/muc",
      "http://jabber.org/protocol/disco#info",
      "http://jabber.org/protocol/caps",
      "http://jabber.org/protocol/disco#items",
    ]);
    expect(ver).toBe("QgayPKawpkPSDYmwT/WM94uAlu0=");
  });

  it("announces +notify for both OMEMO device-list nodes (or the server sends no PEP notifications)", () => {
    expect(capsVer()).not.toBe(capsVer(undefined, ["http://jabber.org/protocol/caps"]));
  });
});

/** A Client whose iqCaller answers with `reply` and records the requests. */
function fakeClient(reply: (iq: Element) => Element | Error) {
  const requests: string[] = [];
  const sent: string[] = [];
  const xmpp = {
    iqCaller: {
      request(iq: Element) {
        requests.push(serializeXml(iq));
        const r = reply(iq);
        return r instanceof Error ? Promise.reject(r) : Promise.resolve(r);
      },
    },
    send(...stanzas: Element[]) {
      sent.push(...stanzas.map((s) => serializeXml(s)));
      return Promise.resolve();
    },
  } as unknown as Client;
  return { xmpp, requests, sent };
}

describe("omemoTransport", () => {
  it("publishes with publish-options and fetches items", async () => {
    const { xmpp, requests } = fakeClient((iq) =>
      iq.attrs["type"] === "set"
        ? parseXml('<iq type="result"/>')
        : parseXml(
            `<iq type="result"><pubsub xmlns="${NS_PUBSUB}"><items node="n"><item id="current"><list xmlns="x"/></item></items></pubsub></iq>`,
          ),
    );
    const t = omemoTransport(xmpp);
    await t.publish("n", "current", parseXml('<list xmlns="x"/>'), { "pubsub#access_model": "open" });
    expect(requests[0]).toContain('<publish node="n"><item id="current"><list xmlns="x"/></item></publish>');
    expect(requests[0]).toContain("<publish-options>");
    expect(requests[0]).toContain('var="pubsub#access_model"><value>open</value>');
    const items = await t.fetch("bob@example.org", "n");
    expect(items?.map((i) => serializeXml(i))).toEqual(['<list xmlns="x"/>']);
    expect(requests[1]).toMatch(/<iq type="get" to="bob@example.org"/);
  });

  it("reads item-not-found as no node, and lets other errors through", async () => {
    const notFound = Object.assign(new Error("item-not-found"), { condition: "item-not-found" });
    expect(await omemoTransport(fakeClient(() => notFound).xmpp).fetch("bob@example.org", "n")).toBeNull();
    const forbidden = Object.assign(new Error("forbidden"), { condition: "forbidden" });
    await expect(omemoTransport(fakeClient(() => forbidden).xmpp).fetch("bob@example.org", "n")).rejects.toBe(
      forbidden,
    );
  });
});
