import { describe, expect, it } from "vitest";
import { ManualTimers, isQueueError } from "../src/index.js";

describe("ManualTimers", () => {
  it("runs due timers in time order (ties in scheduling order), each at its own time, and not the cancelled", () => {
    const timers = new ManualTimers(100);
    const ran: Array<[string, number]> = [];
    const note = (name: string) => () => ran.push([name, timers.now()]);
    timers.schedule(30, note("c"));
    timers.schedule(10, note("a"));
    const cancel = timers.schedule(20, note("cancelled"));
    timers.schedule(10, note("b"));
    timers.schedule(50, note("late"));
    cancel();
    expect(timers.nextAt()).toBe(110);
    timers.advance(30);
    expect(ran).toEqual([
      ["a", 110],
      ["b", 110],
      ["c", 130],
    ]);
    expect(timers.now()).toBe(130);
    expect(timers.pending).toBe(1);
  });

  it("a timer scheduled by a timer runs in the same advance when it is due", () => {
    const timers = new ManualTimers();
    const ran: number[] = [];
    timers.schedule(5, () => timers.schedule(5, () => ran.push(timers.now())));
    timers.advance(10);
    expect(ran).toEqual([10]);
  });

  it("refuses a negative or non-finite advance and delay", () => {
    const timers = new ManualTimers();
    expect(() => {
      timers.advance(-1);
    }).toThrow(expect.toSatisfy((e) => isQueueError(e, "INVALID_ARGUMENT")));
    expect(() => timers.schedule(Number.NaN, () => undefined)).toThrow(/finite/);
    expect(timers.pending).toBe(0);
  });
});
