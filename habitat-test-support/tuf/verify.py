#!/usr/bin/env python3
"""The reference TUF client (python-tuf's ngclient) against a depot, for the verifier tests.

    verify.py METADATA_URL TARGETS_URL TRUSTED_ROOT WORK_DIR [TARGET_PATH ...]

Refreshes the top-level metadata, then finds and downloads each target path. WORK_DIR keeps the
trusted metadata between runs (as a client does, so that rollback protection holds across
runs): TRUSTED_ROOT is read only when WORK_DIR has no trusted root yet. Prints one JSON line per
target, {"path", "length", "sha256", "file"}, where "file" is the downloaded copy. On a refused
update it prints one JSON line {"error": CLASS, "message": TEXT} and exits with 1; a target that
the metadata does not list gives the class "TargetNotFound".
"""

import hashlib
import json
import os
import sys

from tuf.ngclient import Updater


def fail(kind: str, message: str) -> None:
    print(json.dumps({"error": kind, "message": message}), flush=True)
    sys.exit(1)


def main() -> None:
    if len(sys.argv) < 5:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    metadata_url, targets_url, trusted_root, work_dir = sys.argv[1:5]
    paths = sys.argv[5:]
    metadata_dir = os.path.join(work_dir, "metadata")
    target_dir = os.path.join(work_dir, "targets")
    os.makedirs(metadata_dir, exist_ok=True)
    os.makedirs(target_dir, exist_ok=True)
    bootstrap = None
    if not os.path.exists(os.path.join(metadata_dir, "root.json")):
        with open(trusted_root, "rb") as f:
            bootstrap = f.read()
    try:
        updater = Updater(
            metadata_dir=metadata_dir,
            metadata_base_url=metadata_url,
            target_dir=target_dir,
            target_base_url=targets_url,
            bootstrap=bootstrap,
        )
        updater.refresh()
        for path in paths:
            info = updater.get_targetinfo(path)
            if info is None:
                fail("TargetNotFound", f"no target `{path}` in the verified metadata")
            # One file per target path, so that a later run downloads it again.
            file = os.path.join(target_dir, hashlib.sha256(path.encode()).hexdigest())
            updater.download_target(info, file)
            with open(file, "rb") as f:
                body = f.read()
            print(
                json.dumps(
                    {
                        "path": path,
                        "length": len(body),
                        "sha256": hashlib.sha256(body).hexdigest(),
                        "file": file,
                    }
                ),
                flush=True,
            )
    except Exception as error:  # noqa: BLE001 -- every refusal is reported by its class
        fail(type(error).__name__, str(error))


if __name__ == "__main__":
    main()
