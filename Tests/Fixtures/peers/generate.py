#!/usr/bin/env python3
"""Writes the peer fixtures that Tests/EpsimCoreTests/PeerCompatTests.swift compares
epsim's `router.compat` presets against: the real gate functions of the peers, run on
CPU on the same float32 logits epsim routes.

Versions (pinned; the fixtures record them):
    torch 2.15.0 (CPU execution), deepspeed 0.19.8 (DS_BUILD_OPS=0), megatron-core 0.16.1

Calls, one per preset (nothing else of the peers runs):
    deepspeed_top1  deepspeed.moe.sharded_moe.top1gating(logits, cf, min_capacity,
                        noisy_gate_policy=None, drop_tokens=True, use_rts=False, sparse_routes=True)
    deepspeed_top2  deepspeed.moe.sharded_moe.top2gating(logits, cf, min_capacity,
                        drop_tokens=True, top2_2nd_expert_sampling=False, sparse_routes=True)
    deepspeed_topk  deepspeed.moe.sharded_moe.topkgating(logits, k, cf, min_capacity,
                        drop_tokens=True, drop_policy="probs", sparse_routes=True)   (k >= 3)
    megatron        megatron.core.transformer.moe.moe_utils.topk_routing_with_score_function(
                        logits, k, use_pre_softmax=False, score_function="softmax")
                    then apply_router_token_dropping(probs, map, k, cf, drop_policy="probs")
The chosen experts (before capacity) come from the same call with cf = 1e6 (nothing
dropped); the decisions and weights from the call with the case's cf.

Cases: 200 logit matrices per preset, T in [4, 36] tokens, E in [2, 12] experts, cycling
through five kinds: ordinary (N(0, 1)), underflowing (uniform in [-1e4, 1e4]: most
probabilities are 0 in float32), saturating (one logit per row 30..200 above the rest:
its probability rounds to 1.0), tied (small integers, so rows hold equal logits), and
rounding_tied (logits in {-2, -1, 0}, the zeros nudged by 0, 1e-8 or 2e-8: distinct
logits whose float32 probabilities are equal).
A third of the cases use a shape (T, cf) whose float32 capacity differs from the exact
one when such a shape is found. DeepSpeed cases use min_capacity 4 (DeepSpeed's MoE layer default) in even cases and 0
in odd ones; Megatron-Core has none.

Output: Tests/Fixtures/peers/<preset>.json
    {"preset", "versions", "cases": [{"kind", "T", "E", "k", "cf", "min_capacity",
      "capacity",            # the peer's C
      "logits": [T*E],       # float32 bit patterns (uint32), row-major
      "expert": [T*k],       # per token, the k chosen experts (the peer's order)
      "kept":   [T*k],       # 1 if that assignment survived capacity
      "weight": [T*k]}]}     # float32 bit patterns of its final weight (0 if dropped)

Run:  DS_BUILD_OPS=0 python3 Tests/Fixtures/peers/generate.py   (deterministic: seeded)
"""
import json, math, os, sys
import numpy as np
import torch

os.environ.setdefault("DS_BUILD_OPS", "0")
import deepspeed
from deepspeed.moe import sharded_moe as ds
import megatron.core
from megatron.core.transformer.moe import moe_utils as mc

CASES = 200
HERE = os.path.dirname(os.path.abspath(__file__))
CFS = [0.3, 0.5, 0.6, 0.7, 0.75, 0.9, 1.0, 1.1, 1.2, 1.25, 1.3, 1.5, 2.0]


def rounding_differs(T, E, k, cf):
    """Whether DeepSpeed's float32 capacity differs from the exact one for this shape
    (used only to pick shapes; the fixtures' C is what DeepSpeed returns)."""
    exact = math.ceil((T * k / E) * cf)
    f32 = math.ceil(float(np.float32(T / E) * np.float32(cf * k)))
    return exact != f32


def bits(a):
    return np.asarray(a, dtype=np.float32).view(np.uint32).tolist()


def draw(rng, kind, T, E):
    if kind == "ordinary":
        x = rng.standard_normal((T, E))
    elif kind == "underflowing":
        # Half with a spread of 1e4 (nearly every probability but the top one is 0), half
        # with N(0, 25²) (probabilities down to 1e-30 and below: tiny renormalized sums).
        x = rng.uniform(-1e4, 1e4, (T, E)) if rng.integers(0, 2) == 0 else 25 * rng.standard_normal((T, E))
    elif kind == "saturating":
        x = rng.standard_normal((T, E))
        top = rng.integers(0, E, T)
        x[np.arange(T), top] += rng.uniform(30, 200, T)
    elif kind == "tied":
        x = rng.integers(-2, 3, (T, E)).astype(np.float64)
    else:  # rounding_tied
        x = rng.integers(-2, 1, (T, E)).astype(np.float64)
        x = np.where(x == 0, rng.integers(0, 3, (T, E)) * 1e-8, x)
    return torch.from_numpy(x.astype(np.float32))


def deepspeed_call(preset, logits, k, cf, min_cap):
    x = logits.clone()  # top2gating adds noise in place when sampling; we never sample
    if preset == "deepspeed_top1":
        out = ds.top1gating(x, cf, min_cap, None, None, True, False, None, sparse_routes=True)
    elif preset == "deepspeed_top2":
        out = ds.top2gating(x, cf, min_cap, True, None, top2_2nd_expert_sampling=False, sparse_routes=True)
    else:
        out = ds.topkgating(x, k, cf, min_cap, True, None, drop_policy="probs", sparse_routes=True)
    _, capacity, _, idx, _, gates, _ = out
    # idx, gates: [k, T] (top-1: [1, T]); idx -1 where capacity dropped the route
    return int(capacity), idx.T.numpy(), gates.T.numpy()


def run_deepspeed(preset, logits, k, cf, min_cap):
    _, chosen, _ = deepspeed_call(preset, logits, k, 1e6, min_cap)
    capacity, idx, gates = deepspeed_call(preset, logits, k, cf, min_cap)
    kept = (idx >= 0)
    assert (idx[kept] == chosen[kept]).all()
    weight = np.where(kept, gates, 0).astype(np.float32)
    return capacity, chosen, kept, weight


def run_megatron(logits, k, cf):
    probs, rmap = mc.topk_routing_with_score_function(logits.clone(), k, use_pre_softmax=False,
                                                      score_function="softmax")
    fprobs, fmap = mc.apply_router_token_dropping(probs, rmap, k, cf, drop_policy="probs")
    T, E = logits.shape
    capacity = mc.get_capacity(num_tokens=T * k, num_experts=E, capacity_factor=cf)
    chosen = np.zeros((T, k), dtype=np.int64)
    for t in range(T):
        es = torch.nonzero(rmap[t]).flatten().tolist()
        assert len(es) == k
        chosen[t] = es
    kept = np.take_along_axis(fmap.numpy(), chosen, 1)
    weight = np.take_along_axis(fprobs.numpy(), chosen, 1).astype(np.float32)
    weight = np.where(kept, weight, 0).astype(np.float32)
    return capacity, chosen, kept, weight


def main():
    kinds = ["ordinary", "underflowing", "saturating", "tied", "rounding_tied"]
    versions = {"torch": torch.__version__, "deepspeed": deepspeed.__version__,
                "megatron-core": megatron.core.__version__}
    print(versions, file=sys.stderr)
    for p, preset in enumerate(["deepspeed_top1", "deepspeed_top2", "deepspeed_topk", "megatron"]):
        rng = np.random.default_rng(16_000 + p)
        cases = []
        for i in range(CASES):
            kind = kinds[i % len(kinds)]
            E = int(rng.integers(2, 13))
            if preset == "deepspeed_top1":
                k = 1
            elif preset == "deepspeed_top2":
                k = 2
                E = max(E, 2)
            elif preset == "deepspeed_topk":
                E = max(E, 3)
                k = int(rng.integers(3, min(E, 5) + 1))
            else:
                k = int(rng.integers(1, min(E, 4) + 1))
            T = int(rng.integers(4, 37))
            cf = float(CFS[int(rng.integers(0, len(CFS)))])
            if i % 3 == 0:
                # A third of the cases: a shape whose float32 capacity is not the exact one.
                for _ in range(200):
                    if rounding_differs(T, E, k, cf):
                        break
                    T = int(rng.integers(4, 37))
                    cf = float(CFS[int(rng.integers(0, len(CFS)))])
            logits = draw(rng, kind, T, E)
            if preset == "megatron":
                min_cap = 0
                capacity, chosen, kept, weight = run_megatron(logits, k, cf)
            else:
                min_cap = 4 if i % 2 == 0 else 0
                capacity, chosen, kept, weight = run_deepspeed(preset, logits, k, cf, min_cap)
            cases.append({"kind": kind, "T": T, "E": E, "k": k, "cf": cf, "min_capacity": min_cap,
                          "capacity": capacity, "logits": bits(logits.numpy().ravel()),
                          "expert": chosen.ravel().tolist(), "kept": kept.astype(int).ravel().tolist(),
                          "weight": bits(weight.ravel())})
        path = os.path.join(HERE, preset + ".json")
        with open(path, "w") as f:
            json.dump({"preset": preset, "versions": versions, "cases": cases}, f, separators=(",", ":"))
        n = sum(c["T"] * c["k"] for c in cases)
        d = sum(c["T"] * c["k"] - sum(c["kept"]) for c in cases)
        print(f"{preset}: {len(cases)} matrices, {n} assignments, {d} dropped, {os.path.getsize(path)} bytes",
              file=sys.stderr)


if __name__ == "__main__":
    main()
