#!/usr/bin/env python3
# SPDX-License-Identifier: AGPL-3.0-or-later
"""Turns a word list (one per line, '#' comments) into a C file with a
sorted array of lower-case words, for bsearch()."""
import sys

src, out, name = sys.argv[1], sys.argv[2], sys.argv[3]
words = set()
for line in open(src, encoding="utf-8"):
    line = line.strip()
    if line and not line.startswith("#"):
        words.add(line.lower())
words = sorted(words, key=lambda w: w.encode("utf-8"))
with open(out, "w", encoding="utf-8") as f:
    f.write("/* Generated from %s by gen-wordlist.py; do not edit. */\n" % src.split("/")[-1])
    f.write("#include <stddef.h>\n")
    f.write("extern const char *const %s[];\nextern const size_t %s_len;\n" % (name, name))
    f.write("const char *const %s[] = {\n" % name)
    for w in words:
        f.write('\t"%s",\n' % w.replace("\\", "\\\\").replace('"', '\\"'))
    f.write("};\nconst size_t %s_len = %d;\n" % (name, len(words)))
