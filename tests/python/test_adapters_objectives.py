"""Trainer adapters with objectives beyond one k: mixtures over k (explicit terms and weights, the
harmonic:K / uniform:K shorthands) and the min statistic, through verl's estimator (environment,
configure, config section, keywords), TRL's advantage step and trainer subclass, and OpenRLHF's
shaping step and command-line arguments; checked against the exact oracle (oracle.py)."""

import argparse
from fractions import Fraction

import numpy as np
import pytest

import pkpo
import oracle
from pkpo.adapters import objective


def exact(groups, ks, weights, statistic="max", estimator="sloo_minus_one"):
    """Per-group lists of floats: sum_j w_j E_{k_j} (statistic applied) by subset enumeration."""
    outs, _ = oracle.transform([[float(v) for v in g] for g in groups], ks, estimator,
                               weights=weights, statistic=statistic)
    return [[float(v) for v in o] for o in outs]


def harmonic_weights(K):
    return [Fraction(1, k) for k in range(1, K + 1)]


# ---- the shared parsing --------------------------------------------------------------------------

def test_objective_parsing():
    assert objective(k=4) == (4, None)
    assert objective(k="4") == (4, None)
    assert objective(k="n") == ("n", None)
    assert objective(k="1,4,16", k_weights="1,0.25,0.0625") == ([1, 4, 16], [1.0, 0.25, 0.0625])
    assert objective(k=[2, 3], k_weights=(0.5, 1)) == ([2, 3], [0.5, 1.0])
    assert objective(k=[5]) == (5, None)
    assert objective(k=3, k_weights=2) == ([3], [2.0])
    assert objective(mixture="harmonic:3") == ([1, 2, 3], [1.0, 0.5, 1 / 3])
    assert objective(mixture="uniform:2", k=7) == ([1, 2], [1.0, 1.0])  # replaces k
    assert objective(mixture="harmonic:n", n=2) == ([1, 2], [1.0, 0.5])
    assert objective(mixture=([1, 2], [0.5, 0.5])) == ([1, 2], [0.5, 0.5])
    for kw, match in ((dict(k="1,4"), "needs one weight per k"), (dict(k=[1, 2]), "k_weights"),
                      (dict(k="1,4", k_weights="1"), "one weight per k"),
                      (dict(k="n", k_weights="1"), "integers"), (dict(k="x"), "comma"),
                      (dict(k=[1], k_weights="a,b"), "numbers"),
                      (dict(mixture="harmonic"), "harmonic:K"),
                      (dict(mixture="geom:3"), "harmonic:K"),
                      (dict(mixture="harmonic:n"), "group size"),
                      (dict(mixture="uniform:x"), "int"), (dict(mixture="harmonic:0"), ">= 1")):
        with pytest.raises(ValueError, match=match):
            objective(**kw)


# ---- verl ----------------------------------------------------------------------------------------

@pytest.fixture
def verl(monkeypatch):
    torch = pytest.importorskip("torch")
    from pkpo.adapters import verl as va

    for var in ("PKPO_K", "PKPO_ESTIMATOR", "PKPO_K_SCHEDULE", "PKPO_NORMALIZE", "PKPO_K_WEIGHTS",
                "PKPO_MIXTURE", "PKPO_STATISTIC"):
        monkeypatch.delenv(var, raising=False)
    va.configure()
    va.set_step(0)
    yield torch, va
    va.configure()
    va.set_step(0)


def verl_batch(torch, sizes, seed):
    rng = np.random.default_rng(seed)
    groups = [np.round(rng.normal(size=n), 1) for n in sizes]
    ids = np.concatenate([["uid-%d" % i] * n for i, n in enumerate(sizes)]).astype(object)
    flat = np.concatenate(groups)
    perm = rng.permutation(flat.size)
    T = 3
    lengths = rng.integers(1, T + 1, size=flat.size)
    mask = torch.from_numpy((np.arange(T)[None, :] < lengths[:, None]).astype(np.float64))
    tlr = torch.zeros((flat.size, T), dtype=torch.float64)
    tlr[torch.arange(flat.size), torch.from_numpy(lengths - 1)] = torch.from_numpy(flat[perm])
    return tlr, mask, ids[perm], groups, perm


def expected_flat(groups, perm, ks, weights, statistic="max", estimator="sloo_minus_one"):
    return np.concatenate(exact(groups, ks, weights, statistic, estimator))[perm]


def test_verl_environment_mixture_and_min(verl, monkeypatch):
    torch, va = verl
    tlr, mask, ids, groups, perm = verl_batch(torch, [5, 3, 6, 6, 1], 1)
    monkeypatch.setenv("PKPO_K", "1,2,4")
    monkeypatch.setenv("PKPO_K_WEIGHTS", "1,0.5,0.25")
    monkeypatch.setenv("PKPO_STATISTIC", "min")
    adv, ret = va.compute_pkpo_outcome_advantage(tlr, mask, ids)
    want = expected_flat(groups, perm, [1, 2, 4], [1.0, 0.5, 0.25], "min")
    np.testing.assert_allclose(adv.numpy(), want[:, None] * mask.numpy(), rtol=0, atol=1e-12)
    assert ret is adv
    s = va.current_settings()
    assert s["k"] == [1, 2, 4] and s["k_weights"] == "1,0.5,0.25" and s["statistic"] == "min"
    # PKPO_K with several ks and no weights is refused, not read as per-group k
    monkeypatch.delenv("PKPO_K_WEIGHTS")
    with pytest.raises(ValueError, match="weight per k"):
        va.compute_pkpo_outcome_advantage(tlr, mask, ids)


def test_verl_harmonic_n_is_maxrl_weighting(verl, monkeypatch):
    """PKPO_MIXTURE=harmonic:n: k = 1..n with w = 1/k, n the batch's largest group (8 here; the
    group of 5 has its terms k > 5 clamped to 5)."""
    torch, va = verl
    tlr, mask, ids, groups, perm = verl_batch(torch, [8, 8, 5, 8], 2)  # the k = 8 term is nonzero
    monkeypatch.setenv("PKPO_MIXTURE", "harmonic:n")
    monkeypatch.setenv("PKPO_K", "3")  # replaced by the mixture
    adv, _ = va.compute_pkpo_outcome_advantage(tlr, mask, ids)
    want = expected_flat(groups, perm, list(range(1, 9)), harmonic_weights(8))
    np.testing.assert_allclose(adv[:, 0].numpy() * (mask[:, 0].numpy()), want, rtol=0,
                               atol=1e-12)
    ks, w = pkpo.mixture.harmonic(8)
    direct = pkpo.transform(tlr.sum(-1), ids, k=ks, k_weights=w)
    assert torch.equal(adv, direct.unsqueeze(-1) * mask)
    # "none" in a later source clears it: back to PKPO_K = 3
    adv3, _ = va.compute_pkpo_outcome_advantage(tlr, mask, ids, mixture="none")
    assert torch.equal(adv3, pkpo.transform(tlr.sum(-1), ids, k=3).unsqueeze(-1) * mask)


def test_verl_config_section_keywords_and_errors(verl):
    torch, va = verl
    tlr, mask, ids, groups, perm = verl_batch(torch, [4, 6, 2], 3)
    cfg = {"pkpo": {"k": [2, 3], "k_weights": [1.0, -0.5], "estimator": "l2o"}}
    adv, _ = va.compute_pkpo_outcome_advantage(tlr, mask, ids, config=cfg)
    want = expected_flat(groups, perm, [2, 3], [1.0, -0.5], "max", "l2o")
    np.testing.assert_allclose(adv[:, 0].numpy() * mask[:, 0].numpy(), want, rtol=0, atol=1e-12)
    va.configure(mixture="uniform:3", statistic="min")
    adv, _ = va.compute_pkpo_outcome_advantage(tlr, mask, ids)
    want = expected_flat(groups, perm, [1, 2, 3], [1, 1, 1], "min")
    np.testing.assert_allclose(adv[:, 0].numpy() * mask[:, 0].numpy(), want, rtol=0, atol=1e-12)
    with pytest.raises(ValueError, match="k_schedule does not combine"):
        va.compute_pkpo_outcome_advantage(tlr, mask, ids, k_schedule={"start": 4, "end": 1,
                                                                      "steps": 3})
    va.configure()
    with pytest.raises(ValueError, match="harmonic:K"):
        va.compute_pkpo_outcome_advantage(tlr, mask, ids, mixture="harmonic")
    with pytest.raises(ValueError, match="unknown statistic"):
        va.compute_pkpo_outcome_advantage(tlr, mask, ids, k=2, statistic="mean")
    with pytest.raises(pkpo.PkpoError, match="k_terms"):
        va.compute_pkpo_outcome_advantage(tlr, mask, ids, k=[0, 2], k_weights=[1, 1])


# ---- TRL -----------------------------------------------------------------------------------------

def test_trl_grpo_advantages_mixture_and_min():
    from pkpo.adapters.trl import grpo_advantages

    rng = np.random.default_rng(6)
    n = 6
    r = (rng.random(5 * n) < 0.5).astype(np.float64)
    ks, w = pkpo.mixture.harmonic(n)
    for statistic in ("max", "min"):
        adv = grpo_advantages(r, n, k=ks, k_weights=w, statistic=statistic)
        want = np.concatenate(exact(r.reshape(-1, n), ks, harmonic_weights(n), statistic))
        np.testing.assert_allclose(adv, want, rtol=0, atol=1e-12)


def test_trl_trainer_subclass_mixture_and_min():
    torch = pytest.importorskip("torch")
    from test_adapters import fake_grpo_base

    from pkpo.adapters.trl import grpo_advantages, pkpo_grpo_trainer

    rng = np.random.default_rng(7)
    n, prompts = 4, 3
    rpf = torch.from_numpy(rng.integers(0, 2, size=(n * prompts, 1)).astype(np.float32))
    cls = pkpo_grpo_trainer(fake_grpo_base(torch, rpf, [1.0], n, 0, n * prompts))
    rewards = rpf[:, 0]
    tr = cls(pkpo_k=[1, 2], pkpo_k_weights=[1.0, 0.5], pkpo_statistic="min")
    out = tr._generate_and_score_completions(None)
    assert torch.equal(out["advantages"], grpo_advantages(rewards, n, k=[1, 2],
                                                          k_weights=[1.0, 0.5], statistic="min"))
    tr = cls(pkpo_mixture="harmonic:n")  # k = 1..num_generations
    out = tr._generate_and_score_completions(None)
    want = np.concatenate(exact(rewards.numpy().reshape(-1, n), [1, 2, 3, 4], harmonic_weights(4)))
    np.testing.assert_allclose(out["advantages"].numpy(), want, rtol=0, atol=1e-6)
    with pytest.raises(ValueError, match="pkpo_k"):
        cls(pkpo_k_weights=[1.0])
    with pytest.raises(ValueError, match="one weight per k"):
        cls(pkpo_k=[1, 2], pkpo_k_weights=[1.0])
    with pytest.raises(ValueError, match="pkpo_statistic"):
        cls(pkpo_k=2, pkpo_statistic="avg")


# ---- OpenRLHF ------------------------------------------------------------------------------------

def test_openrlhf_mixture_min_and_arguments():
    from pkpo.adapters.openrlhf import add_arguments, shape_rewards, shape_rewards_from_args

    rng = np.random.default_rng(8)
    r = np.round(rng.normal(size=(4, 5)), 1)
    out = shape_rewards(r, k=[1, 3], k_weights=[0.5, 2.0], statistic="min")
    np.testing.assert_allclose(out, exact(r, [1, 3], [0.5, 2.0], "min"), rtol=0, atol=1e-12)
    out = shape_rewards(r, mixture="harmonic:n")
    np.testing.assert_allclose(out, exact(r, [1, 2, 3, 4, 5], harmonic_weights(5)), rtol=0,
                               atol=1e-12)
    parser = add_arguments(argparse.ArgumentParser())
    args = parser.parse_args(["--pkpo_k", "1,4", "--pkpo_k_weights", "1,0.25",
                              "--pkpo_statistic", "min", "--pkpo_estimator", "l2o"])
    np.testing.assert_array_equal(shape_rewards_from_args(r, args),
                                  pkpo.transform(r, k=[1, 4], k_weights=[1, 0.25],
                                                 statistic="min", estimator="l2o"))
    args = parser.parse_args(["--pkpo_mixture", "uniform:n"])
    np.testing.assert_array_equal(shape_rewards_from_args(r, args),
                                  shape_rewards(r, k=[1, 2, 3, 4, 5], k_weights=[1] * 5))
    args = parser.parse_args(["--pkpo_k", "n"])
    np.testing.assert_array_equal(shape_rewards_from_args(r, args), shape_rewards(r, k=5))
    with pytest.raises(ValueError, match="needs k"):
        shape_rewards_from_args(r, parser.parse_args([]))
    with pytest.raises(SystemExit):
        parser.parse_args(["--pkpo_statistic", "mean"])


def test_openrlhf_experiences_with_a_mixture():
    torch = pytest.importorskip("torch")
    from types import SimpleNamespace

    from pkpo.adapters.openrlhf import shape_rewards, transform_experience_rewards

    rng = np.random.default_rng(9)
    n, prompts = 4, 3
    prompt_order = torch.from_numpy(rng.random(n * prompts))
    perm = rng.permutation(n * prompts)
    exps = [SimpleNamespace(index=[int(i) for i in perm[a:b]], rewards=prompt_order[perm[a:b]])
            for a, b in ((0, 5), (5, 12))]
    transform_experience_rewards(exps, n, mixture="harmonic:n", statistic="min")
    want = shape_rewards(prompt_order.reshape(-1, n), mixture="harmonic:n",
                         statistic="min").reshape(-1)
    for e in exps:
        assert torch.equal(e.rewards, want[torch.tensor(e.index)])
