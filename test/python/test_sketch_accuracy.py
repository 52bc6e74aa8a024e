"""Statistical acceptance tests of gc_hll and gc_cms (issue 4, "How it is checked").

* HLL: relative error within 3 * 1.04 / sqrt(m) on >= 99 % of trials for cardinalities
  from 0 to 10 m, with extra points around the sparse -> dense switch (3 m / 16 entries);
  the union of sketches equals the sketch of the union.
* CMS: never underestimates, and overestimates by at most eps * N on >= (1 - delta) of the
  keys of a Zipf stream; unions are exact sums; the heavy hitters are found.

Deterministic: values come from seeded numpy generators or from generate_series offsets.
"""
import numpy as np
import pytest


def _hll_trials(conn, log2m, ns, trials, salt):
    """Estimates of `trials` independent sketches of n distinct values for each n."""
    out = []
    with conn.cursor() as cur:
        for n in ns:
            cur.execute(
                """
                SELECT t, gc_hll_count(gc_hll_agg(t * 1000000007::bigint + %s * 10000000000::bigint + g, %s))
                FROM generate_series(1, %s) t, generate_series(1, %s) g
                GROUP BY t
                """,
                (salt, log2m, trials, n),
            )
            ests = [r[1] for r in cur.fetchall()]
            if n == 0:
                ests = [0] * trials  # no rows: no groups, nothing to estimate
            out.extend((n, e) for e in ests)
    return out


@pytest.mark.parametrize("log2m,trials,steps", [(8, 40, 40), (10, 12, 30), (12, 3, 20)])
def test_hll_error_bound_across_range(conn, log2m, trials, steps):
    m = 2 ** log2m
    bound = 3 * 1.04 / np.sqrt(m)
    limit = 3 * m // 16
    ns = sorted(set([int(round(x)) for x in np.linspace(0, 10 * m, steps + 1)] +
                    [limit - 2, limit, limit + 1, limit + 3, 2 * limit, int(2.5 * m)]))
    res = _hll_trials(conn, log2m, ns, trials, salt=log2m)
    within = [abs(e - n) <= bound * max(n, 1) if n else e == 0 for n, e in res]
    frac = np.mean(within)
    worst = max(abs(e - n) / n for n, e in res if n)
    print(f"log2m={log2m}: {len(res)} trials, {frac:.4f} within {bound:.4f}, worst {worst:.4f}")
    assert frac >= 0.99, f"only {frac:.4f} of trials within 3*1.04/sqrt(m)"


def test_hll_small_cardinalities_exact(conn):
    # the sparse form works at precision 25: tiny sets come back exact
    with conn.cursor() as cur:
        cur.execute(
            "SELECT n, gc_hll_count(gc_hll_agg(g * 7919)) FROM generate_series(0, 300) n, "
            "generate_series(1, n) g GROUP BY n"
        )
        rows = cur.fetchall()
    assert all(est == n for n, est in rows), [r for r in rows if r[0] != r[1]][:5]


@pytest.mark.parametrize("n", [50, 700, 900, 5000, 200000])
def test_hll_union_equals_sketch_of_union(conn, n):
    rng = np.random.default_rng(n)
    vals = rng.integers(-2**62, 2**62, size=n)
    part = rng.integers(0, 4, size=n)
    with conn.cursor() as cur:
        cur.execute("CREATE TEMP TABLE hu (p int, v bigint)")
        with cur.copy("COPY hu (p, v) FROM STDIN") as cp:
            for p, v in zip(part.tolist(), vals.tolist()):
                cp.write_row((p, v))
        cur.execute(
            """
            SELECT (SELECT gc_hll_union_agg(h)::text FROM (SELECT gc_hll_agg(v) h FROM hu GROUP BY p) s),
                   (SELECT gc_hll_agg(v)::text FROM hu),
                   (SELECT gc_hll_union(gc_hll_union(a, b), gc_hll_union(c, d))::text FROM
                      (SELECT gc_hll_agg(v) FILTER (WHERE p = 0) a, gc_hll_agg(v) FILTER (WHERE p = 1) b,
                              gc_hll_agg(v) FILTER (WHERE p = 2) c, gc_hll_agg(v) FILTER (WHERE p = 3) d
                       FROM hu) s),
                   (SELECT gc_hll_count(gc_hll_agg(v)) FROM hu)
            """
        )
        agg_union, direct, fn_union, est = cur.fetchone()
        cur.execute("DROP TABLE hu")
    assert agg_union == direct
    assert fn_union == direct
    assert abs(est - n) <= 3 * 1.04 / 64 * n


def _load_keys(conn, name, keys):
    with conn.cursor() as cur:
        cur.execute(f"CREATE TEMP TABLE {name} (i int, k bigint)")
        with cur.copy(f"COPY {name} (i, k) FROM STDIN") as cp:
            for i, k in enumerate(keys.tolist()):
                cp.write_row((i, k))
        cur.execute(f"ANALYZE {name}")


# (0.1, 1e-6): a narrow, deep sketch (28 x 14) where correlated row hashes would show
@pytest.mark.parametrize("eps,delta,a", [(0.001, 0.01, 1.2), (0.005, 0.05, 1.5), (0.01, 0.001, 1.1), (0.1, 1e-6, 1.3)])
def test_cms_guarantee_on_zipf(conn, eps, delta, a):
    rng = np.random.default_rng(int(a * 1000))
    keys = rng.zipf(a, size=200000) % 1000003
    n_total = len(keys)
    _load_keys(conn, "cz", keys)
    with conn.cursor() as cur:
        cur.execute(
            """
            WITH s AS MATERIALIZED (SELECT gc_cms_agg(k, %s, %s) AS s FROM cz),
                 t AS (SELECT k, count(*) AS n FROM cz GROUP BY k)
            SELECT count(*), sum((gc_cms_count(s, k) < n)::int),
                   sum((gc_cms_count(s, k) - n > %s * %s)::int),
                   max(gc_cms_count(s, k) - n)
            FROM t, s
            """,
            (eps, delta, eps, n_total),
        )
        keys_n, under, over, worst = cur.fetchone()
        cur.execute("DROP TABLE cz")
    print(f"eps={eps} delta={delta}: {keys_n} keys, {over} over eps*N, worst excess {worst}")
    assert under == 0
    assert over <= delta * keys_n


def test_cms_union_is_exact_sum_and_topk(conn):
    rng = np.random.default_rng(7)
    keys = rng.zipf(1.3, size=100000)
    _load_keys(conn, "cu", keys)
    with conn.cursor() as cur:
        cur.execute(
            """
            WITH parts AS (SELECT i % 5 AS p, gc_cms_agg(k, 0.001, 0.01, 20) AS s FROM cu GROUP BY 1),
                 u AS MATERIALIZED (SELECT gc_cms_union_agg(s) AS s FROM parts),
                 d AS MATERIALIZED (SELECT gc_cms_agg(k, 0.001, 0.01, 20) AS s FROM cu)
            SELECT bool_and(gc_cms_count(u.s, t.k) = gc_cms_count(d.s, t.k)),
                   (SELECT (gc_cms_info(s) ->> 'total')::bigint FROM u)
            FROM u, d, (SELECT DISTINCT k FROM cu) t
            """
        )
        same, total = cur.fetchone()
        assert same and total == 100000
        cur.execute(
            "SELECT value::bigint, frequency FROM gc_cms_topk("
            "(SELECT gc_cms_union_agg(s) FROM (SELECT gc_cms_agg(k, 0.001, 0.01, 20) s FROM cu GROUP BY i % 5) p), 10)"
        )
        top = cur.fetchall()
        cur.execute("SELECT k, count(*) FROM cu GROUP BY k ORDER BY 2 DESC, 1 LIMIT 10")
        exact = cur.fetchall()
        cur.execute("DROP TABLE cu")
    assert [k for k, _ in top] == [k for k, _ in exact]
    for (k, f), (_, n) in zip(top, exact):
        assert n <= f <= n + 0.001 * 100000
