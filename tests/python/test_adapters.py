"""Trainer adapters (pkpo.adapters.*): parity with the trainers' own estimators through committed
fixtures (tests/python/fixtures, produced by make_fixtures.py from verl's and slime's code), and
each adapter run on synthetic batches of its trainer's shapes against the exact oracle
(oracle.py, the average over k-subsets).

The fixture parity tests need numpy only; the adapter tests need torch and skip without it."""

import json
import os

import numpy as np
import pytest

import pkpo
import oracle


def brute(g, k, estimator):
    """One group's exact values from the subset oracle (tests/python/oracle.py), as floats."""
    outs, rhos = oracle.transform([[float(v) for v in g]], k,
                                  "s" if estimator == "rho" else estimator)
    return float(rhos[0]) if estimator == "rho" else [float(v) for v in outs[0]]


FIXTURES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fixtures")


def load(name):
    with open(os.path.join(FIXTURES, name)) as f:
        return json.load(f)


VERL = load("verl_passk.json")
SLIME = load("slime_pkpo.json")


def first_appearance_sizes(ids):
    sizes = {}
    for g in ids:
        sizes[g] = sizes.get(g, 0) + 1
    return list(sizes.values())


# ---- verl: compute_grpo_passk_outcome_advantage == sloo_minus_one at k = n (numpy only) -------

@pytest.mark.parametrize("case", VERL["passk"], ids=[c["name"] for c in VERL["passk"]])
def test_verl_passk_fixture_equals_sloo_minus_one_at_k_n(case):
    r = np.array(case["rewards"], dtype=np.float32)
    expected = np.array(case["advantage"], dtype=np.float32)
    # k = n per group, two ways: an over-large k clamped to each group's size, and per-group k.
    got_clamped = pkpo.transform(r, case["uids"], k=r.size, k_policy="clamp")
    got_per_group = pkpo.transform(r, case["uids"], k=np.array(first_appearance_sizes(case["uids"])),
                                   k_policy="strict")
    assert got_clamped.dtype == np.float32
    np.testing.assert_array_equal(got_clamped, expected)
    np.testing.assert_array_equal(got_per_group, expected)


def test_verl_fixture_covers_what_it_claims():
    names = {c["name"] for c in VERL["passk"]}
    assert {"binary_n8", "continuous_n16", "ragged_ties", "constant_and_tied_max"} <= names
    for c in VERL["passk"]:
        adv = np.array(c["advantage"])
        assert np.count_nonzero(adv) <= len(set(c["uids"]))  # at most the best answer per group
        assert len(c["rewards"]) == len(c["uids"]) == len(c["lengths"])


# ---- slime's PKPO fork: s, sloo, sloo_minus_one at k = 2, 4, 8, n = 16 (numpy only) ----------

SLIME_CASES = [(name, est, k) for name in SLIME["groups"] for est in ("s", "sloo", "sloo_minus_one")
               for k in SLIME["ks"]]


@pytest.mark.parametrize("name,est,k", SLIME_CASES)
def test_slime_fixture_parity(name, est, k):
    entry = SLIME["groups"][name]
    g = np.array(entry["rewards"], dtype=np.float64)
    ref = np.array(entry["%s_k%d" % (est, k)])
    got = pkpo.transform(g, k=k, estimator=est)
    assert got.shape == ref.shape == (g.shape[0], SLIME["n"])
    # Tolerance on the scale of the spec's accuracy measure, (k/n) * max|g| per group: slime's
    # formulas difference large terms and lose a few digits on offset rewards, pkpo's do not.
    scale = k / SLIME["n"] * np.abs(g).max(axis=1, keepdims=True)
    assert np.all(np.abs(got - ref) <= 1e-12 * scale), np.abs(got - ref).max()


def test_slime_fixture_float32_batch():
    b = SLIME["float32_batch"]
    r = np.array(b["rewards"], dtype=np.float32)
    n = SLIME["n"]
    for k in SLIME["ks"]:
        ref = np.array(b["sloo_minus_one_k%d" % k], dtype=np.float32)
        got = pkpo.transform(r.reshape(-1, n), k=k).reshape(-1)
        assert got.dtype == np.float32
        scale = k / n * np.abs(r.reshape(-1, n)).max(axis=1).repeat(n)
        assert np.all(np.abs(got.astype(np.float64) - ref) <= 4e-6 * scale + 1e-7)


def test_slime_fixture_against_oracle():
    """The fixture itself is right: slime's numbers agree with the subset oracle on the binary
    groups (whose n = 16 subsets are few enough at k = 2)."""
    g = SLIME["groups"]["ties_negative"]["rewards"][0]
    for est in ("s", "sloo", "sloo_minus_one"):
        ref = SLIME["groups"]["ties_negative"]["%s_k2" % est][0]
        np.testing.assert_allclose(ref, brute(g, 2, est), rtol=0, atol=1e-12)


# ---- verl adapter (torch) ------------------------------------------------------------------------

def verl_batch(case, torch):
    r = np.array(case["rewards"], dtype=np.float32)
    lengths = np.array(case["lengths"])
    T = case["T"]
    mask = (np.arange(T)[None, :] < lengths[:, None]).astype(np.float32)
    tlr = np.zeros((r.size, T), np.float32)
    tlr[np.arange(r.size), lengths - 1] = r
    return torch.from_numpy(tlr), torch.from_numpy(mask), np.array(case["uids"], dtype=object)


@pytest.fixture
def verl_adapter(monkeypatch):
    torch = pytest.importorskip("torch")
    from pkpo.adapters import verl as va

    for var in ("PKPO_K", "PKPO_ESTIMATOR", "PKPO_K_SCHEDULE", "PKPO_NORMALIZE"):
        monkeypatch.delenv(var, raising=False)
    va.configure()
    va.set_step(0)
    yield torch, va
    va.configure()
    va.set_step(0)


@pytest.mark.parametrize("case", VERL["passk"], ids=[c["name"] for c in VERL["passk"]])
def test_verl_adapter_reproduces_grpo_passk(verl_adapter, case):
    torch, va = verl_adapter
    tlr, mask, uids = verl_batch(case, torch)
    for normalize, key in (("none", "advantage"), ("group_std", "advantage_norm_std")):
        adv, ret = va.compute_pkpo_outcome_advantage(tlr, mask, uids, config={}, k="n",
                                                     normalize=normalize)
        expected = torch.from_numpy(np.array(case[key], dtype=np.float32)).unsqueeze(-1) * mask
        assert adv.dtype == torch.float32 and adv.shape == mask.shape
        assert torch.equal(adv, expected), (normalize, (adv - expected).abs().max())
        assert ret is adv


def test_verl_adapter_other_estimators_against_oracle(verl_adapter):
    torch, va = verl_adapter
    rng = np.random.default_rng(3)
    uids = np.array(["p%d" % i for i in rng.permutation(np.repeat(np.arange(5), [1, 2, 3, 5, 6]))],
                    dtype=object)
    r = rng.integers(-2, 4, size=uids.size).astype(np.float64) / 2
    T = 4
    lengths = rng.integers(1, T + 1, size=uids.size)
    mask = torch.from_numpy((np.arange(T)[None, :] < lengths[:, None]).astype(np.float64))
    tlr = torch.zeros((uids.size, T), dtype=torch.float64)
    tlr[torch.arange(uids.size), torch.from_numpy(lengths - 1)] = torch.from_numpy(r)
    for est in ("s", "sloo", "sloo_minus_one"):
        for k in (1, 2, 3):
            adv, _ = va.compute_pkpo_outcome_advantage(tlr, mask, uids, k=k, estimator=est)
            expected = np.zeros(uids.size)
            for g in dict.fromkeys(uids):
                idx = np.flatnonzero(uids == g)
                kk = min(k, idx.size)
                expected[idx] = brute(r[idx].tolist(), kk, est)
            np.testing.assert_allclose(adv.numpy(), expected[:, None] * mask.numpy(), rtol=0,
                                       atol=1e-12)


def test_verl_adapter_settings_precedence(verl_adapter, monkeypatch):
    torch, va = verl_adapter
    assert va.current_settings()["k"] is None
    with pytest.raises(ValueError, match="no k"):
        va.compute_pkpo_outcome_advantage(torch.ones(4, 2), torch.ones(4, 2), ["a"] * 4)
    with pytest.raises(ValueError, match="index"):
        va.compute_pkpo_outcome_advantage(torch.ones(4, 2), torch.ones(4, 2), None, k=2)
    monkeypatch.setenv("PKPO_K", "3")
    monkeypatch.setenv("PKPO_ESTIMATOR", "sloo")
    assert va.current_settings()["k"] == 3
    va.configure(k=5)
    assert va.current_settings()["k"] == 5 and va.current_settings()["estimator"] == "sloo"
    cfg = {"pkpo": {"k": 6, "normalize": "batch_std"}}
    s = va.current_settings(cfg)
    assert s["k"] == 6 and s["normalize"] == "batch_std"
    assert va.current_settings(cfg, k=7)["k"] == 7
    with pytest.raises(ValueError, match="unknown pkpo setting"):
        va.configure(kk=1)
    with pytest.raises(ValueError, match="normalize"):
        va.current_settings(normalize="zscore")
    monkeypatch.setenv("PKPO_K_SCHEDULE", "8:2:6:linear")
    assert va.current_settings()["k_schedule"](3) == 5


def test_verl_adapter_k_schedule_steps(verl_adapter):
    torch, va = verl_adapter
    g = [0.0, 0.25, 0.5, 1.0, 0.75, 0.1, 0.9, 0.3]
    tlr = torch.tensor(g, dtype=torch.float64).unsqueeze(-1)
    mask = torch.ones_like(tlr)
    uids = ["u"] * len(g)
    sched = {"start": 8, "end": 2, "steps": 3, "kind": "linear"}  # k = 8, 6, 4, 2, 2, ...
    seen = []
    for step in range(5):  # the step counts itself, one per call
        adv, _ = va.compute_pkpo_outcome_advantage(tlr, mask, uids, k_schedule=sched)
        seen.append(adv[:, 0].numpy())
    for step, k in enumerate([8, 6, 4, 2, 2]):
        np.testing.assert_allclose(seen[step], brute(g, k, "sloo_minus_one"), atol=1e-12)
    adv, _ = va.compute_pkpo_outcome_advantage(tlr, mask, uids, k_schedule=sched, global_step=1)
    np.testing.assert_allclose(adv[:, 0].numpy(), brute(g, 6, "sloo_minus_one"), atol=1e-12)
    # batch_std: one positive factor for the whole batch
    adv, _ = va.compute_pkpo_outcome_advantage(tlr, mask, uids, k=4, normalize="batch_std")
    raw = np.array(brute(g, 4, "sloo_minus_one"))
    np.testing.assert_allclose(adv[:, 0].numpy(), raw / (raw.std(ddof=1) + 1e-6), rtol=1e-12)


def test_verl_adapter_singletons_and_nan(verl_adapter):
    torch, va = verl_adapter
    r = torch.tensor([1.0, 0.0, float("nan"), 1.0, 0.5], dtype=torch.float64)
    uids = ["a", "b", "b", "b", "c"]
    for normalize in ("none", "group_std"):
        adv, _ = va.compute_pkpo_outcome_advantage(r.unsqueeze(-1), torch.ones(5, 1), uids, k="n",
                                                   normalize=normalize)
        a = adv[:, 0].numpy()
        assert a[0] == 0.0 and a[4] == 0.0  # singletons: 0 (verl's grpo_passk raises)
        assert a[2] == 0.0                   # the NaN sample left its group
        assert a[1] == 0.0 and a[3] > 0      # group b = {0.0, 1.0}: max - second max = 1
        assert np.isfinite(a).all()


def test_verl_registration_live(verl_adapter):
    pytest.importorskip("verl")
    torch, va = verl_adapter
    from verl.trainer.ppo import core_algos

    assert core_algos.get_adv_estimator_fn("pkpo") is va.compute_pkpo_outcome_advantage
    # called the way verl's compute_advantage calls a registered estimator, with its AlgoConfig
    from verl.trainer.config import AlgoConfig

    case = VERL["passk"][0]
    tlr, mask, uids = verl_batch(case, torch)
    va.configure(k="n")
    adv, ret = core_algos.get_adv_estimator_fn("pkpo")(
        token_level_rewards=tlr, response_mask=mask, config=AlgoConfig(adv_estimator="pkpo"),
        index=uids)
    expected = torch.tensor(case["advantage"], dtype=torch.float32).unsqueeze(-1) * mask
    assert torch.equal(adv, expected) and torch.equal(ret, expected)
    for case in VERL["passk"]:
        tlr, mask, uids = verl_batch(case, torch)
        for norm in (False, True):
            theirs, _ = core_algos.compute_grpo_passk_outcome_advantage(
                tlr, mask, uids, config={"norm_adv_by_std_in_grpo": norm})
            ours, _ = va.compute_pkpo_outcome_advantage(
                tlr, mask, uids, config={}, k="n", normalize="group_std" if norm else "none")
            assert torch.equal(ours, theirs)


# ---- TRL ------------------------------------------------------------------------------------------

def trl_batch(rng, prompts, n, dtype=np.float32):
    r = (rng.random(prompts * n) < 0.4).astype(dtype) + rng.normal(size=prompts * n).astype(dtype) * 0.1
    r[rng.random(prompts * n) < 0.1] = np.nan  # unscorable completions
    return r


@pytest.mark.parametrize("n,k", [(4, 2), (8, 4), (8, "n"), (6, 1)])
def test_trl_grpo_advantages_numpy(n, k):
    from pkpo.adapters.trl import grpo_advantages

    rng = np.random.default_rng(n * 10 + (0 if k == "n" else k))
    r = trl_batch(rng, 5, n, np.float64)
    adv = grpo_advantages(r, n, k=k)
    assert adv.shape == r.shape and adv.dtype == r.dtype
    kk = n if k == "n" else k
    for p in range(5):
        g = r[p * n:(p + 1) * n]
        ok = np.isfinite(g)
        expected = np.zeros(n)
        if ok.sum() >= 1:
            expected[ok] = brute(g[ok].tolist(), min(kk, int(ok.sum())), "sloo_minus_one")
        np.testing.assert_allclose(adv[p * n:(p + 1) * n], expected, atol=1e-12)
    assert np.all(adv[~np.isfinite(r)] == 0)  # TRL: unscorable -> 0
    with pytest.raises(ValueError, match="whole number"):
        grpo_advantages(r[:-1], n, k=2)


class _Accel:
    def __init__(self, index):
        self.process_index = index


def fake_grpo_base(torch, gathered, weights, n, process_index, local):
    """Stands in for trl.GRPOTrainer's contract as the subclass relies on it:
    _calculate_rewards returns the rewards of all processes [B_global, n_funcs];
    _generate_and_score_completions calls it and returns a dict whose "advantages" is this
    process's slice (TRL's own group-normalised values here)."""

    class FakeGRPOTrainer:
        def __init__(self, *args, **kwargs):
            self.num_generations = n
            self.reward_weights = torch.tensor(weights)
            self.accelerator = _Accel(process_index)
            self.multi_objective_aggregation = "sum_then_normalize"
            self.init_kwargs = kwargs

        def _calculate_rewards(self, inputs, prompts, completions, completion_ids_list):
            return gathered.clone()

        def _generate_and_score_completions(self, inputs):
            rpf = self._calculate_rewards(inputs, None, None, None)
            rewards = (rpf * self.reward_weights.unsqueeze(0)).nansum(dim=1)
            mean = torch.nanmean(rewards.view(-1, n), dim=1).repeat_interleave(n)
            adv = torch.nan_to_num(rewards - mean, nan=0.0)
            return {"advantages": adv[process_index * local:(process_index + 1) * local],
                    "prompt_ids": inputs}

    return FakeGRPOTrainer


def test_trl_trainer_subclass_replaces_advantages():
    torch = pytest.importorskip("torch")
    from pkpo.adapters.trl import grpo_advantages, pkpo_grpo_trainer

    rng = np.random.default_rng(11)
    n, prompts, procs = 4, 6, 3
    B = n * prompts
    rpf = torch.from_numpy(rng.integers(0, 2, size=(B, 2)).astype(np.float32))
    rpf[3] = float("nan")            # every reward function returned None
    rpf[5, 1] = float("nan")         # one of them did
    weights = [1.0, 0.5]
    for proc in range(procs):
        local = B // procs
        cls = pkpo_grpo_trainer(fake_grpo_base(torch, rpf, weights, n, proc, local))
        assert cls.__name__ == "PKPOFakeGRPOTrainer"
        with pytest.raises(ValueError, match="pkpo_k"):
            cls()
        tr = cls(pkpo_k=2, other="kept")
        assert tr.init_kwargs == {"other": "kept"}
        out = tr._generate_and_score_completions("inputs")
        rewards = (rpf * torch.tensor(weights)).nansum(dim=1)
        rewards[3] = float("nan")
        full = grpo_advantages(rewards, n, k=2)
        assert out["prompt_ids"] == "inputs"
        assert torch.equal(out["advantages"], full[proc * local:(proc + 1) * local])
        if proc == 0:  # sample 3: every reward function returned None -> 0, as TRL
            assert out["advantages"][3].item() == 0.0
        g = rewards[local:local + n].numpy().astype(np.float64)
        if proc == 1:  # its first n samples = prompt local/n, checked against the oracle
            np.testing.assert_allclose(out["advantages"][:4].numpy(), brute(g.tolist(), 2,
                                       "sloo_minus_one"), atol=1e-6)


def test_trl_trainer_k_schedule():
    torch = pytest.importorskip("torch")
    from pkpo.adapters.trl import pkpo_grpo_trainer

    rpf = torch.tensor([[0.0], [1.0], [0.5], [0.25]])
    cls = pkpo_grpo_trainer(fake_grpo_base(torch, rpf, [1.0], 4, 0, 4))
    tr = cls(pkpo_k={"start": 4, "end": 1, "steps": 3, "kind": "linear"})
    tr.state = type("S", (), {"global_step": 3})()
    out = tr._generate_and_score_completions(None)  # k = 1 at step 3
    np.testing.assert_allclose(out["advantages"].numpy(), brute([0, 1, 0.5, 0.25], 1, "sloo_minus_one"),
                               atol=1e-7)


def test_k1_scale_relations_stated_in_docs():
    """docs/trainers.md: pkpo at k = 1 is RLOO / n, and group-mean centring (TRL without std,
    OpenRLHF dr_grpo) is (n - 1) times it. The trainers' formulas, written out here."""
    rng = np.random.default_rng(21)
    for n in (2, 5, 16):
        r = rng.normal(size=(4, n))
        k1 = pkpo.transform(r, k=1)
        rloo = r - (r.sum(-1, keepdims=True) - r) / (n - 1)
        centred = r - r.mean(-1, keepdims=True)
        np.testing.assert_allclose(rloo, n * k1, atol=1e-12)
        np.testing.assert_allclose(centred, (n - 1) * k1, atol=1e-12)


def test_trl_trainer_live(tmp_path):
    """With TRL installed: two real GRPOTrainer steps of a tiny local GPT-2 (no download) through
    PKPOGRPOTrainer; the advantages the loss receives are pkpo's on the gathered rewards."""
    torch = pytest.importorskip("torch")
    pytest.importorskip("trl")
    datasets = pytest.importorskip("datasets")
    tokenizers = pytest.importorskip("tokenizers")
    transformers = pytest.importorskip("transformers")
    from trl import GRPOConfig

    from pkpo.adapters.trl import PKPOGRPOTrainer, grpo_advantages

    vocab = {w: i for i, w in enumerate(["<pad>", "<eos>", "a", "b", "c", "d", "e", "f"])}
    tk = tokenizers.Tokenizer(tokenizers.models.WordLevel(vocab=vocab, unk_token="<pad>"))
    tk.pre_tokenizer = tokenizers.pre_tokenizers.Whitespace()
    tok = transformers.PreTrainedTokenizerFast(tokenizer_object=tk, pad_token="<pad>",
                                               eos_token="<eos>")
    torch.manual_seed(0)
    model = transformers.GPT2LMHeadModel(transformers.GPT2Config(
        vocab_size=len(vocab), n_layer=1, n_embd=16, n_head=2, n_positions=32, bos_token_id=1,
        eos_token_id=1, pad_token_id=0))
    ds = datasets.Dataset.from_dict({"prompt": ["a b", "c d", "e f", "a c"] * 4})

    def reward_a(completions, **kw):
        return [float("a" in c) for c in completions]

    def reward_len(completions, **kw):  # None for some: TRL's "unscorable by this function"
        return [None if i % 7 == 3 else len(c) / 10 for i, c in enumerate(completions)]

    seen = []

    class Probe(PKPOGRPOTrainer):
        def _generate_and_score_completions(self, inputs):
            out = super()._generate_and_score_completions(inputs)
            seen.append((self._pkpo_rewards_per_func.clone(), out["advantages"].clone()))
            return out

    cfg = GRPOConfig(output_dir=str(tmp_path), per_device_train_batch_size=8, num_generations=4,
                     max_completion_length=4, max_steps=2, report_to=[], use_cpu=True, bf16=False,
                     save_strategy="no", reward_weights=[1.0, 0.5])
    Probe(model=model, reward_funcs=[reward_a, reward_len], args=cfg, train_dataset=ds,
          processing_class=tok, pkpo_k=2).train()
    assert len(seen) == 2
    for rpf, adv in seen:
        rewards = (rpf * torch.tensor([1.0, 0.5])).nansum(1)
        rewards[torch.isnan(rpf).all(1)] = float("nan")
        assert torch.equal(adv, grpo_advantages(rewards, 4, k=2))


# ---- OpenRLHF -----------------------------------------------------------------------------------

def test_openrlhf_shape_rewards_matches_oracle():
    from pkpo.adapters.openrlhf import shape_rewards

    rng = np.random.default_rng(5)
    r = rng.integers(0, 3, size=(4, 6)).astype(np.float64)
    for est in ("s", "sloo", "sloo_minus_one"):
        out = shape_rewards(r, k=3, estimator=est)
        for p in range(4):
            np.testing.assert_allclose(out[p], brute(r[p].tolist(), 3, est), atol=1e-12)
    np.testing.assert_array_equal(shape_rewards(r, k="n"), shape_rewards(r, k=6))
    with pytest.raises(ValueError):
        shape_rewards(r.reshape(-1), k=2)


def test_openrlhf_experiences_reordered_like_openrlhf():
    torch = pytest.importorskip("torch")
    from types import SimpleNamespace

    from pkpo.adapters.openrlhf import shape_rewards, transform_experience_rewards

    rng = np.random.default_rng(9)
    n, prompts = 4, 5
    N = n * prompts
    prompt_order = torch.from_numpy(rng.random(N).astype(np.float32))  # rewards in prompt order
    perm = rng.permutation(N)                                          # experiences hold them shuffled
    sizes = [3, 7, 6, 4]
    exps, start = [], 0
    for s in sizes:
        pos = perm[start:start + s]
        exps.append(SimpleNamespace(index=[int(i) for i in pos], rewards=prompt_order[pos].clone()))
        start += s
    transform_experience_rewards(exps, n, k=2)
    expected = shape_rewards(prompt_order.reshape(-1, n), k=2).reshape(-1)
    for e in exps:
        assert torch.equal(e.rewards, expected[torch.tensor(e.index)])
    with pytest.raises(ValueError, match="permutation"):
        bad = [SimpleNamespace(index=[0, 0], rewards=torch.zeros(2))]
        transform_experience_rewards(bad, 2, k=1)


# ---- slime adapter (torch) ----------------------------------------------------------------------

def test_slime_adapter_drop_in():
    torch = pytest.importorskip("torch")
    from pkpo.adapters.slime import get_pkpo_advantages, pkpo_transform_rewards

    b = SLIME["float32_batch"]
    r = torch.tensor(b["rewards"], dtype=torch.float32)
    n = SLIME["n"]
    for k in SLIME["ks"]:
        got = pkpo_transform_rewards(r, n, k, "sloo_minus_one")
        ref = torch.tensor(b["sloo_minus_one_k%d" % k], dtype=torch.float32)
        assert got.dtype == torch.float32 and got.shape == r.shape
        assert (got - ref).abs().max().item() <= 4e-6 * k / n * r.abs().max().item() + 1e-7
    kl = [torch.full((i % 5 + 1,), 0.1) for i in range(r.numel())]
    adv, stats = get_pkpo_advantages(r, kl, n, 4, kl_coef=0.5)
    t = pkpo_transform_rewards(r, n, 4)
    assert len(adv) == r.numel() and all(a.shape == kk.shape for a, kk in zip(adv, kl))
    assert all(torch.allclose(a, t[i] - 0.5 * kl[i]) for i, a in enumerate(adv))
    assert stats["pkpo_k"] == 4 and stats["pkpo_reward_max"] == t.max().item()
    with pytest.raises(ValueError, match="whole number"):
        pkpo_transform_rewards(r[:-1], n, 2)


# ---- KSchedule ----------------------------------------------------------------------------------

def test_k_schedule():
    from pkpo.adapters import KSchedule

    lin = KSchedule(8, 1, steps=7)
    assert [lin(s) for s in range(10)] == [8, 7, 6, 5, 4, 3, 2, 1, 1, 1]
    cos = KSchedule(9, 1, steps=4, kind="cosine")
    assert [cos(s) for s in range(6)] == [9, 8, 5, 2, 1, 1]
    st = KSchedule(4, 2, steps=3, kind="step")
    assert [st(s) for s in range(5)] == [4, 4, 4, 2, 2]
    assert KSchedule(3)(100) == 3
    assert KSchedule.from_config(5)(0) == 5
    assert KSchedule.from_config({"start": 2, "end": 6, "steps": 4})(2) == 4
    f = KSchedule.from_config(lambda s: s + 1)
    assert f(2) == 3
    for bad in (dict(start=0), dict(start=2, end=1, steps=0), dict(start=2, kind="exp")):
        with pytest.raises(ValueError):
            KSchedule(**bad)


# ---- the example --------------------------------------------------------------------------------

def test_example_train_tiny_verl_style_learns():
    """examples/train_tiny_verl_style.py runs, and its policy learns the task (seeded run)."""
    pytest.importorskip("torch")
    import subprocess
    import sys

    script = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "examples",
                          "train_tiny_verl_style.py")
    if not os.path.exists(script):
        pytest.skip("examples/ not next to the tests")
    res = subprocess.run([sys.executable, script, "--steps", "30"], capture_output=True, text=True,
                         timeout=300)
    assert res.returncode == 0, res.stderr
    rows = [line.split() for line in res.stdout.splitlines() if line[:4].strip().isdigit()]
    assert [int(r[0]) for r in rows] == [0, 10, 20, 30]
    first, last = float(rows[0][6]), float(rows[-1][6])  # the policy's exact pass@1
    assert first < 0.05 and last > 0.3, res.stdout
