/** The IndexedDB backend's media cleanup in Node, on fake-indexeddb (the same cases run in Chromium). */
import "fake-indexeddb/auto";
import { indexedDbMediaCases } from "./indexeddb-media.cases.js";

indexedDbMediaCases("fake-indexeddb");
