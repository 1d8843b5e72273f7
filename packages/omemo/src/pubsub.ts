import type { Element } from "ltx";
import {
  MAX_FORM_FIELDS,
  MAX_PUBSUB_ITEMS,
  MAX_PUBSUB_STRING_LENGTH,
  NS_DATA_FORMS,
  NS_PUBSUB,
  NS_PUBSUB_EVENT,
  PUBLISH_OPTIONS_FORM_TYPE,
} from "./consts.js";
import { OmemoError } from "./errors.js";
import {
  assertArray,
  assertObject,
  atMostOne,
  exactlyOne,
  expectElement,
  invalidArgument,
  malformed,
  requireAttr,
  tooLarge,
} from "./fields.js";
import {
  attr,
  childElements,
  childrenNamed,
  cloneElement,
  el,
  isElement,
  localName,
  namespaceOf,
  textOf,
  toElement,
  type XmlInput,
} from "./xml.js";

/**
 * The publish-subscribe pieces OMEMO needs (XEP-0060, XEP-0163, XEP-0223), transport-agnostic: the
 * session manager builds these elements and an app sends them in an `<iq>` through its own library.
 */

/**
 * Publish options as form fields, `var` → value, in the order they are written (XEP-0060 §7.1.5).
 * FORM_TYPE is added by the encoder and left out by the decoder.
 */
export type PublishOptions = Readonly<Record<string, string>>;

/** A pubsub item: an id (the service picks one if absent) and at most one payload element. */
export interface PubsubItem {
  readonly id?: string;
  readonly payload?: Element;
}

/** `<pubsub><publish node>` with one item and optional `<publish-options>` (XEP-0060 §7.1, §7.1.5). */
export interface Publish {
  readonly node: string;
  readonly item: PubsubItem;
  readonly options?: PublishOptions;
}

/** `<pubsub><items node>`: all items of a node, or the listed item ids (XEP-0060 §6.5.2, §6.5.8). */
export interface ItemsRequest {
  readonly node: string;
  readonly itemIds?: readonly string[];
}

/** The items of a node from a fetch result (`<pubsub>`) or a notification (`<event>`), and retracted ids. */
export interface Items {
  readonly node: string;
  readonly items: readonly PubsubItem[];
  readonly retracted: readonly string[];
}

function assertPubsubString(value: unknown, what: string): asserts value is string {
  if (typeof value !== "string" || value.length === 0 || value.length > MAX_PUBSUB_STRING_LENGTH) {
    throw invalidArgument(`${what} must be a non-empty string of at most ${MAX_PUBSUB_STRING_LENGTH} characters`);
  }
}

function pubsubString(element: Element, name: string, where: string): string {
  const v = requireAttr(element, name, where);
  if (v.length === 0 || v.length > MAX_PUBSUB_STRING_LENGTH) {
    throw malformed(`${where} '${name}' must be 1 to ${MAX_PUBSUB_STRING_LENGTH} characters`);
  }
  return v;
}

function optionalPubsubString(element: Element, name: string, where: string): string | undefined {
  return attr(element, name) === undefined ? undefined : pubsubString(element, name, where);
}

// ---------------------------------------------------------------------------------------------------
// publish-options

export function encodePublishOptions(options: PublishOptions): Element {
  assertObject(options, "publish options");
  const entries = Object.entries(options);
  if (entries.length > MAX_FORM_FIELDS)
    throw invalidArgument(`publish options have more than ${MAX_FORM_FIELDS} fields`);
  const fields = entries.map(([name, value]) => {
    assertPubsubString(name, "publish option name");
    if (name === "FORM_TYPE") throw invalidArgument("publish options must not set FORM_TYPE (the encoder writes it)");
    if (typeof value !== "string" || value.length > MAX_PUBSUB_STRING_LENGTH) {
      throw invalidArgument(`publish option values must be strings of at most ${MAX_PUBSUB_STRING_LENGTH} characters`);
    }
    return el("field", { var: name }, el("value", {}, value));
  });
  return el(
    "publish-options",
    {},
    el(
      "x",
      { xmlns: NS_DATA_FORMS, type: "submit" },
      el("field", { var: "FORM_TYPE", type: "hidden" }, el("value", {}, PUBLISH_OPTIONS_FORM_TYPE)),
      ...fields,
    ),
  );
}

/** Decodes `<publish-options>` (in the pubsub namespace, declared or inherited). */
export function decodePublishOptions(input: XmlInput): PublishOptions {
  const element = toElement(input);
  expectElement(element, "publish-options", NS_PUBSUB);
  const form = exactlyOne(element, "x", NS_DATA_FORMS, "<publish-options>");
  const type = attr(form, "type");
  if (type !== "submit") throw malformed("publish-options form must have type='submit'");
  const fields = childrenNamed(form, "field", NS_DATA_FORMS);
  if (fields.length > MAX_FORM_FIELDS + 1)
    throw tooLarge(`publish-options form has more than ${MAX_FORM_FIELDS} fields`);
  const options: Record<string, string> = {};
  let formType: string | undefined;
  for (const field of fields) {
    const name = pubsubString(field, "var", "<field>");
    const values = childrenNamed(field, "value", NS_DATA_FORMS);
    if (values.length !== 1) throw malformed("a publish-options <field> must have exactly one <value>");
    const value = textOf(values[0]!);
    if (value.length > MAX_PUBSUB_STRING_LENGTH) throw tooLarge("a publish-options value is too long");
    if (name === "FORM_TYPE") formType = value;
    else if (Object.hasOwn(options, name)) throw malformed("a publish-options field appears twice");
    else Object.defineProperty(options, name, { value, enumerable: true, writable: true, configurable: true });
  }
  if (formType !== PUBLISH_OPTIONS_FORM_TYPE) throw malformed("publish-options form has no publish-options FORM_TYPE");
  return options;
}

// ---------------------------------------------------------------------------------------------------
// items, publish, fetch

/** `<item id?>payload?</item>`, in no namespace of its own (it inherits pubsub's or pubsub#event's). */
export function encodeItem(item: PubsubItem): Element {
  assertObject(item, "item");
  if (item.id !== undefined) assertPubsubString(item.id, "item.id");
  if (item.payload !== undefined && !isElement(item.payload))
    throw invalidArgument("item.payload must be an ltx Element");
  const payload = item.payload === undefined ? [] : [cloneElement(item.payload)];
  return el("item", { id: item.id }, ...payload);
}

function decodeItem(item: Element): PubsubItem {
  const id = optionalPubsubString(item, "id", "<item>");
  const children = childElements(item);
  if (children.length > 1) throw malformed("pubsub <item> holds more than one payload element");
  const payload = children[0];
  if (id === undefined) return payload === undefined ? {} : { payload };
  return payload === undefined ? { id } : { id, payload };
}

export function encodePublish(publish: Publish): Element {
  assertObject(publish, "publish");
  assertPubsubString(publish.node, "publish.node");
  const pubsub = el("pubsub", { xmlns: NS_PUBSUB }, el("publish", { node: publish.node }, encodeItem(publish.item)));
  if (publish.options !== undefined) pubsub.cnode(encodePublishOptions(publish.options));
  return pubsub;
}

/** The `<pubsub>` element, itself or inside an `<iq>`. */
function pubsubElement(input: XmlInput, ns: string): Element {
  const element = toElement(input);
  if (localName(element) === "iq") return exactlyOne(element, "pubsub", ns, "<iq>");
  return element;
}

/** Decodes `<pubsub><publish>` (or the `<iq>` around it). */
export function decodePublish(input: XmlInput): Publish {
  const pubsub = pubsubElement(input, NS_PUBSUB);
  expectElement(pubsub, "pubsub", NS_PUBSUB);
  const publish = exactlyOne(pubsub, "publish", NS_PUBSUB, "<pubsub>");
  const node = pubsubString(publish, "node", "<publish>");
  const item = decodeItem(exactlyOne(publish, "item", NS_PUBSUB, "<publish>"));
  const optionsElement = atMostOne(pubsub, "publish-options", NS_PUBSUB, "<pubsub>");
  if (optionsElement === undefined) return { node, item };
  return { node, item, options: decodePublishOptions(optionsElement) };
}

export function encodeItemsRequest(request: ItemsRequest): Element {
  assertObject(request, "request");
  assertPubsubString(request.node, "request.node");
  const ids = request.itemIds ?? [];
  assertArray(ids, "request.itemIds", 0, MAX_PUBSUB_ITEMS);
  const items = ids.map((id: unknown, i) => {
    assertPubsubString(id, `request.itemIds[${i}]`);
    return el("item", { id });
  });
  return el("pubsub", { xmlns: NS_PUBSUB }, el("items", { node: request.node }, ...items));
}

/** Decodes `<pubsub><items node>` (or the `<iq type='get'>` around it). */
export function decodeItemsRequest(input: XmlInput): ItemsRequest {
  const pubsub = pubsubElement(input, NS_PUBSUB);
  expectElement(pubsub, "pubsub", NS_PUBSUB);
  const items = exactlyOne(pubsub, "items", NS_PUBSUB, "<pubsub>");
  const node = pubsubString(items, "node", "<items>");
  const itemElements = childrenNamed(items, "item", NS_PUBSUB);
  if (itemElements.length > MAX_PUBSUB_ITEMS) throw tooLarge(`<items> lists more than ${MAX_PUBSUB_ITEMS} items`);
  if (itemElements.length === 0) return { node };
  return { node, itemIds: itemElements.map((item) => pubsubString(item, "id", "<item>")) };
}

/**
 * The items of a node, from any of: an `<iq type='result'>` or its `<pubsub>` (a fetch), a
 * `<message>` or its `<event>` (a PEP notification), or the `<items>` element itself.
 */
export function decodeItems(input: XmlInput): Items {
  let element = toElement(input);
  const name = localName(element);
  if (name === "iq") element = exactlyOne(element, "pubsub", NS_PUBSUB, "<iq>");
  else if (name === "message") element = exactlyOne(element, "event", NS_PUBSUB_EVENT, "<message>");
  const container = localName(element);
  const ns = namespaceOf(element);
  if (container === "pubsub" || container === "event") {
    const expected = container === "pubsub" ? NS_PUBSUB : NS_PUBSUB_EVENT;
    expectElement(element, container, expected);
    element = exactlyOne(element, "items", expected, `<${container}>`);
  } else if (container !== "items") {
    throw malformed("expected <iq>, <message>, <pubsub>, <event> or <items>");
  } else if (ns !== NS_PUBSUB && ns !== NS_PUBSUB_EVENT) {
    throw new OmemoError("UNSUPPORTED_NAMESPACE", "<items> is in neither pubsub namespace");
  }
  const itemsNs = namespaceOf(element)!;
  const node = pubsubString(element, "node", "<items>");
  const itemElements = childrenNamed(element, "item", itemsNs);
  const retractElements = childrenNamed(element, "retract", itemsNs);
  if (itemElements.length + retractElements.length > MAX_PUBSUB_ITEMS) {
    throw tooLarge(`<items> has more than ${MAX_PUBSUB_ITEMS} items`);
  }
  return {
    node,
    items: itemElements.map(decodeItem),
    retracted: retractElements.map((r) => pubsubString(r, "id", "<retract>")),
  };
}
