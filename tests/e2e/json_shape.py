#!/usr/bin/env python3
"""json_shape.py README CMD < JSON: the keys of `edgemeshctl CMD -o json`
are exactly those README.md documents for CMD ("`CMD` `{a, b: [{c, d}],
e: {f} or null}`"), at every level (each element of an array).  Exit 1
naming the first difference."""
import json
import re
import sys


def parse(s, i=0):
    """'{a, b: [{...}], c: {...} or null}' -> {'a': None, 'b': [{...}], ...}"""
    assert s[i] == "{", s[i:]
    shape, i = {}, i + 1
    while True:
        m = re.compile(r"\s*(\w+)\s*").match(s, i)
        key, i = m.group(1), m.end()
        val = None
        if s[i] == ":":
            i += 1
            while s[i] == " ":
                i += 1
            if s[i] == "[":
                val, i = parse(s, i + 1)
                val = [val]
                i = s.index("]", i) + 1
            else:
                val, i = parse(s, i)
            m = re.compile(r"\s*or null").match(s, i)
            if m:
                i = m.end()
        shape[key] = val
        while s[i] == " ":
            i += 1
        if s[i] == "}":
            return shape, i + 1
        assert s[i] == ",", s[i:]
        i += 1


def check(doc, got, where):
    if not isinstance(got, dict):
        return "%s: not an object: %r" % (where, got)
    if set(got) != set(doc):
        return "%s: keys %s, README documents %s" % (where, sorted(got), sorted(doc))
    for k, sub in doc.items():
        if sub is None or got[k] is None:
            continue
        items = got[k] if isinstance(sub, list) else [got[k]]
        for n, item in enumerate(items):
            err = check(sub[0] if isinstance(sub, list) else sub, item, "%s.%s[%d]" % (where, k, n))
            if err:
                return err
    return None


readme = re.sub(r"\s+", " ", open(sys.argv[1]).read())
m = re.search(r"`%s` `(\{[^`]*\})`" % re.escape(sys.argv[2]), readme)
if not m:
    sys.exit("README documents no -o json shape for %s" % sys.argv[2])
err = check(parse(m.group(1))[0], json.load(sys.stdin), sys.argv[2])
if err:
    sys.exit(err)
