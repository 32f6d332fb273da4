#!/usr/bin/env python3
"""An inclusion-proof check of a Custos report that shares no code with Custos (RFC 9162 section 2.1.3.2).

Reads report.json, and for every entry in audit.entries checks that SHA-256(0x00 || entry) and its proof lead to the
root in audit.root for a tree of audit.treeSize leaves, and that the checkpoint note names that size and root.
Prints "verified N entries" or exits 1 naming the first entry that does not verify.
"""
import base64
import hashlib
import json
import sys


def node(left, right):
    return hashlib.sha256(b"\x01" + left + right).digest()


def root_from_proof(index, size, leaf, proof):
    if index >= size:
        return None
    fn, sn, r = index, size - 1, leaf
    for p in proof:
        if sn == 0:
            return None
        if fn % 2 == 1 or fn == sn:
            r = node(p, r)
            if fn % 2 == 0:
                while fn % 2 == 0 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            r = node(r, p)
        fn >>= 1
        sn >>= 1
    return r if sn == 0 else None


def main(path):
    with open(path, encoding="utf-8") as f:
        report = json.load(f)
    audit = report["audit"]
    size, root = audit["treeSize"], base64.b64decode(audit["root"])
    lines = audit["checkpoint"].split("\n")
    if int(lines[1]) != size or base64.b64decode(lines[2]) != root:
        print("the checkpoint note does not name the report's tree")
        return 1
    for e in audit["entries"]:
        leaf = hashlib.sha256(b"\x00" + e["entry"].encode("utf-8")).digest()
        proof = [base64.b64decode(p) for p in e["proof"]]
        if root_from_proof(e["seq"], size, leaf, proof) != root:
            print(f"entry {e['seq']} does not verify")
            return 1
    print(f"verified {len(audit['entries'])} entries")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
