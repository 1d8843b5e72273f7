#!/usr/bin/env python3
"""A minimal adapter for the Parley conformance kit: answers hello, dispatches ops, maps errors."""
import json
import sys


class AdapterError(Exception):
    def __init__(self, code, message):
        super().__init__(message)
        self.code = code


sessions = {}  # handle -> your implementation's session object (handles are yours to make up)


def hello(args):
    return {
        "implementation": "my-omemo",
        "version": "0.1.0",
        "protocol": 1,
        "profiles": ["omemo2"],
        "ops": sorted(OPS),  # list only what you implement: other cases are skipped, not failed
    }


def decrypt(args):
    # try:
    #     plaintext = sessions[args["session"]].decrypt(bytes.fromhex(args["message"]))
    # except my_lib.AuthenticationFailed as e:   # map your errors to the protocol's codes
    #     raise AdapterError("BAD_MAC", str(e))
    # return {"plaintext": plaintext.hex()}
    raise AdapterError("UNSUPPORTED_OP", "not implemented yet")


OPS = {
    "hello": hello,
    # "ratchet.decrypt": decrypt,
}


def answer(request):
    try:
        op = OPS.get(request.get("op"))
        if op is None:
            raise AdapterError("UNSUPPORTED_OP", "unknown op %r" % request.get("op"))
        return {"id": request["id"], "ok": True, "result": op(request.get("args", {}))}
    except AdapterError as e:
        return {"id": request["id"], "ok": False, "error": {"code": e.code, "message": str(e)}}
    except Exception as e:  # a bug in the adapter: report it and keep running
        return {"id": request["id"], "ok": False, "error": {"code": "INTERNAL", "message": repr(e)}}


for line in sys.stdin:  # one request per line in, one response per line out (flushed); logs go to stderr
    if line.strip():
        print(json.dumps(answer(json.loads(line))), flush=True)
