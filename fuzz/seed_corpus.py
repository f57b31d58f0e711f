#!/usr/bin/env python3
"""Writes the seed corpora of the fuzz targets (fuzz/corpus/<target>/) from
the shipped files (etc/, sandbox/) and the inputs the unit tests use.
Run from the top of the tree; the output is checked in. A seed's name is a
hash of its content, so a rerun rewrites the same files."""
import ast
import hashlib
import os
import re
import struct
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "fuzz", "corpus")
MAX_PER_TARGET = 60


def read(rel):
    with open(os.path.join(ROOT, rel), encoding="utf-8") as f:
        return f.read()


def c_strings(src):
    """Every C++ string literal of `src`, adjacent ones joined; raw strings too."""
    out = []
    for m in re.finditer(r'R"\((.*?)\)"', src, re.S):
        out.append(m.group(1))
    src = re.sub(r'R"\(.*?\)"', '""', src, flags=re.S)
    lit = r'"(?:[^"\\\n]|\\.)*"'
    for m in re.finditer(r'(?:%s\s*)+' % lit, src):
        parts = re.findall(lit, m.group(0))
        try:
            out.append("".join(ast.literal_eval(p) for p in parts))
        except (ValueError, SyntaxError):
            pass
    return out


corpora = {}


def add(target, data):
    """Seeds are kept in the order added (shipped files first), the first
    MAX_PER_TARGET of them."""
    if isinstance(data, str):
        data = data.encode()
    seeds = corpora.setdefault(target, {})
    if len(seeds) < MAX_PER_TARGET:
        seeds[hashlib.sha1(data).hexdigest()[:16]] = data


# The services table: the shipped one, and every table the tests load.
add("config", read("etc/hinetd.toml"))
for rel in ["tests/unit/config_test.cc", "tests/integration/spawn_test.cc",
            "tests/integration/monitor_test.cc", "tests/e2e/e2e.h"]:
    for s in c_strings(read(rel)):
        if "[[service]]" in s or "[daemon]" in s or "[defaults]" in s:
            add("config", s)

# Policies: the shipped ones, and those the tests write.
for name in sorted(os.listdir(os.path.join(ROOT, "sandbox"))):
    if name.endswith(".toml"):
        add("policy", read("sandbox/" + name))
for rel in ["tests/unit/policy_test.cc", "tests/unit/arg_rules_test.cc", "tests/unit/learn_test.cc"]:
    for s in c_strings(read(rel)):
        if re.search(r'^(allow|include|default_action|\[errno\]|errno)\b', s, re.M):
            add("policy", s)

# Values: selector byte (fuzz_values.cc) + the text.
VALUE_TESTS = {
    "tests/unit/units_test.cc": {"ParseDuration": [0], "ParseSize": [1], "ParseSignal": [2]},
    "tests/unit/address_test.cc": {"ParseListen": [3, 4]},
    "tests/unit/acl_test.cc": {"ParseCidr": [5]},
    "tests/unit/policy_test.cc": {"ParseAction": [6]},
}
for rel, funcs in VALUE_TESTS.items():
    src = read(rel)
    for func, selectors in funcs.items():
        for m in re.finditer(func + r'\(\s*("(?:[^"\\]|\\.)*")', src):
            for sel in selectors:
                add("values", bytes([sel]) + ast.literal_eval(m.group(1)).encode())
for m in re.finditer(r'ParseCondition\(\s*("(?:[^"\\]|\\.)*"),\s*("(?:[^"\\]|\\.)*")',
                     read("tests/unit/arg_rules_test.cc")):
    add("values", b"\x07" + (ast.literal_eval(m.group(1)) + ":" +
                             ast.literal_eval(m.group(2))).encode())

# kmsg: /dev/kmsg records (selector 0) and netlink bodies (1) from the tests.
for s in c_strings(read("tests/unit/kmsg_test.cc")):
    if "audit" in s or "type=" in s or ";" in s:
        add("kmsg", b"\x00" + s.encode())
        add("kmsg", b"\x01" + s.encode())

# The listener's messages as the monitor reads them: byte 0 = descriptors
# attached (low 2 bits), bit 2 = the monitor saw it truncated.
MAGIC = 0x68696E64


def header(kind):
    return struct.pack("<II", MAGIC, kind)


state_lines = [
    "echo 42 1 2 3 0 1 0 4 0 3 2 -1000 5000 3 4.5\n",
    "daytime 0 0 0 0 0 0 0 0 0 0 0 0 0 0 -1\n",
    "upper 1 1 1 1 1 1 1 1 1 1 1 -99999999999 99999999999 99 1e300\n",
    "echo 18446744073709551615 0 0 0 0 0 0 0 0 0 1 0 0 0 0\n",
]
add("listener_msg", b"\x00" + header(6) + "".join(state_lines).encode())
add("listener_msg", b"\x04" + header(6) + state_lines[0].encode() + b"daytime 1 2")
add("listener_msg", b"\x00" + header(5))  # stop
add("listener_msg", b"\x00" + header(7))  # ready
# The requests (protocol.h): header, then their fields, each with its own
# descriptor count. A source key is a length byte and 32 bytes.
source = bytes([4]) + b"\x7f\x00\x00\x01" + bytes(28)
connection = header(1) + struct.pack("<QQI", 7, 1, 0) + source + bytes(3)
wait_start = header(2) + struct.pack("<QQII", 8, 1, 3, 0)
handover = header(3) + struct.pack("<QQI", 9, 1, 2) + source + bytes(3)
replace = header(4) + struct.pack("<QII", 1, 3, 0)
leftover = header(11) + struct.pack("<QQI", 10, 1, 2) + source + bytes(3)
for name, msg, size in [("connection", connection, 64), ("wait_start", wait_start, 32),
                        ("handover", handover, 64), ("replace", replace, 24),
                        ("leftover", leftover, 64)]:
    assert len(msg) == size, (name, len(msg))  # sizeof on x86_64, protocol.cc asserts
add("listener_msg", b"\x01" + connection)
add("listener_msg", b"\x02" + connection)
add("listener_msg", b"\x01" + wait_start)
add("listener_msg", b"\x02" + handover)
add("listener_msg", b"\x02" + replace)
add("listener_msg", b"\x01" + leftover)
# An end batch of two reports (what the listener decodes).
report = (struct.pack("<QQQIIiII", 1, 1000, 0, 0, 1, 0, 0, 0) + source + bytes(3) + bytes(128))
assert len(report) == 208, len(report)
add("listener_msg", b"\x00" + header(8) + struct.pack("<II", 2, 0) + report + report)
# A nowait child's end with datagrams left on its socket (EndReport.leftover).
left = (struct.pack("<QQQIIiII", 1, 1000, 10, 2, 1, 0, 0, 0) + source + bytes([1]) + bytes(2) +
        bytes(128))
assert len(left) == 208, len(left)
add("listener_msg", b"\x00" + header(8) + struct.pack("<II", 1, 0) + left)

for target, seeds in corpora.items():
    d = os.path.join(OUT, target)
    os.makedirs(d, exist_ok=True)
    for name in os.listdir(d):
        os.remove(os.path.join(d, name))
    for name, data in seeds.items():
        with open(os.path.join(d, name), "wb") as f:
            f.write(data)
    print(f"{target}: {len(seeds)} seeds", file=sys.stderr)
