"""Synthetic pirate-style domain lists, reproducible (fixed seed).

Names look like what courts list: streaming and download brand words, digits,
hyphens, mirror prefixes, and the TLD mix of real blocking lists (mostly .com,
.net, .org, then cheap and ccTLDs). The same seed always gives the same list,
and the first N of the 1,000,000-name list are the N-name list.
"""

import random

WORDS = ("stream calcio live sport tv goal match hd free watch film movie serie anime manga "
         "torrent download pirate bay rip cine flix play box zone hub net max now tube "
         "kick score direct cast link view fast top best ultra mega star sky pro").split()
TLDS = (["com"] * 34 + ["net"] * 10 + ["org"] * 7 + ["to"] * 5 + ["tv"] * 5 + ["cc"] * 4 +
        ["io"] * 3 + ["ru"] * 4 + ["xyz"] * 4 + ["top"] * 4 + ["info"] * 3 + ["me"] * 3 +
        ["live"] * 3 + ["club"] * 2 + ["it"] * 3 + ["co.uk"] * 2 + ["site"] * 2 + ["online"] * 2)


def domains(n, seed=20261128):
    return list(iter_domains(n, seed))


def iter_domains(n, seed=20261128):
    """The same names as domains(n), one at a time (the 10M bench streams them to a file)."""
    rng = random.Random(seed)
    seen = set()
    k_out = 0
    while k_out < n:
        k = rng.choice((1, 2, 2, 2, 3))
        label = "".join(rng.choice(WORDS) for _ in range(k))
        r = rng.random()
        if r < 0.45:
            label += str(rng.randint(1, 999))
        elif r < 0.6:
            label = label[:len(label) // 2] + "-" + label[len(label) // 2:]
        name = label + "." + rng.choice(TLDS)
        if rng.random() < 0.12:
            name = rng.choice(("www", "m", "mirror", "new", "alt", "it")) + str(rng.randint(1, 20)) + "." + name
        if name in seen:
            continue
        seen.add(name)
        k_out += 1
        yield name


if __name__ == "__main__":
    import sys
    for d in iter_domains(int(sys.argv[1]) if len(sys.argv) > 1 else 10):
        print(d)
