#!/usr/bin/env python3
"""A stand-in TUF repository in the depot's layout, written with python-tuf's metadata API.

    make_repo.py DIR [--timestamp-expires SECONDS] [PATH=FILE ...]

The verifier harness tests itself against it before (and besides) a real depot. DIR gets
`metadata/` and `targets/` laid out as the depot serves them under `/v1/tuf/`: consistent
snapshots (`{N}.root.json`, `timestamp.json`, `{V}.snapshot.json`, `{V}.targets.json`,
`{V}.bin-XX.json`), top-level targets delegating to 256 hashed bins `bin-00` ... `bin-ff` signed
by one online key, and each target at `{dir}/{hash}.{name}` by sha256 and by BLAKE2b-256.

The first run makes the keys and version 1 of every role; each later run publishes as the depot
does: the bins whose targets changed, the snapshot and the timestamp get a new version (older
versions stay). A target given with an empty FILE is removed. `--timestamp-expires` sets the new
timestamp's lifetime (a negative number: already expired). DIR/state.json keeps the keys and
what is current; DIR/1.root.json is the root to pin.
"""

import argparse
import datetime
import hashlib
import json
import os

from cryptography.hazmat.primitives.serialization import load_pem_private_key
from securesystemslib.signer import CryptoSigner
from tuf.api.metadata import (
    DelegatedRole,
    Delegations,
    Metadata,
    MetaFile,
    Root,
    Snapshot,
    TargetFile,
    Targets,
    Timestamp,
)
from tuf.api.serialization.json import JSONSerializer

BINS = [f"{n:02x}" for n in range(256)]
DAY = 24 * 3600


def expires_in(seconds: int) -> datetime.datetime:
    now = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
    return now + datetime.timedelta(seconds=seconds)


def signer(state: dict, name: str) -> CryptoSigner:
    return CryptoSigner(load_pem_private_key(state["keys"][name].encode(), None))


def write(dir: str, file: str, role, key: CryptoSigner) -> None:
    metadata = Metadata(role)
    metadata.sign(key)
    with open(os.path.join(dir, "metadata", file), "wb") as f:
        f.write(metadata.to_bytes(JSONSerializer(compact=True)))


def init(dir: str) -> dict:
    os.makedirs(os.path.join(dir, "metadata"), exist_ok=True)
    os.makedirs(os.path.join(dir, "targets"), exist_ok=True)
    keys = {n: CryptoSigner.generate_ed25519() for n in ("root", "targets", "online")}
    root = Root(expires=expires_in(365 * DAY), consistent_snapshot=True)
    root.add_key(keys["root"].public_key, "root")
    root.add_key(keys["targets"].public_key, "targets")
    for role in ("snapshot", "timestamp"):
        root.add_key(keys["online"].public_key, role)
    write(dir, "1.root.json", root, keys["root"])
    with open(os.path.join(dir, "metadata", "1.root.json"), "rb") as f:
        pinned = f.read()
    with open(os.path.join(dir, "1.root.json"), "wb") as f:
        f.write(pinned)
    online = keys["online"].public_key
    roles = {
        f"bin-{b}": DelegatedRole(
            name=f"bin-{b}",
            keyids=[online.keyid],
            threshold=1,
            terminating=True,
            path_hash_prefixes=[b],
        )
        for b in BINS
    }
    targets = Targets(
        expires=expires_in(365 * DAY),
        delegations=Delegations(keys={online.keyid: online}, roles=roles),
    )
    write(dir, "1.targets.json", targets, keys["targets"])
    return {
        "keys": {n: k.private_bytes.decode() for n, k in keys.items()},
        "versions": {"snapshot": 0, "timestamp": 0, **{f"bin-{b}": 0 for b in BINS}},
        "current": {},
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("dir")
    parser.add_argument("--timestamp-expires", type=int, default=DAY)
    parser.add_argument("targets", nargs="*")
    args = parser.parse_args()
    state_file = os.path.join(args.dir, "state.json")
    if os.path.exists(state_file):
        with open(state_file) as f:
            state = json.load(f)
    else:
        state = init(args.dir)
    changed = set()
    for given in args.targets:
        path, file = given.split("=", 1)
        bin = "bin-" + hashlib.sha256(path.encode()).hexdigest()[:2]
        changed.add(bin)
        with open(file, "rb") as f:
            body = f.read()
        if not body:
            state["current"].pop(path, None)
            continue
        hashes = {
            "sha256": hashlib.sha256(body).hexdigest(),
            "blake2b-256": hashlib.blake2b(body, digest_size=32).hexdigest(),
        }
        state["current"][path] = {"length": len(body), "hashes": hashes}
        folder, _, name = path.rpartition("/")
        os.makedirs(os.path.join(args.dir, "targets", folder), exist_ok=True)
        for digest in hashes.values():
            with open(os.path.join(args.dir, "targets", folder, f"{digest}.{name}"), "wb") as f:
                f.write(body)
    online = signer(state, "online")
    versions = state["versions"]
    first = versions["snapshot"] == 0
    for b in BINS:
        role = f"bin-{b}"
        if not first and role not in changed:
            continue
        versions[role] += 1
        listed = {
            path: TargetFile(entry["length"], entry["hashes"], path)
            for path, entry in state["current"].items()
            if hashlib.sha256(path.encode()).hexdigest()[:2] == b
        }
        bin = Targets(version=versions[role], expires=expires_in(7 * DAY), targets=listed)
        write(args.dir, f"{versions[role]}.{role}.json", bin, online)
    versions["snapshot"] += 1
    meta = {"targets.json": MetaFile(1)}
    meta.update({f"bin-{b}.json": MetaFile(versions[f"bin-{b}"]) for b in BINS})
    snapshot = Snapshot(version=versions["snapshot"], expires=expires_in(7 * DAY), meta=meta)
    snapshot_file = f"{versions['snapshot']}.snapshot.json"
    write(args.dir, snapshot_file, snapshot, online)
    with open(os.path.join(args.dir, "metadata", snapshot_file), "rb") as f:
        snapshot_bytes = f.read()
    versions["timestamp"] += 1
    timestamp = Timestamp(
        version=versions["timestamp"],
        expires=expires_in(args.timestamp_expires),
        snapshot_meta=MetaFile(
            versions["snapshot"],
            length=len(snapshot_bytes),
            hashes={"sha256": hashlib.sha256(snapshot_bytes).hexdigest()},
        ),
    )
    write(args.dir, "timestamp.json", timestamp, online)
    with open(state_file, "w") as f:
        json.dump(state, f)


if __name__ == "__main__":
    main()
