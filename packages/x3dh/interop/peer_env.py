"""Makes a peer vector generator's run repeatable (shared by both packages' generate_peer_vectors.py)."""
import os
import sys


def pin_hash_seed() -> None:
    """Set iteration order (python-omemo's prekey ids) depends on the hash seed: pin it and rerun."""
    if os.environ.get("PYTHONHASHSEED") != "0":
        os.execve(sys.executable, [sys.executable] + sys.argv, {**os.environ, "PYTHONHASHSEED": "0"})
