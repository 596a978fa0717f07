"""``--mcmc``: the Bayesian posterior of the log-parameters with emcee (optional extra ``exodiff[mcmc]``).

Prior: uniform in the log-parameters within the bounds.  Likelihood:
Gaussian residuals ``(model - data) / sd`` with the scale of the least-
squares fit (1 when every sd is given, else its estimate ``s^2``).  The
walkers start in a small ball around the least-squares optimum (drawn from
its covariance, shrunk 10x, kept inside the bounds); the log-posterior of a
step's walkers is evaluated in parallel through the executor.

Convergence, as emcee's authors advise: the integrated autocorrelation time
``tau`` of each parameter; the chain counts as converged when it is longer
than 50 ``tau``; burn-in ``2 tau_max`` and thinning ``tau_min / 2`` are read
from it.  The posterior predictive band re-runs ``draws`` samples.
"""

from __future__ import annotations

import numpy as np

from exodiff.errors import UserError
from exodiff.studies.fit.model import LogPosterior, evaluate_task

__all__ = ["EMCEE_MISSING", "sample"]

EMCEE_MISSING = ('--mcmc needs emcee, an optional extra: pip install "exodiff[mcmc]" '
                 '(from a source tree: pip install ".[mcmc]")')
#: a chain this many autocorrelation times long counts as converged
CONVERGED_TAUS = 50


class _OrderedPool:
    """emcee's ``pool``: ``map`` in order, through an executor's unordered map."""

    def __init__(self, executor):
        self.executor = executor

    def map(self, fn, items):
        items = list(items)
        out = [None] * len(items)
        for i, v in self.executor.map_unordered(_call, [(i, fn, it) for i, it in enumerate(items)]):
            out[i] = v
        return out


def _call(task):
    i, fn, item = task
    return i, fn(item)


def sample(definition, executor, best: dict, est: dict, walkers: int | None = None, steps: int = 2000,
           seed: int = 0, draws: int = 60, progress: bool = False) -> dict:
    """Run the ensemble sampler; return samples, convergence record and a posterior predictive band.

    ``progress``: a bar per step on a terminal (tqdm; a run of minutes printed nothing after the profiles).
    """
    try:
        import emcee
    except ImportError:
        raise UserError(EMCEE_MISSING) from None
    x0 = np.asarray(best["x"], float)
    p = x0.size
    nw = int(walkers or max(8, 4 * p))
    nw += nw % 2
    lo, hi = definition.log_low, definition.log_high
    rng = np.random.default_rng(seed)
    cov = est["cov"] if np.all(np.isfinite(est["cov"])) else np.diag(((hi - lo) / 100.0) ** 2)
    start = rng.multivariate_normal(x0, cov / 100.0, size=nw, method="eigh")
    margin = 1e-6 * (hi - lo)
    start = np.clip(start, lo + margin, hi - margin)
    s2 = est["s2"] if np.isfinite(est["s2"]) else 1.0
    sampler = emcee.EnsembleSampler(nw, p, LogPosterior(definition, s2), pool=_OrderedPool(executor))
    sampler.random_state = np.random.RandomState(seed).get_state()
    # disable=None: drawn on a terminal only, as the other bars (not into a log)
    sampler.run_mcmc(start, steps, progress=progress,
                     progress_kwargs={"desc": "mcmc", "unit": "step", "leave": False, "disable": None})
    chain = sampler.get_chain()
    tau = emcee.autocorr.integrated_time(chain, quiet=True)
    tau_max = float(np.max(tau))
    burn = int(min(steps // 2, np.ceil(2 * tau_max)))
    thin = max(1, int(np.min(tau) / 2))
    flat = sampler.get_chain(discard=burn, thin=thin, flat=True)
    record = {"walkers": nw, "steps": steps, "seed": seed, "autocorrelation_time": tau.tolist(),
              "acceptance_fraction": float(np.mean(sampler.acceptance_fraction)),
              "burn_in": burn, "thin": thin, "samples": int(flat.shape[0]),
              "converged": bool(steps > CONVERGED_TAUS * tau_max),
              "criterion": f"chain longer than {CONVERGED_TAUS} autocorrelation times"}
    pick = rng.choice(flat.shape[0], size=min(draws, flat.shape[0]), replace=False)
    res = executor.map_unordered(evaluate_task, [(k, definition, flat[i], True) for k, i in enumerate(pick)])
    curves = [r[2] for r in sorted(res, key=lambda r: r[0]) if r[2] is not None]
    band = []
    for k in range(len(definition.datasets)):
        stack = np.stack([c[k][1] for c in curves])
        band.append((curves[0][k][0], np.percentile(stack, 2.5, axis=0), np.percentile(stack, 97.5, axis=0)))
    return {"samples": flat, "record": record, "band": band}
