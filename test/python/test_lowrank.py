"""Differential tests of the low-rank Gaussian copula (gc_fit with "rank") against the Python
gcimpute's LowRankGaussianCopula (docs/algorithms.md §11).

1. MovieLens-1M as in the authors' tutorial: load_movielens1m(num=400, min_obs=150) -> 914 x 400
   ratings, mask_MCAR(0.1, seed=101), rank 10. At the reference's tol (0.01) the fit follows
   the same EM: same number of iterations, the same per-iteration change of W (printed by
   "verbose") and the same noise variance; the MAE of gc_impute is no worse than the
   reference's + 0.01 (the issue's target; the authors' notebook reports 0.583).
2. A synthetic mixed continuous/ordinal low-rank set with p = 60, 20% MCAR: mean SMAE no worse
   than the reference's + 0.01, the known correlation recovered at least as well as by the
   reference (+ 0.005), and observed entries kept.
"""
import os
import sys
import warnings

import numpy as np
import pytest

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

# The build leaves the PostgreSQL module gcimpute.so in the repository root, which
# "python -m pytest" puts on sys.path: keep it from shadowing the Python package.
_TOP = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
sys.path[:] = [d for d in sys.path if os.path.abspath(d or ".") != _TOP]

gcimpute = pytest.importorskip("gcimpute")
from gcimpute.helper_data import load_movielens1m  # noqa: E402
from gcimpute.helper_evaluation import get_mae, get_smae  # noqa: E402
from gcimpute.helper_mask import mask_MCAR  # noqa: E402
from gcimpute.low_rank_gaussian_copula import LowRankGaussianCopula  # noqa: E402

# helper_evaluation turns every warning into an error, process-wide
warnings.resetwarnings()


def to_pg(conn, table, Xm):
    conn.execute(f"DROP TABLE IF EXISTS {table}")
    conn.execute(f"CREATE TABLE {table} (id int PRIMARY KEY, r float8[])")
    with conn.cursor().copy(f"COPY {table} (id, r) FROM STDIN") as cp:
        for i, row in enumerate(Xm):
            cp.write_row((i, [None if np.isnan(v) else float(v) for v in row]))


def fit_impute(conn, table, Xm, options):
    """gc_fit with options, then gc_impute of every row: (imputed matrix, model info, NOTICEs)."""
    to_pg(conn, table, Xm)
    notices = []

    def handler(diag):
        notices.append(diag.message_primary)

    conn.add_notice_handler(handler)
    try:
        conn.execute(f"DROP TABLE IF EXISTS {table}_m")
        conn.execute(f"CREATE TABLE {table}_m AS SELECT gc_fit(r, %s::jsonb) AS m FROM {table}", (options,))
    finally:
        conn.remove_notice_handler(handler)
    info = conn.execute(f"SELECT gc_model_info(m) FROM {table}_m").fetchone()[0]
    rows = conn.execute(f"SELECT id, gc_impute(m, r) FROM {table}, {table}_m ORDER BY id").fetchall()
    Xi = np.array([[np.nan if v is None else v for v in r] for _, r in rows], dtype=float)
    return Xi, info, notices


def iteration_changes(notices):
    out = []
    for msg in notices:
        if "correlation change" in msg:
            out.append(float(msg.split("correlation change ")[1].split(",")[0]))
    return out


@pytest.fixture(scope="module")
def movielens():
    warnings.resetwarnings()
    X = load_movielens1m(num=400, min_obs=150)
    Xm = mask_MCAR(X, 0.1, seed=101)
    warnings.resetwarnings()
    model = LowRankGaussianCopula(rank=10)
    Xr = model.fit_transform(Xm)
    return X, Xm, Xr, model


def test_movielens_same_em_as_reference(conn, movielens):
    X, Xm, Xr, ref = movielens
    assert X.shape == (914, 400)
    Xi, info, notices = fit_impute(conn, "lr_ml", Xm, '{"rank": 10, "tol": 0.01, "verbose": true}')
    assert info["kind"] == "low_rank" and info["rank"] == 10 and info["converged"]
    # the same EM: iteration count, the change of W per iteration (4 printed decimals), σ
    assert info["iterations"] == ref.n_iter_
    ours = iteration_changes(notices)
    assert len(ours) == ref.n_iter_
    assert np.allclose(ours, ref.corrupdate, atol=2e-4), (ours, ref.corrupdate)
    assert abs(info["sigma"] - ref._sigma) < 1e-4, (info["sigma"], ref._sigma)
    # observed ratings unchanged, every masked rating imputed as a rating level
    obs = ~np.isnan(Xm)
    assert np.array_equal(Xi[obs], Xm[obs])
    assert not np.isnan(Xi).any()
    assert set(np.unique(Xi[~obs])) <= set(np.unique(X[~np.isnan(X)]))
    # accuracy: the target against the reference measured in the same run
    mae, mae_ref = get_mae(Xi, X, Xm), get_mae(Xr, X, Xm)
    print(f"MovieLens 914x400 rank 10: MAE extension {mae:.4f}, reference {mae_ref:.4f}")
    assert mae <= mae_ref + 0.01
    assert mae < 0.6  # median imputation is about 0.8 on this set


def test_movielens_default_tol(conn, movielens):
    X, Xm, Xr, _ = movielens
    Xi, info, _ = fit_impute(conn, "lr_ml2", Xm, '{"rank": 10}')
    assert info["converged"] and info["tol"] == 0.001
    assert get_mae(Xi, X, Xm) <= get_mae(Xr, X, Xm) + 0.01


def test_synthetic_mixed_low_rank(conn):
    rng = np.random.default_rng(20261122)
    n, p, k, sigma = 1500, 60, 4, 0.3
    W = rng.normal(size=(p, k))
    W *= np.sqrt((1 - sigma) / np.sum(W ** 2, axis=1))[:, None]
    Sig = W @ W.T + sigma * np.eye(p)
    Z = rng.normal(size=(n, k)) @ W.T + np.sqrt(sigma) * rng.normal(size=(n, p))
    X = np.empty_like(Z)
    X[:, :30] = np.exp(Z[:, :30])                       # continuous, skewed
    X[:, 30:] = np.digitize(Z[:, 30:], [-1.0, -0.3, 0.3, 1.0]) + 1  # ordinal, 5 levels
    Xm = mask_MCAR(X, 0.2, seed=101)
    warnings.resetwarnings()

    Xi, info, _ = fit_impute(conn, "lr_syn", Xm, '{"rank": 4}')
    ref = LowRankGaussianCopula(rank=4)
    Xr = ref.fit_transform(Xm)

    obs = ~np.isnan(Xm)
    assert np.array_equal(Xi[obs], Xm[obs])
    smae = np.mean(get_smae(Xi, X, Xm))
    smae_ref = np.mean(get_smae(Xr, X, Xm))
    print(f"synthetic 1500x60 rank 4: SMAE extension {smae:.4f}, reference {smae_ref:.4f}")
    assert smae <= smae_ref + 0.01
    assert smae < 0.8
    C = np.array(conn.execute("SELECT gc_correlation(m) FROM lr_syn_m").fetchone()[0])
    Cref = ref._W @ ref._W.T + ref._sigma * np.eye(p)
    err = np.linalg.norm(C - Sig) / np.linalg.norm(Sig)
    err_ref = np.linalg.norm(Cref - Sig) / np.linalg.norm(Sig)
    print(f"relative error of the correlation: extension {err:.4f}, reference {err_ref:.4f}")
    assert err <= err_ref + 0.005 and err < 0.08, (err, err_ref)
    assert abs(info["sigma"] - sigma) < 0.05
