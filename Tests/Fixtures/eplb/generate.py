"""Writes cases.json: seeded per-expert loads and what DeepSeek's EPLB makes of them.

Usage: python generate.py PATH/TO/eplb.py > cases.json

eplb.py is DeepSeek's file (github.com/deepseek-ai/EPLB), not kept in this repository;
the cases were made from commit EPLB_COMMIT below (its `balanced_packing`,
`replicate_experts`, `rebalance_experts_hierarchical` and `rebalance_experts`, the
docstrings left out), whose SHA-256 is recorded in the output as `source_sha256`.
Cases 0-19 have float32 loads (no ties between experts), 20-39 integer counts.
Each case calls rebalance_experts(weight[1, E], E + N, groups, P / ranks_per_node, P)
and records phy2log, the replica rank of each physical expert, and logcnt.
"""
import hashlib
import importlib.util
import json
import sys

import numpy as np
import torch

EPLB_COMMIT = "57919718be1fbe2baca80a42a7df4de7119aaa95"

# (experts, ranks, ranks_per_node, groups, redundant)
SHAPES = [
    (8, 4, 4, 1, 4),      # one node
    (16, 8, 4, 4, 8),     # 2 nodes, 4 groups: hierarchical
    (16, 8, 4, 1, 8),     # 2 nodes, 1 group: global
    (16, 8, 4, 4, 0),     # hierarchical, no redundancy
    (32, 4, 2, 4, 4),     # 2 nodes, hierarchical
    (12, 6, 3, 3, 6),     # 2 nodes, 3 groups: global
    (64, 16, 8, 8, 16),   # hierarchical
    (64, 16, 8, 1, 16),   # global
    (256, 32, 8, 8, 32),  # DeepSeek-V3-like: 8 groups over 4 nodes
    (20, 5, 5, 1, 5),     # one node of 5
]


def main():
    path = sys.argv[1]
    source = open(path, "rb").read()
    spec = importlib.util.spec_from_file_location("eplb", path)
    eplb = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(eplb)
    cases = []
    for i in range(40):
        E, P, G, groups, N = SHAPES[i % len(SHAPES)]
        rng = np.random.default_rng(1000 + i)
        # Log-normal (sigma 1) loads, as skewed as routing is. Cases 0-19 are float32
        # values, so no two experts tie; 20-39 are integer counts, as a result file holds,
        # where load / replicas can tie between experts.
        raw = rng.lognormal(mean=6.0, sigma=1.0, size=E)
        if i < 20:
            load = [float(x) for x in raw.astype(np.float32)]
        else:
            load = [int(x) + 1 for x in np.rint(raw)]
        weight = torch.tensor(load, dtype=torch.float32).unsqueeze(0)
        phy2log, log2phy, logcnt = eplb.rebalance_experts(weight, E + N, groups, P // G, P)
        maxcnt = log2phy.shape[-1]
        phyrank = [0] * (E + N)
        for e in range(E):
            for j in range(maxcnt):
                p = int(log2phy[0, e, j])
                if p >= 0:
                    phyrank[p] = j
        cases.append({
            "experts": E, "ranks": P, "ranks_per_node": G, "groups": groups, "redundant_experts": N,
            "policy": "hierarchical" if groups % (P // G) == 0 else "global",
            "load": load, "integer_load": i >= 20,
            "phy2log": [int(x) for x in phy2log[0]],
            "phyrank": phyrank,
            "logcnt": [int(x) for x in logcnt[0]],
        })
    json.dump({"eplb_commit": EPLB_COMMIT, "source_sha256": hashlib.sha256(source).hexdigest(),
               "torch": torch.__version__, "cases": cases}, sys.stdout, separators=(",", ":"))
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
