#!/usr/bin/env python3
"""Temporal copula benchmark: imputation accuracy on real multichannel time series, and the
fit's speed against gc_fit on the same rows widened by their lags.

Data (real recordings shipped inside packages; nothing simulated):
  daphnet   9-channel accelerometer (ankle, thigh, trunk; 3 axes each) at 64 Hz, 7040 rows,
            one recording (aeon: Daphnet_S06R02E0)
  motions   BasicMotions: accelerometer + gyroscope (6 channels) at 10 Hz, 80 recordings of
            100 rows each, one entity per recording (aeon)
  uschange  quarterly changes of US consumption, income, production, savings, unemployment
            1970-2016 (aeon: Uschange) -- little time structure
  macro     quarterly US macro data 1959-2009 as changes (log-differences of the levels;
            differences of rates) (statsmodels: macrodata) -- little time structure

Masks, made here with a seeded RNG:
  mcar      15% of the cells missing at random
  block     dropouts of a sensor (a group of channels) over a run of rows (daphnet: 0.5-2 s,
            motions: 0.5-2 s, quarterly: 2-8 quarters) covering about 10% of the cells, plus
            5% of the cells at random

Methods: LOCF (last observation carried forward, the first observation backwards at the
start), linear interpolation (per entity and channel), the plain copula (gc_fit/gc_impute),
the temporal copula (gc_fit_series, lags chosen by BIC) with gc_impute_series in causal and
smooth mode. Score: SMAE per column (mean absolute error over the masked cells divided by
that of the observed median), averaged over columns, then over masking seeds.

Usage (under flock, the machine is shared):
  flock /tmp/gc-bench.lock .venv/bin/python test/bench/bench_temporal.py [--seeds 3]
      [--dsn DSN] [--port 55420] [--figure docs/figures/temporal.png] [--speed-rows 100000]
"""
import argparse
import csv
import importlib.util
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(__file__))
import benchlib  # noqa: E402


# ---------------------------------------------------------------- data

def _aeon_dir():
    spec = importlib.util.find_spec("aeon")
    if spec is None:
        sys.exit("bench_temporal: the aeon package (data files only) is missing; run test/setup.sh")
    return os.path.join(os.path.dirname(spec.origin), "datasets", "data")


def load_daphnet():
    path = os.path.join(_aeon_dir(), "Daphnet_S06R02E0", "S06R02E0.csv")
    with open(path) as f:
        rows = list(csv.reader(f))
    X = np.array([[float(v) for v in r[1:10]] for r in rows[1:]])
    groups = [[0, 1, 2], [3, 4, 5], [6, 7, 8]]
    return dict(name="daphnet", entities=[X], step=1 / 64, groups=groups,
                block=(32, 128), time=True)


def _read_ts(path):
    cases = []
    with open(path) as f:
        data = False
        for line in f:
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            if line.lower() == "@data":
                data = True
                continue
            if not data:
                continue
            dims = line.split(":")[:-1]     # the last field is the class label
            cases.append(np.array([[float(v) for v in d.split(",")] for d in dims]).T)
    return cases


def load_motions():
    d = os.path.join(_aeon_dir(), "BasicMotions")
    cases = _read_ts(os.path.join(d, "BasicMotions_TRAIN.ts")) + \
        _read_ts(os.path.join(d, "BasicMotions_TEST.ts"))
    return dict(name="motions", entities=cases, step=0.1, groups=[[0, 1, 2], [3, 4, 5]],
                block=(5, 20), time=True)


def load_uschange():
    with open(os.path.join(_aeon_dir(), "Uschange", "Uschange.csv")) as f:
        rows = list(csv.reader(f))
    X = np.array([[float(v) for v in r[2:]] for r in rows[1:]])
    return dict(name="uschange", entities=[X], step=1.0, groups=[[j] for j in range(X.shape[1])],
                block=(2, 8), time=False)


def load_macro():
    import statsmodels.api as sm
    df = sm.datasets.macrodata.load_pandas().data
    logs = ["realgdp", "realcons", "realinv", "realgovt", "realdpi", "cpi", "m1", "pop"]
    rates = ["tbilrate", "unemp", "infl", "realint"]
    cols = [np.diff(np.log(df[c].to_numpy())) * 100 for c in logs] + \
        [np.diff(df[c].to_numpy()) for c in rates]
    X = np.column_stack(cols)
    return dict(name="macro", entities=[X], step=1.0, groups=[[j] for j in range(X.shape[1])],
                block=(2, 8), time=False)


# ---------------------------------------------------------------- masks

def mask_mcar(ds, rng, frac=0.15):
    return [rng.random(X.shape) < frac for X in ds["entities"]]


def mask_block(ds, rng, frac=0.10, extra=0.05):
    masks = []
    lo, hi = ds["block"]
    for X in ds["entities"]:
        n, p = X.shape
        M = rng.random(X.shape) < extra
        target = frac * n * p
        covered = 0
        while covered < target:
            g = ds["groups"][rng.integers(len(ds["groups"]))]
            length = int(rng.integers(lo, hi + 1))
            length = min(length, max(1, n // 2))
            s = int(rng.integers(0, max(1, n - length)))
            M[s:s + length, g] = True
            covered += length * len(g)
        masks.append(M)
    return masks


def apply_mask(ds, masks):
    out = []
    for X, M in zip(ds["entities"], masks):
        Y = X.copy()
        Y[M] = np.nan
        # every row keeps one observed cell at least, and every column some observations
        out.append(Y)
    return out


# ---------------------------------------------------------------- baselines

def locf(Y):
    Z = Y.copy()
    for j in range(Z.shape[1]):
        col = Z[:, j]
        obs = np.where(~np.isnan(col))[0]
        if len(obs) == 0:
            continue
        idx = np.maximum.accumulate(np.where(~np.isnan(col), np.arange(len(col)), -1))
        first = obs[0]
        idx[idx < 0] = first
        Z[:, j] = col[idx]
    return Z


def interp(Y):
    Z = Y.copy()
    t = np.arange(Y.shape[0])
    for j in range(Y.shape[1]):
        obs = ~np.isnan(Y[:, j])
        if obs.sum() == 0:
            continue
        Z[:, j] = np.interp(t, t[obs], Y[obs, j])
    return Z


def smae(truths, obs, imps):
    """SMAE per column over the masked cells, pooled over entities, averaged over columns."""
    T = np.vstack(truths)
    O = np.vstack(obs)
    I = np.vstack(imps)
    vals = []
    for j in range(T.shape[1]):
        m = np.isnan(O[:, j])
        if m.sum() == 0:
            continue
        med = np.nanmedian(O[:, j])
        den = np.abs(med - T[m, j]).sum()
        if den > 0:
            vals.append(np.abs(I[m, j] - T[m, j]).sum() / den)
    return float(np.mean(vals))


# ---------------------------------------------------------------- the extension

def load_table(conn, ds, Ys):
    with conn.cursor() as cur:
        cur.execute("DROP TABLE IF EXISTS bt")
        cur.execute("CREATE TABLE bt (ent text, i int, t float8, r float8[])")
        with cur.copy("COPY bt (ent, i, t, r) FROM STDIN") as cp:
            for e, Y in enumerate(Ys):
                for i, row in enumerate(Y):
                    cp.write_row((f"e{e}", i, i * ds["step"],
                                  [None if np.isnan(v) else float(v) for v in row]))
        cur.execute("ANALYZE bt")


def fetch_imputed(conn, sql, Ys):
    out = [np.full(Y.shape, np.nan) for Y in Ys]
    with conn.cursor() as cur:
        cur.execute(sql)
        for ent, i, r in cur.fetchall():
            out[int(ent[1:])][i] = r
    return out


def run_extension(conn, ds, Ys, timings, fit_options="{}", impute_options=None):
    load_table(conn, ds, Ys)
    with conn.cursor() as cur:
        t0 = time.perf_counter()
        cur.execute("DROP TABLE IF EXISTS bm; CREATE TABLE bm AS SELECT gc_fit(r) AS plain FROM bt")
        t1 = time.perf_counter()
        cur.execute("ALTER TABLE bm ADD COLUMN temporal gcmodel")
        cur.execute("UPDATE bm SET temporal = (SELECT gc_fit_series(ent, t, r, %s ORDER BY t) FROM bt)",
                    (fit_options,))
        t2 = time.perf_counter()
        cur.execute("SELECT (gc_model_info(temporal)->>'lags')::int FROM bm")
        lags = cur.fetchone()[0]
    timings.append((t1 - t0, t2 - t1))
    res = {}
    res["plain"] = fetch_imputed(conn, "SELECT ent, i, gc_impute(plain, r) FROM bt, bm", Ys)
    for mode in ("causal", "smooth"):
        extra = f", {impute_options}" if impute_options else ""
        res[mode] = fetch_imputed(
            conn, "SELECT ent, i, gc_impute_series(temporal, t, r, "
                  f"'{{\"mode\": \"{mode}\"{extra}}}') OVER (PARTITION BY ent ORDER BY t) "
                  "FROM bt, bm", Ys)
    return res, lags


# ---------------------------------------------------------------- speed

def speed(conn, n, p=10, runs=2):
    """gc_fit_series with 2 lags against gc_fit on the rows widened by their two lags."""
    with conn.cursor() as cur:
        cur.execute("DROP TABLE IF EXISTS sp")
        # ten channels of an AR(1) latent with a shared factor, 10% of the cells missing
        rng = np.random.default_rng(3)
        Z = np.zeros((n, p))
        f = 0.0
        z = np.zeros(p)
        for i in range(n):
            f = 0.9 * f + np.sqrt(1 - 0.81) * rng.standard_normal()
            z = 0.8 * z + 0.6 * (0.6 * f + 0.8 * rng.standard_normal(p))
            Z[i] = z
        Z[rng.random(Z.shape) < 0.1] = np.nan
        cur.execute("CREATE TABLE sp (t float8, r float8[], w float8[])")
        with cur.copy("COPY sp (t, r, w) FROM STDIN") as cp:
            for i in range(n):
                row = [None if np.isnan(v) else float(v) for v in Z[i]]
                wide = list(row)
                for k in (1, 2):
                    wide += [None if i < k or np.isnan(v) else float(v) for v in Z[i - k]] \
                        if i >= k else [None] * p
                cp.write_row((float(i), row, wide))
        cur.execute("ANALYZE sp")
    t_series, _ = benchlib.best_time(
        conn, "SELECT gc_fit_series('a', t, r, '{\"lags\": 2}' ORDER BY t) IS NOT NULL FROM sp", runs)
    t_wide, _ = benchlib.best_time(conn, "SELECT gc_fit(w) IS NOT NULL FROM sp", runs)
    t_auto, _ = benchlib.best_time(
        conn, "SELECT gc_fit_series('a', t, r, '{}' ORDER BY t) IS NOT NULL FROM sp", runs)
    lags = benchlib.scalar(
        conn, "SELECT gc_model_info(gc_fit_series('a', t, r, '{}' ORDER BY t)) ->> 'lags' FROM sp")
    return t_series, t_wide, t_auto, lags


# ---------------------------------------------------------------- figure

def figure(path, ds, Y, truth, res, ch, start, length):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    s = slice(start, start + length)
    t = np.arange(start, start + length) * ds["step"]
    miss = np.isnan(Y[s, ch])
    fig, ax = plt.subplots(figsize=(10, 4))
    ax.plot(t, truth[s, ch], color="black", lw=1.5, label="truth")
    ax.plot(t[~miss], Y[s, ch][~miss], ".", color="black", ms=3, label="observed")
    styles = {"LOCF": ("tab:gray", ":"), "linear interpolation": ("tab:olive", "--"),
              "plain copula": ("tab:red", "-"), "temporal causal": ("tab:blue", "-"),
              "temporal smooth": ("tab:green", "-")}
    for name, imp in res.items():
        col, ls = styles[name]
        v = np.where(miss, imp[s, ch], np.nan)
        ax.plot(t, v, ls, color=col, lw=1.2, label=name)
    for k in np.where(miss)[0]:
        ax.axvspan(t[k] - ds["step"] / 2, t[k] + ds["step"] / 2, color="0.92", lw=0)
    ax.set_xlabel("seconds")
    ax.set_ylabel(f"channel {ch + 1}")
    ax.set_title(f"{ds['name']}: a sensor dropout (grey), truth and each method's imputation")
    ax.legend(ncol=3, fontsize=8)
    fig.tight_layout()
    os.makedirs(os.path.dirname(path), exist_ok=True)
    fig.savefig(path, dpi=110)
    print(f"figure: {path}")


# ---------------------------------------------------------------- main

METHODS = ["LOCF", "linear interpolation", "plain copula", "temporal causal", "temporal smooth"]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--dsn")
    ap.add_argument("--port", type=int, default=int(os.environ.get("GC_REGRESS_PORT", 55420)) + 7)
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--datasets", default="daphnet,motions,uschange,macro")
    ap.add_argument("--figure", default=os.path.join(benchlib.TOP, "docs", "figures", "temporal.png"))
    ap.add_argument("--speed-rows", type=int, default=100000)
    ap.add_argument("--fit-options", default="{}", help="gc_fit_series options (jsonb)")
    ap.add_argument("--impute-options", default=None,
                    help='extra gc_impute_series options, e.g. \'"span": 4\'')
    args = ap.parse_args()
    loaders = dict(daphnet=load_daphnet, motions=load_motions, uschange=load_uschange, macro=load_macro)
    tmp = os.path.join(os.environ.get("GC_TEST_TMP", "/tmp/gcimpute-bench"), "bench-temporal")
    conf = ("maintenance_work_mem = '2GB'", "work_mem = '256MB'", "max_parallel_workers_per_gather = 0")
    with benchlib.Cluster(args.dsn, args.port, tmp, conf) as dsn:
        conn = benchlib.connect(dsn)
        conn.execute("CREATE EXTENSION IF NOT EXISTS gcimpute")
        print("settings: maintenance_work_mem 2GB, work_mem 256MB, no parallel workers; "
              "SMAE averaged over columns; mean over seeds", flush=True)
        summary = []
        for name in args.datasets.split(","):
            ds = loaders[name]()
            for mname, maker in (("mcar", mask_mcar), ("block", mask_block)):
                scores = {m: [] for m in METHODS}
                lags, timings = [], []
                for seed in range(args.seeds):
                    rng = np.random.default_rng(1000 * seed + 7)
                    masks = maker(ds, rng)
                    Ys = apply_mask(ds, masks)
                    res, k = run_extension(conn, ds, Ys, timings, args.fit_options,
                                           args.impute_options)
                    lags.append(k)
                    imps = {"LOCF": [locf(Y) for Y in Ys],
                            "linear interpolation": [interp(Y) for Y in Ys],
                            "plain copula": res["plain"], "temporal causal": res["causal"],
                            "temporal smooth": res["smooth"]}
                    for m in METHODS:
                        scores[m].append(smae(ds["entities"], Ys, imps[m]))
                    if name == "daphnet" and mname == "block" and seed == 0 and args.figure:
                        M = masks[0]
                        # the longest dropout of channel 1 in the first half, with context
                        runs = np.diff(np.concatenate([[0], M[:, 0].astype(int), [0]]))
                        starts, ends = np.where(runs == 1)[0], np.where(runs == -1)[0]
                        k0 = int(np.argmax(ends - starts))
                        figure(args.figure, ds, Ys[0], ds["entities"][0],
                               {m: imps[m][0] for m in METHODS}, 0,
                               max(0, starts[k0] - 60), (ends[k0] - starts[k0]) + 120)
                mean = {m: float(np.mean(scores[m])) for m in METHODS}
                summary.append((name, mname, mean, lags, ds["time"]))
                per_seed = " ".join(f"{m.split()[-1][:6]}=[" + ",".join(f"{x:.3f}" for x in scores[m]) + "]"
                                    for m in METHODS)
                print(f"{name:9s} {mname:5s} lags={lags} fit s plain/temporal="
                      f"{np.mean([a for a, _ in timings]):.2f}/{np.mean([b for _, b in timings]):.2f} "
                      f"{per_seed}", flush=True)
        print()
        print("| data | gaps | " + " | ".join(METHODS) + " | causal target | smooth target |")
        print("|---|---|" + "---|" * (len(METHODS) + 2))
        ok_all = True
        for name, mname, mean, lags, has_time in summary:
            c, s = mean["temporal causal"], mean["temporal smooth"]
            if has_time:
                tc = min(0.90 * mean["LOCF"], 0.95 * mean["plain copula"])
                ts = min(0.95 * mean["linear interpolation"], 0.95 * mean["plain copula"])
                okc, oks = c <= tc, s <= ts
                ct, st_ = f"≤ {tc:.3f} {'met' if okc else 'MISSED'}", f"≤ {ts:.3f} {'met' if oks else 'MISSED'}"
            else:
                tc = mean["plain copula"] + 0.01
                okc, oks = c <= tc, s <= tc
                ct, st_ = f"≤ {tc:.3f} {'met' if okc else 'MISSED'}", f"≤ {tc:.3f} {'met' if oks else 'MISSED'}"
            ok_all &= okc and oks
            print(f"| {name} | {mname} | " + " | ".join(f"{mean[m]:.3f}" for m in METHODS) +
                  f" | {ct} | {st_} |")
        print(f"\naccuracy targets: {'all met' if ok_all else 'NOT all met'}")
        if args.speed_rows > 0:
            ts, tw, ta, lags = speed(conn, args.speed_rows)
            print(f"\nspeed ({args.speed_rows} rows x 10 channels, backend CPU s, best of 2): "
                  f"gc_fit_series lags 2 {ts:.2f} s, gc_fit on 30 widened columns {tw:.2f} s, "
                  f"ratio {ts / tw:.2f} (target <= 3); default lag choice {ta:.2f} s "
                  f"({lags} lags chosen, {ta / tw:.2f} x gc_fit on 30 columns)")
        conn.close()


if __name__ == "__main__":
    main()
