"""Trains a tiny policy with pkpo's verl-style advantage estimator on synthetic rewards (CPU,
seconds). Needs torch and the pkpo package.

    python examples/train_tiny_verl_style.py                 # k annealed 8 -> 1 over the run
    python examples/train_tiny_verl_style.py --k 1           # plain policy gradient, for contrast

The task: each of P prompts has a hidden answer of T tokens out of V; a response is correct (reward
1) only if every token matches, so a uniform policy solves a prompt with probability V**-T (1/216
here) and most groups of n samples see no success at all. The policy is a table of logits
[P, T, V]. Each step does what verl does around its advantage estimator:

  sample n responses per prompt -> token_level_rewards [B, T] (the outcome reward on the last
  token), response_mask [B, T], index = uid strings of the prompts, the batch shuffled
  -> advantages, returns = compute_pkpo_outcome_advantage(...)     (registered as "pkpo" in verl)
  -> policy-gradient loss  -(advantages * log pi(token)).sum() / B

and logs what a trainer would: pass@k of the batch (pkpo.metrics.pass_at_k, unbiased) beside the
policy's exact pass@1 and pass@8 (computable here because the policy is a table).
"""

import argparse
import time
import uuid

import numpy as np
import torch

from pkpo import metrics
from pkpo.adapters import KSchedule
from pkpo.adapters import verl as pkpo_verl


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--prompts", type=int, default=16)
    ap.add_argument("--n", type=int, default=16, help="samples per prompt")
    ap.add_argument("--T", type=int, default=3, help="tokens per answer")
    ap.add_argument("--V", type=int, default=6, help="vocabulary size")
    ap.add_argument("--steps", type=int, default=60)
    ap.add_argument("--k", type=int, default=None, help="a fixed k (default: anneal 8 -> 1)")
    ap.add_argument("--estimator", default="sloo_minus_one")
    ap.add_argument("--lr", type=float, default=0.5)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()

    torch.manual_seed(a.seed)
    rng = np.random.default_rng(a.seed)
    P, n, T, V = a.prompts, a.n, a.T, a.V
    target = torch.from_numpy(rng.integers(0, V, size=(P, T)))
    uids = [str(uuid.UUID(int=int(rng.integers(0, 2**63)))) for _ in range(P)]
    logits = torch.zeros(P, T, V, requires_grad=True)
    opt = torch.optim.Adam([logits], lr=a.lr)
    k_setting = {"k": a.k} if a.k is not None else {
        "k_schedule": KSchedule(8, 1, steps=a.steps * 2 // 3, kind="linear")}
    pkpo_verl.set_step(0)

    def exact_pass(k):
        with torch.no_grad():
            p = torch.softmax(logits, -1).gather(-1, target.unsqueeze(-1)).squeeze(-1).prod(-1)
            return float((1 - (1 - p) ** k).mean())

    print("step  k  batch pass@1  pass@4  pass@16 | policy pass@1  pass@8")
    t0 = time.perf_counter()
    for step in range(a.steps + 1):
        # rollout: n responses per prompt, shuffled as verl's batches are
        prompt_of = torch.from_numpy(rng.permutation(np.repeat(np.arange(P), n)))
        B = prompt_of.numel()
        with torch.no_grad():
            probs = torch.softmax(logits[prompt_of], -1)              # [B, T, V]
            tokens = torch.multinomial(probs.reshape(-1, V), 1).reshape(B, T)
        correct = (tokens == target[prompt_of]).all(-1).float()        # [B]
        response_mask = torch.ones(B, T)
        token_level_rewards = torch.zeros(B, T)
        token_level_rewards[:, -1] = correct
        index = np.array([uids[p] for p in prompt_of.tolist()], dtype=object)

        advantages, returns = pkpo_verl.compute_pkpo_outcome_advantage(
            token_level_rewards, response_mask, index, config=None, estimator=a.estimator,
            **k_setting)
        k_used = (a.k if a.k is not None else k_setting["k_schedule"](step))

        if step % 10 == 0:
            m = metrics.pass_at_k(correct, index, ks=[1, 4, 16])
            print("%4d %2d  %12.3f %7.3f %8.3f | %13.4f %7.4f"
                  % (step, k_used, m["pass@1"], m["pass@4"], m["pass@16"], exact_pass(1),
                     exact_pass(8)))
        if step == a.steps:
            break
        logp = torch.log_softmax(logits[prompt_of], -1).gather(-1, tokens.unsqueeze(-1)).squeeze(-1)
        loss = -(advantages * logp * response_mask).sum() / B
        opt.zero_grad()
        loss.backward()
        opt.step()
    print("%d steps in %.2f s" % (a.steps, time.perf_counter() - t0))


if __name__ == "__main__":
    main()
