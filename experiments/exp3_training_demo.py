"""Experiment 3: training demo with binary rewards, easy and hard problems.

Task set (new per seed). P = 48 problems; problem p is a target token sequence of length L_p over a
vocabulary of V = 4 tokens, 8 problems for each L in {2, ..., 7}. Reward 1 only when the whole
sampled sequence equals the target, else 0. Targets follow a "common pattern": at each position the
token is 0 with probability Q_COMMON = 0.5, else uniform over {1, 2, 3}. So short problems can be
solved by the common pattern, and long problems almost surely need some uncommon tokens.
    easy: L in {2, 3, 4}, initial pass@1 = 4^-L >= 3.9e-3
    hard: L in {5, 6, 7}, initial pass@1 = 4^-L <= 9.8e-4

Policy. Independent softmax per position: logits[p, l, :] = b[l, :] + w[p, l, :], all zero at the
start. b is shared by every problem (a crude stand-in for a shared network: what one problem
learns moves every other problem's policy); w is per-problem (tabular). The ablation setting
"tabular" drops b.

Training. REINFORCE: each step draws n = 16 samples for every problem (768 samples per step for
every run), calls pkpo once on the [48, 16] binary rewards (sloo_minus_one at the run's k), and
takes a plain SGD step of size LR on sum_i a_i * grad log pi(x_i) (the gradient of the log-softmax,
accumulated into w and b). Runs (same samples per step, same LR, same number of steps):
    k1       k = 1 (pkpo's k = 1 value: (g_i - mean of the others)/n, i.e. REINFORCE with a
             leave-one-out baseline)
    k4, k8   fixed k
    anneal   k = round(8^(1 - t / (0.75 T))) for the first 75% of steps (8 -> 1), then k = 1
    k1_lr8   control: k = 1 with an 8x larger step. For a problem with one success in its group,
             sloo_minus_one at k gives the correct sample k/n instead of 1/n, so part of the effect
             of k is a larger step on rare successes; this run shows how much of it that explains.
    harmonic16  the mixture sum_{k=1..16} (1/k) pass@k (pkpo.mixture.harmonic(16): MaxRL's
             weighting at K = n), one pkpo call with k = [1..16], k_weights = [1, 1/2, ..., 1/16].
             Its weights sum to H_16 = 3.38, so its step is larger than one k's (see k1_lr8).
    passk4   the pass^4 objective (statistic="min": all 4 attempts succeed), k = 4. Its gradient
             is zero for a group with fewer than k - 1 = 3 successes (no 4-subset can succeed), so
             it cannot start on problems the policy rarely solves.
    k1_passk4  k = 1 for the first half of the steps, then pass^4: reliability training on a
             policy that already solves problems.

Evaluation on held-out samples (fresh draws, never used for training; the problems themselves are
the training problems, as the policy is per problem): every EVAL_EVERY steps, 64 samples per
problem, pass@1 and pass@8 per problem estimated with pkpo's rho_curve (the unbiased estimator),
and pass^4 (all 4 of 4 attempts succeed) with rho_curve(statistic="min"), averaged over easy and
hard problems. The exact pass@1 p (product of the softmax probabilities of the target) and the
exact pass^4 = p^4 are recorded beside them as a check. "Ever solved" = the problem had at least one correct
training sample; "learned" = exact pass@1 >= 0.5 at the end.

The harmonic16 and passk4 runs use pkpo's Python API for mixtures over k and the min statistic
(pkpo.transform(..., k=[...], k_weights=[...]), statistic="min", pkpo.mixture.harmonic).

Run:  python3 experiments/exp3_training_demo.py   [--seeds 10 --steps 1000]
Writes results/exp3_curves.csv, results/exp3_summary.csv and figures/exp3_training.png.
"""

import argparse
import time

import numpy as np

import toy
from toy import pkpo

V = 4
LENGTHS = [2, 3, 4, 5, 6, 7]
PER_LENGTH = 8
LMAX = max(LENGTHS)
HARD_MIN_L = 5
Q_COMMON = 0.5
N = 16            # samples per problem per training step
EVAL_N = 64       # fresh samples per problem per evaluation
EVAL_KS = [1, 8]
EVAL_HAT_K = 4    # pass^k of the evaluation (and of the passk4 run)
HARMONIC_K = 16   # harmonic16: k = 1..16 with weights 1/k
LR = 1.0


def k_schedule(name, t, steps):
    if name in ("k1", "k1_lr8"):
        return 1
    if name == "k4":
        return 4
    if name == "k8":
        return 8
    if name == "anneal":
        return max(1, int(round(8.0 ** (1.0 - t / (0.75 * steps))))) if t < 0.75 * steps else 1
    if name == "harmonic16":
        return HARMONIC_K  # the mixture's largest k
    if name == "passk4":
        return EVAL_HAT_K
    if name == "k1_passk4":
        return 1 if t < steps // 2 else EVAL_HAT_K
    raise ValueError(name)


def advantages(run, r, k):
    """One pkpo call per step: the run's objective on the [P, N] binary rewards."""
    if run == "harmonic16":
        ks, weights = pkpo.mixture.harmonic(HARMONIC_K)
        return pkpo.transform(r, k=ks, k_weights=weights)
    if run == "passk4" or (run == "k1_passk4" and k > 1):
        return pkpo.transform(r, k=k, statistic="min")
    return pkpo.transform(r, k=k)


RUNS = ["k1", "k4", "k8", "anneal", "k1_lr8", "harmonic16", "passk4", "k1_passk4"]
SETTINGS = ["shared", "tabular"]


def make_tasks(rng):
    L = np.repeat(LENGTHS, PER_LENGTH)
    target = np.where(rng.random((L.size, LMAX)) < Q_COMMON, 0, rng.integers(1, V, (L.size, LMAX)))
    mask = np.arange(LMAX)[None, :] < L[:, None]       # positions that exist for each problem
    return L, target, mask


def softmax(z):
    z = z - z.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


def sample(probs, n, rng):
    """Tokens [P, n, LMAX] from per-position categorical probs [P, LMAX, V] (inverse CDF)."""
    cdf = np.cumsum(probs, axis=-1)
    u = rng.random((probs.shape[0], n, LMAX, 1))
    return np.minimum((u > cdf[:, None, :, :]).sum(axis=-1), V - 1)


def rewards(x, target, mask):
    return np.all((x == target[:, None, :]) | ~mask[:, None, :], axis=-1).astype(np.float64)


def exact_pass1(probs, target, mask):
    pt = np.take_along_axis(probs, target[..., None], axis=-1)[..., 0]
    return np.prod(np.where(mask, pt, 1.0), axis=1)


def train(setting, run, seed, steps, eval_every):
    rng = np.random.default_rng([3, seed])           # task set: same for every run of a seed
    L, target, mask = make_tasks(rng)
    hard = L >= HARD_MIN_L
    rng = np.random.default_rng([3, seed, 1])        # sampling: same stream for every run
    eval_rng = np.random.default_rng([3, seed, 2])   # held-out evaluation draws
    P = L.size
    b = np.zeros((LMAX, V))
    w = np.zeros((P, LMAX, V))
    lr = LR * (8.0 if run == "k1_lr8" else 1.0)
    ever = np.zeros(P, dtype=bool)
    curve = []

    def evaluate(t, k):
        probs = softmax(b[None] + w)
        r = rewards(sample(probs, EVAL_N, eval_rng), target, mask)
        est = pkpo.rho_curve(r, ks=EVAL_KS)[0]                    # [P, 2]: pass@1, pass@8
        hat = pkpo.rho_curve(r, ks=[EVAL_HAT_K], statistic="min")[0][:, 0]   # [P]: pass^4
        ex1 = exact_pass1(probs, target, mask)
        # Exploration diagnostics: mean entropy per position (nats; uniform = log 4), and the
        # fraction of hard problems' target tokens whose probability fell below 0.01.
        ent = -(probs * np.log(np.maximum(probs, 1e-300))).sum(axis=-1)[mask].mean()
        pt = np.take_along_axis(probs, target[..., None], axis=-1)[..., 0]
        blocked = (pt[mask & hard[:, None]] < 0.01).mean()
        curve.append([setting, run, seed, t, k,
                      est[~hard, 0].mean(), est[hard, 0].mean(),
                      est[~hard, 1].mean(), est[hard, 1].mean(),
                      ex1[~hard].mean(), ex1[hard].mean(),
                      (1 - (1 - ex1[hard]) ** 8).mean(),
                      ever[hard].mean(), ever[~hard].mean(), ent, blocked,
                      hat[~hard].mean(), hat[hard].mean(),
                      (ex1[~hard] ** EVAL_HAT_K).mean(), (ex1[hard] ** EVAL_HAT_K).mean()])
        return ex1

    ex1 = evaluate(0, k_schedule(run, 0, steps))
    for t in range(steps):
        k = k_schedule(run, t, steps)
        probs = softmax(b[None] + w)
        x = sample(probs, N, rng)
        r = rewards(x, target, mask)
        ever |= r.any(axis=1)
        a = advantages(run, r, k)           # one pkpo call per step
        # grad of log pi(x) wrt logits[p, l] = onehot(x_l) - probs[p, l]; weighted by a.
        onehot = np.zeros((P, N, LMAX, V))
        np.put_along_axis(onehot, x[..., None], 1.0, axis=-1)
        g = np.einsum("pn,pnlv->plv", a, onehot) - a.sum(axis=1)[:, None, None] * probs
        g *= mask[:, :, None]
        w += lr * g
        if setting == "shared":
            b += lr * g.sum(axis=0)
        if (t + 1) % eval_every == 0 or t + 1 == steps:
            ex1 = evaluate(t + 1, k)
    return curve, ex1, ever, hard


def require_objectives_api():
    """The harmonic16 and passk4 runs need pkpo's Python API for mixtures and the min statistic."""
    try:
        pkpo.transform(np.zeros((1, 2)), k=[1, 2], k_weights=[1.0, 0.5], statistic="min")
        pkpo.rho_curve(np.zeros((1, 2)), ks=[1], statistic="min")
        pkpo.mixture.harmonic(2)
    except (TypeError, AttributeError) as e:
        raise SystemExit("exp3 needs pkpo's Python API for mixtures over k and the min statistic "
                         "(pkpo.transform(..., k_weights=..., statistic=...), pkpo.mixture); the "
                         "installed pkpo %s lacks it: %s" % (pkpo.__version__, e))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--seeds", type=int, default=10)
    ap.add_argument("--steps", type=int, default=1000)
    ap.add_argument("--eval-every", type=int, default=50)
    ap.add_argument("--plot-only", action="store_true",
                    help="redraw the figure from results/exp3_curves.csv without training")
    args = ap.parse_args()
    if args.plot_only:
        plot(read_curves(), args)
        return
    require_objectives_api()
    t_start = time.time()
    curves, summary = [], []
    for setting in SETTINGS:
        for run in RUNS:
            fin = []
            for seed in range(args.seeds):
                curve, ex1, ever, hard = train(setting, run, seed, args.steps, args.eval_every)
                curves += curve
                last = curve[-1]
                fin.append([last[5], last[6], last[7], last[8], last[9], last[10],
                            ever[hard].mean(), (ex1[hard] >= 0.5).mean(), ever[~hard].mean(),
                            (ex1[~hard] >= 0.5).mean(), (last[5] + last[6]) / 2.0, last[16],
                            last[17]])
            diag = {st: np.mean([[r[14], r[15]] for r in curves
                                 if r[0] == setting and r[1] == run and r[3] == st], axis=0)
                    for st in (200, args.steps)}
            print("%-7s %-7s entropy/position (nats, uniform %.3f): step 200 %.3f, end %.3f; hard "
                  "target tokens with p < 0.01: step 200 %.2f, end %.2f"
                  % (setting, run, np.log(V), diag[200][0], diag[args.steps][0], diag[200][1],
                     diag[args.steps][1]))
            fin = np.array(fin)
            mean, sd = fin.mean(axis=0), fin.std(axis=0, ddof=1)
            summary.append([setting, run, args.seeds] + [v for pair in zip(mean, sd) for v in pair])
            print("%-7s %-10s pass@1 all %.3f easy %.3f+-%.3f hard %.3f+-%.3f | pass@8 easy %.3f "
                  "hard %.3f+-%.3f | pass^4 easy %.3f+-%.3f hard %.3f+-%.3f | hard ever solved "
                  "%.3f+-%.3f, learned %.3f+-%.3f | easy learned %.3f"
                  % (setting, run, mean[10], mean[0], sd[0], mean[1], sd[1], mean[2], mean[3],
                     sd[3], mean[11], sd[11], mean[12], sd[12], mean[6], sd[6], mean[7], sd[7],
                     mean[9]))
    toy.write_csv("exp3_curves.csv",
                  ["setting", "run", "seed", "step", "k", "pass1_easy", "pass1_hard", "pass8_easy",
                   "pass8_hard", "exact_pass1_easy", "exact_pass1_hard", "exact_pass8_hard",
                   "hard_ever_solved", "easy_ever_solved", "entropy_per_position",
                   "hard_target_tokens_below_1pct", "passhat4_easy", "passhat4_hard",
                   "exact_passhat4_easy", "exact_passhat4_hard"], curves)
    names = ["pass1_easy", "pass1_hard", "pass8_easy", "pass8_hard", "exact_pass1_easy",
             "exact_pass1_hard", "hard_ever_solved", "hard_learned", "easy_ever_solved",
             "easy_learned", "pass1_all", "passhat4_easy", "passhat4_hard"]
    toy.write_csv("exp3_summary.csv", ["setting", "run", "seeds"] +
                  [s for n_ in names for s in (n_ + "_mean", n_ + "_sd")], summary)
    # The rho estimates against the exact pass@1 (a check of pkpo's rho on binary rewards).
    c = np.array([[r[5], r[9], r[6], r[10], r[16], r[18], r[17], r[19]] for r in curves])
    print("held-out rho vs exact pass@1, mean difference over %d evaluations: easy %+.4f, hard "
          "%+.4f; pass^4 (statistic min) vs exact p^4: easy %+.4f, hard %+.4f"
          % (len(curves), np.mean(c[:, 0] - c[:, 1]), np.mean(c[:, 2] - c[:, 3]),
             np.mean(c[:, 4] - c[:, 5]), np.mean(c[:, 6] - c[:, 7])))
    plot(curves, args)
    print("exp3 done in %.1f s" % (time.time() - t_start))


def read_curves():
    """The rows of results/exp3_curves.csv as main() builds them (setting, run, then numbers)."""
    with open(toy.os.path.join(toy.RESULTS, "exp3_curves.csv")) as f:
        next(f)
        rows = [line.rstrip("\n").split(",") for line in f]
    return [r[:2] + [int(r[2]), int(r[3]), int(r[4])] + [float(v) for v in r[5:]] for r in rows]


def plot(curves, args):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    toy.ensure_dirs()
    cols = [(5, "held-out pass@1, easy"), (6, "held-out pass@1, hard"),
            (8, "held-out pass@8, hard"), (16, "held-out pass^4, easy"),
            (12, "hard problems ever solved (train)")]
    colors = {"k1": "C3", "k4": "C1", "k8": "C0", "anneal": "C2", "k1_lr8": "C7",
              "harmonic16": "C4", "passk4": "C8", "k1_passk4": "C6"}
    fig, axes = plt.subplots(len(SETTINGS), len(cols), figsize=(17, 6.6), sharex=True)
    for i, setting in enumerate(SETTINGS):
        for j, (ci, title) in enumerate(cols):
            ax = axes[i, j]
            for run in RUNS:
                rows = [r for r in curves if r[0] == setting and r[1] == run]
                steps = sorted(set(r[3] for r in rows))
                vals = np.array([[r[ci] for r in rows if r[3] == s] for s in steps])
                ls = "--" if run in ("k1_lr8", "passk4") else "-"
                ax.plot(steps, vals.mean(axis=1), color=colors[run], ls=ls, lw=1.3, label=run)
                ax.fill_between(steps, vals.min(axis=1), vals.max(axis=1), color=colors[run],
                                alpha=0.12, lw=0)
            ax.set_ylim(-0.02, 1.02)
            ax.set_title("%s: %s" % (setting, title), fontsize=9)
            ax.grid(alpha=0.3)
            if i == len(SETTINGS) - 1:
                ax.set_xlabel("step (768 samples each)")
    axes[0, 0].legend(fontsize=8, loc="lower right")
    seeds = len(set(r[2] for r in curves))
    fig.suptitle("mean over %d seeds (band: min-max); SGD, same samples/step; sloo_minus_one; "
                 "harmonic16 = sum_k pass@k / k (k <= 16), passk4 = pass^4 (statistic min), "
                 "k1_passk4: k = 1, then pass^4 from half-way" % seeds, fontsize=10)
    fig.tight_layout()
    fig.savefig(toy.os.path.join(toy.FIGURES, "exp3_training.png"), dpi=100)
    plt.close(fig)


if __name__ == "__main__":
    main()
