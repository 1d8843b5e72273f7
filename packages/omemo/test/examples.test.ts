import { describe, expect, it } from "vitest";
import { stanzaExample } from "../examples/stanzas.js";

describe("README example (examples/stanzas.ts)", () => {
  it("publishes, sends and reads back an OMEMO 2 message stanza", () => {
    const result = stanzaExample();
    expect(result.body).toBe("Wherefore art thou?");
    expect(result.from).toBe("alice@example.org");
    expect(result.kex).toBe(true);
    expect(result.publishes[0]).toContain('<publish node="urn:xmpp:omemo:2:devices">');
    expect(result.publishes[1]).toContain('<item id="31415">');
    expect(result.publishes[1]).toContain('<field var="pubsub#max_items"><value>max</value></field>');
  });
});
