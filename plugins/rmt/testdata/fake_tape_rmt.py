#!/usr/bin/env python3
"""A fake remote tape for relic's rmt tests: speaks the rmt protocol on stdin/stdout like
/etc/rmt and serves an emulated st drive in variable-block mode (research note
tape-media.md, sections 2.2, 2.3 and 3), so the client's drive path can be tested without a
drive. Debian's real servers (rmt-dump, rmt-tar) are used for everything a plain file can show.

Usage: fake_tape_rmt.py STATE [EARLY_WARNING_BYTES]
STATE is a JSON file holding the tape between sessions: a list of blocks, each
{"d": hex} (data) or {"m": 1} (filemark). Portable op codes (VERSION 1) are offered.
Semantics: a read returns one block; a buffer smaller than the block gives ENOMEM and the
block is consumed; a filemark reads as 0 bytes; at end of data the first read gives 0, the
next EIO; past EARLY_WARNING_BYTES writes alternate ENOSPC and success; FSR/BSR stop with EIO
at a filemark (having crossed it); BSF ends before the mark.
"""
import json
import os
import sys

EIO, ENOMEM, ENOSPC, EINVAL = 5, 12, 28, 22

state_file = sys.argv[1]
ew = int(sys.argv[2]) if len(sys.argv) > 2 else None
tape = json.load(open(state_file)) if os.path.exists(state_file) else []
pos = 0
eod_reads = 0
enospc_next = False
inp = sys.stdin.buffer
out = sys.stdout.buffer


def line():
    s = inp.readline()
    if not s:
        sys.exit(0)
    return s.rstrip(b"\n").decode()


def ok(n, data=b""):
    out.write(b"A%d\n" % n + data)
    out.flush()


def err(code, msg):
    out.write(b"E%d\n%s\n" % (code, msg.encode()))
    out.flush()


def used():
    return sum(len(bytes.fromhex(b["d"])) for b in tape[:pos] if "d" in b)


def save():
    json.dump(tape, open(state_file, "w"))


while True:
    c = inp.read(1)
    if not c:
        save()
        break
    if c == b"O":
        line(); line()
        ok(0)
    elif c == b"C":
        line()
        save()
        ok(0)
    elif c == b"L":
        line(); line()
        pos = 0
        ok(0)
    elif c == b"R":
        n = int(line())
        if pos >= len(tape):
            eod_reads += 1
            if eod_reads == 1:
                ok(0)
            else:
                err(EIO, "Input/output error")
            continue
        b = tape[pos]
        pos += 1
        eod_reads = 0
        if "m" in b:
            ok(0)
            continue
        d = bytes.fromhex(b["d"])
        if len(d) > n:
            err(ENOMEM, "Cannot allocate memory")
        else:
            ok(len(d), d)
    elif c == b"W":
        n = int(line())
        d = inp.read(n)
        u = used()
        if ew is not None and u >= ew:
            if enospc_next:
                enospc_next = False
                err(ENOSPC, "No space left on device")
                continue
            enospc_next = True
        elif ew is not None and u + n >= ew:
            enospc_next = True
        del tape[pos:]
        tape.append({"d": d.hex()})
        pos += 1
        ok(n)
    elif c == b"I":
        op = int(line())
        count = int(line())
        eod_reads = 0
        if op == -1:
            ok(1)  # VERSION 1: portable op codes
        elif op == 0:  # WEOF
            del tape[pos:]
            tape.extend({"m": 1} for _ in range(count))
            pos += count
            ok(count)
        elif op == 1:  # FSF
            for _ in range(count):
                while pos < len(tape) and "m" not in tape[pos]:
                    pos += 1
                if pos >= len(tape):
                    err(EIO, "Input/output error")
                    break
                pos += 1
            else:
                ok(count)
        elif op == 2:  # BSF
            for _ in range(count):
                k = pos - 1
                while k >= 0 and "m" not in tape[k]:
                    k -= 1
                if k < 0:
                    pos = 0
                    err(EIO, "Input/output error")
                    break
                pos = k
            else:
                ok(count)
        elif op in (3, 4):  # FSR, BSR
            failed = False
            for _ in range(count):
                if op == 3:
                    if pos >= len(tape):
                        failed = True
                        break
                    pos += 1
                    if "m" in tape[pos - 1]:
                        failed = True
                        break
                else:
                    if pos == 0:
                        failed = True
                        break
                    pos -= 1
                    if "m" in tape[pos]:
                        failed = True
                        break
            if failed:
                err(EIO, "Input/output error")
            else:
                ok(count)
        elif op == 5:  # REW
            pos = 0
            ok(count)
        elif op == 7:  # NOP
            ok(count)
        else:
            err(EINVAL, "Invalid argument")
    elif c == b"\n":
        continue
    else:
        err(EINVAL, "Garbage command")
        break
