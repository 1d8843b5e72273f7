import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { DuplicateFilter, isQueueError } from "../src/index.js";

describe("DuplicateFilter (receiver side)", () => {
  it("recognises a resent origin-id from the same sender as a duplicate, and not from another sender", () => {
    const filter = new DuplicateFilter();
    expect(filter.isDuplicate("juliet@example.com", "id-1")).toBe(false);
    expect(filter.isDuplicate("juliet@example.com", "id-1")).toBe(true);
    expect(filter.isDuplicate("mallory@evil.example", "id-1")).toBe(false);
    expect(filter.isDuplicate("juliet@example.com", "id-2")).toBe(false);
  });

  it("is bounded: beyond capacity the id seen longest ago is forgotten", () => {
    const filter = new DuplicateFilter({ capacity: 3 });
    for (const id of ["a", "b", "c", "d"]) expect(filter.isDuplicate("s", id)).toBe(false);
    expect(filter.size).toBe(3);
    expect(filter.isDuplicate("s", "d")).toBe(true);
    expect(filter.isDuplicate("s", "a")).toBe(false); // forgotten, so new again
  });

  it("a duplicate refreshes its id, so a message still being resent stays remembered", () => {
    const filter = new DuplicateFilter({ capacity: 2 });
    filter.isDuplicate("s", "a");
    filter.isDuplicate("s", "b");
    expect(filter.isDuplicate("s", "a")).toBe(true);
    filter.isDuplicate("s", "c"); // evicts b, not a
    expect(filter.isDuplicate("s", "a")).toBe(true);
    expect(filter.isDuplicate("s", "b")).toBe(false);
  });

  it("property: within capacity, exactly the first occurrence of each (sender, id) is new", () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.constantFrom("a@x", "b@x", "c@x"), fc.constantFrom("1", "2", "3", "4", "5")), {
          maxLength: 200,
        }),
        (arrivals) => {
          const filter = new DuplicateFilter({ capacity: 15 });
          const seen = new Set<string>();
          for (const [sender, id] of arrivals) {
            const key = `${sender}|${id}`;
            expect(filter.isDuplicate(sender, id)).toBe(seen.has(key));
            seen.add(key);
          }
          expect(filter.size).toBe(seen.size);
        },
      ),
    );
  });

  it("entries() restores the filter after a restart", () => {
    const filter = new DuplicateFilter({ capacity: 5 });
    filter.isDuplicate("s@x/phone", "a");
    filter.isDuplicate("t@x", "b");
    const restored = new DuplicateFilter({ capacity: 5, seen: filter.entries() });
    expect(restored.isDuplicate("s@x/phone", "a")).toBe(true);
    expect(restored.isDuplicate("t@x", "b")).toBe(true);
    expect(restored.isDuplicate("t@x", "a")).toBe(false);
  });

  it("bad input is INVALID_ARGUMENT and remembers nothing", () => {
    const filter = new DuplicateFilter();
    for (const [s, id] of [
      ["", "a"],
      ["s", ""],
      ["s", "x".repeat(257)],
      [1, "a"],
    ] as Array<[string, string]>) {
      expect(() => filter.isDuplicate(s, id)).toThrow(expect.toSatisfy((e) => isQueueError(e, "INVALID_ARGUMENT")));
    }
    expect(filter.size).toBe(0);
    expect(() => new DuplicateFilter({ capacity: 0 })).toThrow(/capacity/);
  });
});
