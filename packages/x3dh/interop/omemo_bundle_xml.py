"""Bundle <-> JSON wire form for the python peers, through the OMEMO backends' own XML elements.

The python drivers hand bundles to the tests as hex fields and take ours the same way; the bytes
go through python-oldmemo's / python-twomemo's `etree.serialize_bundle` / `etree.parse_bundle`, so
the sign-bit-in-signature convention (legacy) and the key encodings are theirs.
Used by x3dh_peer.py and ../../double-ratchet/interop/omemo_peer.py.
"""
import base64
import xml.etree.ElementTree as ET

# Element and attribute names: XEP-0384 v0.3 (legacy) and v0.8 (OMEMO 2) <bundle> layouts.
NAMES = {
    "legacy": {"spk": "signedPreKeyPublic", "spk_id": "signedPreKeyId", "sig": "signedPreKeySignature",
               "ik": "identityKey", "pk": "preKeyPublic", "pk_id": "preKeyId"},
    "omemo2": {"spk": "spk", "spk_id": "id", "sig": "spks", "ik": "ik", "pk": "pk", "pk_id": "id"},
}


def element_to_wire(profile: str, ns: str, element: ET.Element) -> dict:
    n = NAMES[profile]

    def hex_of(e: ET.Element) -> str:
        return base64.b64decode(e.text).hex()

    spk = element.find(f"{ns}{n['spk']}")
    return {
        "identityKey": hex_of(element.find(f"{ns}{n['ik']}")),
        "signedPreKeyId": int(spk.get(n["spk_id"])),
        "signedPreKey": hex_of(spk),
        "signedPreKeySignature": hex_of(element.find(f"{ns}{n['sig']}")),
        "preKeys": sorted(
            ({"id": int(e.get(n["pk_id"])), "key": hex_of(e)} for e in element.iter(f"{ns}{n['pk']}")),
            key=lambda p: p["id"],
        ),
    }


def wire_to_element(profile: str, ns: str, wire: dict) -> ET.Element:
    n = NAMES[profile]

    def b64(hexstr: str) -> str:
        return base64.b64encode(bytes.fromhex(hexstr)).decode("ascii")

    bundle = ET.Element(f"{ns}bundle")
    ET.SubElement(bundle, f"{ns}{n['spk']}", {n["spk_id"]: str(wire["signedPreKeyId"])}).text = b64(wire["signedPreKey"])
    ET.SubElement(bundle, f"{ns}{n['sig']}").text = b64(wire["signedPreKeySignature"])
    ET.SubElement(bundle, f"{ns}{n['ik']}").text = b64(wire["identityKey"])
    pre_keys = ET.SubElement(bundle, f"{ns}prekeys")
    for p in wire["preKeys"]:
        ET.SubElement(pre_keys, f"{ns}{n['pk']}", {n["pk_id"]: str(p["id"])}).text = b64(p["key"])
    return bundle
