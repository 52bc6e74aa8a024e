"""Statistical checks of the uncertainty functions on synthetic Gaussian-copula data.

- 95% analytical intervals (gc_impute_interval) cover the hidden true values of continuous
  columns with empirical coverage in [0.93, 0.97];
- the mean of many multiple imputations (gc_impute_multiple) approaches the single
  imputation when the marginals are Gaussian (then the marginal maps are nearly linear).
"""
import numpy as np


def make_data(n, p, seed, marginal):
    rng = np.random.default_rng(seed)
    W = rng.normal(size=(p, p))
    S = W @ W.T
    d = np.sqrt(np.diag(S))
    S = S / np.outer(d, d)
    Z = rng.multivariate_normal(np.zeros(p), S, size=n)
    X = marginal(Z)
    M = X.copy()
    M[rng.random(X.shape) < 0.2] = np.nan
    # keep at least one observed entry per row
    for i in np.where(np.isnan(M).all(axis=1))[0]:
        M[i, 0] = X[i, 0]
    return X, M


def load(conn, name, X, M):
    conn.execute(f"DROP TABLE IF EXISTS {name}")
    conn.execute(f"CREATE TABLE {name} (id int, truth float8[], masked float8[])")
    with conn.cursor().copy(f"COPY {name} FROM STDIN") as cp:
        for i in range(len(X)):
            cp.write_row((i, [float(v) for v in X[i]], [None if np.isnan(v) else float(v) for v in M[i]]))


def test_interval_coverage(conn):
    from scipy.stats import expon, norm
    X, M = make_data(3000, 8, 11, lambda Z: expon.ppf(norm.cdf(Z), scale=3))
    load(conn, "cov_data", X, M)
    conn.execute("DROP TABLE IF EXISTS cov_model")
    conn.execute("CREATE TABLE cov_model AS SELECT gc_fit(masked) AS m FROM cov_data")
    rows = conn.execute("""
        SELECT d.truth[iv.col], iv.lower, iv.upper
        FROM cov_data d, cov_model, gc_impute_interval(m, d.masked, 0.95) iv
        WHERE iv.imputed""").fetchall()
    t = np.array([r[0] for r in rows]); lo = np.array([r[1] for r in rows]); hi = np.array([r[2] for r in rows])
    coverage = np.mean((t >= lo) & (t <= hi))
    assert len(rows) > 3000
    assert 0.93 <= coverage <= 0.97, f"95% interval coverage {coverage:.4f}"
    # a lower level gives lower coverage
    rows50 = conn.execute("""
        SELECT d.truth[iv.col] BETWEEN iv.lower AND iv.upper
        FROM cov_data d, cov_model, gc_impute_interval(m, d.masked, 0.5) iv WHERE iv.imputed""").fetchall()
    c50 = np.mean([r[0] for r in rows50])
    # the analytical intervals over-cover slightly at every level (the reference too: 0.879
    # at 0.85 and 0.962 at 0.95 on its synthetic set); a 50% interval must still be far
    # narrower than a 95% one
    assert 0.45 <= c50 <= 0.62, f"50% interval coverage {c50:.4f}"


def test_multiple_imputation_mean_converges(conn):
    X, M = make_data(2000, 5, 12, lambda Z: 10 + 2 * Z)
    load(conn, "mi_data", X, M)
    conn.execute("DROP TABLE IF EXISTS mi_model")
    conn.execute("CREATE TABLE mi_model AS SELECT gc_fit(masked) AS m FROM mi_data")
    errs = []
    for m in (10, 100, 1000):
        r = conn.execute("""
            WITH single AS (SELECT id, gc_impute(m, masked) AS s FROM mi_data, mi_model WHERE id < 40),
                 draws AS (SELECT d.id, v FROM mi_data d, mi_model, gc_impute_multiple(m, d.masked, %s, 7) v WHERE d.id < 40),
                 avgd AS (SELECT id, j, avg(v[j]) AS a FROM draws, generate_series(1, 5) j GROUP BY id, j)
            SELECT avg(abs(a - s[j])) FROM avgd JOIN single USING (id)""", (m,)).fetchone()[0]
        errs.append(r)
    assert errs[2] < errs[0], f"mean of draws does not approach the single imputation: {errs}"
    assert errs[2] < 0.1, f"mean of 1000 draws is {errs[2]:.3f} from the single imputation"
