// The pure roster and presence parts of parley-chat's account (src/roster.ts): JID checks, roster items,
// roster pushes (forged ones refused), presence parsing and the bounded tables.
import { describe, expect, it } from "vitest";
import { parseXml } from "@parley/omemo";
import {
  accountJid,
  bareOf,
  MAX_PRESENCE_CONTACTS,
  MAX_RESOURCES_PER_CONTACT,
  MAX_ROSTER_ITEMS,
  parseJid,
  parsePresence,
  parseRosterItem,
  parseRosterPush,
  parseRosterResult,
  PresenceTable,
  Roster,
} from "../src/roster.js";

const OWN = "alice@example.org";

describe("parseJid", () => {
  it("reads bare and full JIDs, lower-casing local and domain but not the resource", () => {
    expect(parseJid("Alice@Example.ORG/Phone One")).toEqual({
      local: "alice",
      domain: "example.org",
      resource: "Phone One",
      bare: "alice@example.org",
    });
    expect(parseJid("example.org")).toMatchObject({ local: undefined, bare: "example.org" });
    expect(parseJid("room@conference.example.org/nick/with/slashes")?.resource).toBe("nick/with/slashes");
    expect(bareOf("bob@example.org/x")).toBe("bob@example.org");
    expect(accountJid("bob@example.org")).toBe("bob@example.org");
    expect(accountJid("bob@example.org/x")).toBeUndefined();
    expect(accountJid("example.org")).toBeUndefined();
  });

  it.each([
    ["", "empty"],
    ["@example.org", "empty local"],
    ["alice@", "empty domain"],
    ["alice@example.org/", "empty resource"],
    ["al ice@example.org", "space in local"],
    ["a<b@example.org", "forbidden local character"],
    ["a'b@example.org", "quote in local"],
    ["alice@exa mple.org", "space in domain"],
    ["alice@@example.org", "two @"],
    ["alice@example..org", "empty label"],
    ["alice@.example.org", "leading dot"],
    ["alice@example.org/a\u0000b", "control character in resource"],
    [`${"a".repeat(1024)}@example.org`, "local over 1023 bytes"],
    [`alice@example.org/${"é".repeat(512)}`, "resource over 1023 bytes (UTF-8)"],
  ])("refuses %j (%s)", (jid) => {
    expect(parseJid(jid)).toBeUndefined();
  });

  it("refuses what is not a string", () => {
    expect(parseJid(undefined)).toBeUndefined();
    expect(parseJid(42)).toBeUndefined();
  });
});

describe("roster items", () => {
  it("reads jid, name, subscription and ask", () => {
    expect(
      parseRosterItem(parseXml('<item jid="Bob@Example.org" name="Bob" subscription="both" ask="subscribe"/>')),
    ).toEqual({
      item: { jid: "bob@example.org", name: "Bob", subscription: "both", ask: "subscribe" },
      removed: false,
    });
    expect(parseRosterItem(parseXml('<item jid="bob@example.org"/>'))).toEqual({
      item: { jid: "bob@example.org", subscription: "none" },
      removed: false,
    });
    expect(parseRosterItem(parseXml('<item jid="bob@example.org" subscription="remove"/>'))?.removed).toBe(true);
  });

  it("refuses items without a valid bare JID or with an unknown subscription; cuts long names", () => {
    expect(parseRosterItem(parseXml("<item/>"))).toBeUndefined();
    expect(parseRosterItem(parseXml('<item jid="bob@example.org/res"/>'))).toBeUndefined();
    expect(parseRosterItem(parseXml('<item jid="bob@example.org" subscription="all"/>'))).toBeUndefined();
    const long = parseRosterItem(parseXml(`<item jid="bob@example.org" name="${"n".repeat(5000)}"/>`));
    expect(long?.item.name?.length).toBe(1024);
  });

  it("a roster result: malformed and repeated items skipped, at most MAX_ROSTER_ITEMS", () => {
    const q = parseXml(
      '<query xmlns="jabber:iq:roster"><item jid="a@x"/><item jid="bad@x/r"/><item jid="A@X" name="dup"/><item jid="b@x" subscription="to"/></query>',
    );
    expect(parseRosterResult(q)).toEqual([
      { jid: "a@x", subscription: "none" },
      { jid: "b@x", subscription: "to" },
    ]);
    const many = parseXml(
      `<query xmlns="jabber:iq:roster">${Array.from({ length: MAX_ROSTER_ITEMS + 10 }, (_, i) => `<item jid="u${i}@x"/>`).join("")}</query>`,
    );
    expect(parseRosterResult(many)).toHaveLength(MAX_ROSTER_ITEMS);
    expect(parseRosterResult(undefined)).toEqual([]);
  });
});

describe("roster pushes (RFC 6121 §2.1.6)", () => {
  const push = (from: string | undefined, items = '<item jid="bob@example.org" subscription="to"/>') =>
    parseXml(
      `<iq type="set" id="p1"${from === undefined ? "" : ` from="${from}"`}><query xmlns="jabber:iq:roster">${items}</query></iq>`,
    );

  it("accepts a push with no from or from our bare JID", () => {
    expect(parseRosterPush(push(undefined), OWN)?.item).toEqual({ jid: "bob@example.org", subscription: "to" });
    expect(parseRosterPush(push("Alice@Example.org"), OWN)?.item.jid).toBe("bob@example.org");
  });

  it("ignores forged pushes: from another account, from our full JID, from the server", () => {
    expect(parseRosterPush(push("mallory@example.org"), OWN)).toBeUndefined();
    expect(parseRosterPush(push("alice@example.org/other"), OWN)).toBeUndefined();
    expect(parseRosterPush(push("example.org"), OWN)).toBeUndefined();
  });

  it("ignores pushes with other than exactly one item, and non-set iqs", () => {
    expect(parseRosterPush(push(undefined, ""), OWN)).toBeUndefined();
    expect(parseRosterPush(push(undefined, '<item jid="a@x"/><item jid="b@x"/>'), OWN)).toBeUndefined();
    expect(
      parseRosterPush(
        parseXml('<iq type="result"><query xmlns="jabber:iq:roster"><item jid="a@x"/></query></iq>'),
        OWN,
      ),
    ).toBeUndefined();
  });

  it("the roster applies pushes and stays bounded", () => {
    const roster = new Roster();
    roster.replace(
      Array.from({ length: MAX_ROSTER_ITEMS }, (_, i) => ({ jid: `u${i}@x`, subscription: "none" as const })),
    );
    expect(roster.apply({ item: { jid: "new@x", subscription: "none" }, removed: false })).toBe(false);
    expect(roster.apply({ item: { jid: "u1@x", subscription: "both" }, removed: false })).toBe(true);
    expect(roster.get("u1@x")?.subscription).toBe("both");
    expect(roster.apply({ item: { jid: "u2@x", subscription: "none" }, removed: true })).toBe(true);
    expect(roster.get("u2@x")).toBeUndefined();
    expect(roster.items()).toHaveLength(MAX_ROSTER_ITEMS - 1);
  });
});

describe("presence", () => {
  it("reads availability with show, and unavailability", () => {
    expect(parsePresence(parseXml('<presence from="Bob@x/Phone"><show>away</show></presence>'))).toEqual({
      kind: "availability",
      event: { jid: "bob@x", resource: "Phone", available: true, show: "away" },
    });
    expect(parsePresence(parseXml('<presence from="bob@x/p"><show>bogus</show></presence>'))).toEqual({
      kind: "availability",
      event: { jid: "bob@x", resource: "p", available: true },
    });
    expect(parsePresence(parseXml('<presence from="bob@x" type="unavailable"/>'))).toEqual({
      kind: "availability",
      event: { jid: "bob@x", resource: undefined, available: false },
    });
  });

  it("reads subscription requests and answers from accounts", () => {
    expect(parsePresence(parseXml('<presence from="Bob@x" type="subscribe"/>'))).toEqual({
      kind: "subscribe",
      from: "bob@x",
    });
    expect(parsePresence(parseXml('<presence from="bob@x/r" type="unsubscribed"/>'))).toEqual({
      kind: "unsubscribed",
      from: "bob@x",
    });
    expect(parsePresence(parseXml('<presence from="x" type="subscribe"/>'))).toBeUndefined();
  });

  it("ignores errors, probes, invalid or missing from, and room occupants", () => {
    expect(parsePresence(parseXml('<presence from="bob@x" type="error"/>'))).toBeUndefined();
    expect(parsePresence(parseXml('<presence from="bob@x" type="probe"/>'))).toBeUndefined();
    expect(parsePresence(parseXml("<presence/>"))).toBeUndefined();
    expect(parsePresence(parseXml('<presence from="a b@x"/>'))).toBeUndefined();
    expect(
      parsePresence(
        parseXml('<presence from="room@muc.x/nick"><x xmlns="http://jabber.org/protocol/muc#user"/></presence>'),
      ),
    ).toBeUndefined();
    expect(parsePresence(parseXml('<message from="bob@x"/>'))).toBeUndefined();
  });

  it("the presence table tracks resources, clears on a bare unavailable, and is bounded", () => {
    const t = new PresenceTable();
    t.apply({ jid: "bob@x", resource: "a", available: true });
    t.apply({ jid: "bob@x", resource: "b", available: true, show: "dnd" });
    expect(t.of("bob@x")).toEqual({ online: true, resources: ["a", "b"] });
    t.apply({ jid: "bob@x", resource: "a", available: false });
    expect(t.of("bob@x")).toEqual({ online: true, resources: ["b"] });
    t.apply({ jid: "bob@x", resource: undefined, available: false });
    expect(t.of("bob@x")).toEqual({ online: false, resources: [] });

    for (let i = 0; i < MAX_RESOURCES_PER_CONTACT + 5; i++)
      t.apply({ jid: "many@x", resource: `r${i}`, available: true });
    expect(t.of("many@x").resources).toHaveLength(MAX_RESOURCES_PER_CONTACT);
    for (let i = 0; i < MAX_PRESENCE_CONTACTS + 5; i++) t.apply({ jid: `c${i}@x`, resource: "r", available: true });
    expect(t.apply({ jid: "late@x", resource: "r", available: true })).toBe(false);
    expect(t.of("late@x").online).toBe(false);
  });
});
