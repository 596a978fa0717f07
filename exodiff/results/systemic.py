"""The blood: a one- or two-compartment model driven by what leaves the skin (docs/model.md, 1.3).

The skin model books what reaches the circulation as the cumulative
amounts ``cleared`` (first-order vascular and lymphatic clearance in the
layers) and ``receptor`` (through the bottom of the skin into the deep
sink), per skin area.  Times the treated area, their sum ``A(t)`` is the
amount absorbed into the blood.  Between two output times the input rate
``R`` is rebuilt from what the run states there: the amount taken in over
the interval, ``A_{k+1} - A_k``, and (when given) the instantaneous rates
``f_k``, ``f_{k+1}`` at its ends (the run's ``flux_systemic`` times the
area).  The one quadratic with those three, in ``s = (t - t_k)/dt``,

    R(s) = f_k (1 - s) + f_{k+1} s + 6 (m - (f_k + f_{k+1})/2) s (1 - s),    m = (A_{k+1} - A_k)/dt,

is drawn towards the mean ``m`` just as far as keeps it non-negative
(``R_theta = m + theta (R - m)``, the largest ``theta <= 1``; the part
moved integrates to 0).  Either way the blood takes in exactly what left
the skin at every output.  Without the end rates (a stored result that
lacks them) ``R`` is the mean ``m`` (``theta = 0``).  The mean alone made
the plasma a lagged average when elimination is fast against the output
interval: 26 % of Cmax off at a 4-min half-life with 2-h outputs, 11 % at
30 min, where the quadratic is 4 % and 1.1 % off (docs/model.md, 1.3).

The linear model

    dA_c/dt = R - (CL + Q)/V_c A_c + Q/V_p A_p
    dA_p/dt = Q/V_c A_c - Q/V_p A_p
    dE/dt   = CL/V_c A_c                      (eliminated; E = CL AUC)

is then solved exactly over each interval in its modes: the 2 x 2 matrix of
``(A_c, A_p)`` has real, distinct, negative eigenvalues ``lambda_i`` (closed
form, :meth:`PKModel.modes`), and with input into the central compartment
``(A_c, A_p) = sum_i w_i y_i`` where each mode obeys ``dy_i/dt = lambda_i y_i
+ R``.  Over an interval ``dt`` with ``R = a_0 + a_1 s + a_2 s^2`` that is the
first-order recurrence ``y <- exp(z) y + dt (a_0 phi_1 + a_1 phi_2 + 2 a_2
phi_3)(z)``, ``z = lambda dt`` (``integral_0^dt e^(lambda (dt - tau)) tau^j
dtau = j! dt^(j+1) phi_(j+1)(z)``), solved for all outputs at once by a
prefix scan (vectorised, any spacing of the outputs), and ``E`` gains
``CL/V_c`` times the exact integral of ``A_c`` over the interval (one
``phi`` index higher).  ``Q = 0`` (no peripheral compartment) is the
one-compartment model, one mode.  The amounts ``A_c + A_p + E`` equal ``A``
at every output to round-off (the plasma model's mass balance, tested).
Everything here is plain arrays in SI (amounts in the dose unit, volumes
m^3, clearances m^3/s, times s).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

#: the compartments that reach the blood (docs/model.md, 1.3): first-order clearance in the layers and the
#: deep sink below the skin (in vivo); ``sampled`` exists only in vitro, where a systemic model is refused
SYSTEMIC_COMPARTMENTS = ("cleared", "receptor")


@dataclass(frozen=True)
class PKModel:
    """A compartment model of the blood, SI.

    Attributes
    ----------
    model : {"one_compartment", "two_compartment"}
    central_volume : float
        m^3 (the volume of distribution of one compartment).
    clearance : float
        m^3/s, from the central compartment.
    peripheral_volume : float
        m^3 (two compartments; 0 for one).
    intercompartmental_clearance : float
        m^3/s (two compartments; 0 for one).
    """

    model: str
    central_volume: float
    clearance: float
    peripheral_volume: float = 0.0
    intercompartmental_clearance: float = 0.0

    @classmethod
    def from_resolved(cls, spec: dict | None) -> "PKModel | None":
        """From a validated ``[systemic]`` table (``Scenario.resolved["systemic"]``), None without one."""
        if not spec:
            return None
        if spec["model"] == "one_compartment":
            return cls("one_compartment", float(spec["volume"]), float(spec["clearance"]))
        return cls("two_compartment", float(spec["central_volume"]), float(spec["clearance"]),
                   float(spec["peripheral_volume"]), float(spec["intercompartmental_clearance"]))

    def attrs(self) -> dict:
        """The model as result attributes (litres and hours), read back by :meth:`from_attrs`."""
        return {"systemic_model": self.model, "systemic_central_volume_L": self.central_volume * 1e3,
                "systemic_clearance_L_per_h": self.clearance * 3.6e6,
                "systemic_peripheral_volume_L": self.peripheral_volume * 1e3,
                "systemic_intercompartmental_clearance_L_per_h": self.intercompartmental_clearance * 3.6e6}

    @classmethod
    def from_attrs(cls, attrs) -> "PKModel | None":
        if "systemic_model" not in attrs:
            return None
        return cls(str(attrs["systemic_model"]), float(attrs["systemic_central_volume_L"]) / 1e3,
                   float(attrs["systemic_clearance_L_per_h"]) / 3.6e6,
                   float(attrs["systemic_peripheral_volume_L"]) / 1e3,
                   float(attrs["systemic_intercompartmental_clearance_L_per_h"]) / 3.6e6)

    def matrix(self) -> np.ndarray:
        """The 4 x 4 generator of ``(A_c, A_p, E, R)``, 1/s: the input rate ``R`` a constant fourth state.

        Not used by :func:`plasma` (which solves the model in its modes); kept
        as the plain statement of the model, e.g. for an independent check
        with a matrix exponential.
        """
        vc, cl = self.central_volume, self.clearance
        q = self.intercompartmental_clearance
        kp = q / self.peripheral_volume if q > 0.0 else 0.0
        m = np.zeros((4, 4))
        m[0, 0] = -(cl + q) / vc
        m[0, 1] = kp
        m[0, 3] = 1.0
        m[1, 0] = q / vc
        m[1, 1] = -kp
        m[2, 0] = cl / vc
        return m

    def modes(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The eigenvalues of the ``(A_c, A_p)`` system and the weights of each mode for an input into the centre.

        With ``k10 = CL/V_c``, ``k12 = Q/V_c``, ``k21 = Q/V_p`` the eigenvalues
        are the roots of ``s^2 + (k10 + k12 + k21) s + k10 k21``: real and
        distinct when ``Q > 0`` (discriminant ``(k10 + k12 - k21)^2 + 4 k12
        k21``), both negative.  The fast one is taken from the quadratic
        formula and the slow one from the product of the roots, and the
        weights from differences rewritten without cancellation, so every
        number has a relative error of a few round-offs, however far apart
        the rates are.

        Returns
        -------
        lam : float64[m]
            Eigenvalues, 1/s (m = 1 mode for one compartment, 2 for two).
        w_central, w_peripheral : float64[m]
            ``A_c = sum_i w_central[i] y_i``, ``A_p = sum_i w_peripheral[i] y_i``
            with ``dy_i/dt = lam_i y_i + R`` (the residues of the partial
            fractions; ``sum w_central = 1``, ``sum w_peripheral = 0``).
        """
        k10 = self.clearance / self.central_volume
        q = self.intercompartmental_clearance
        if q <= 0.0:
            return np.array([-k10]), np.array([1.0]), np.array([0.0])
        k12, k21 = q / self.central_volume, q / self.peripheral_volume
        d = k10 + k12 - k21
        r = np.sqrt(d * d + 4.0 * k12 * k21)  # > |d|: distinct roots
        l_fast = -(k10 + k12 + k21 + r) / 2.0
        l_slow = k10 * k21 / l_fast
        # -(k10 + k12) - lambda for each root: (r - d)/2 at the fast one, -(r + d)/2 at the slow one, each
        # written as 2 k12 k21 / (r +- d) where r and d nearly cancel
        c_fast = (r - d) / 2.0 if d <= 0.0 else 2.0 * k12 * k21 / (r + d)
        c_slow = -(r + d) / 2.0 if d >= 0.0 else -2.0 * k12 * k21 / (r - d)
        gap = l_fast - l_slow  # = -r
        # partial fractions of (s - M)^-1 e1: the residue at lambda_j is (M - lambda_other) e1 / (lambda_j - lambda_other)
        return (np.array([l_fast, l_slow]), np.array([c_slow / gap, -c_fast / gap]),
                np.array([k12 / gap, -k12 / gap]))


#: ``|z|`` below which :func:`_phis` sums the Taylor series (above: the recurrence, which then loses at most a
#: few round-offs per order)
PHI_SERIES_BELOW = 2.0
_FACTORIALS = np.array([float(math.factorial(n)) for n in range(40)])


def _phis(z: np.ndarray, kmax: int = 4) -> list[np.ndarray]:
    """``[phi_1(z), ..., phi_kmax(z)]`` to a few round-offs, ``z <= 0``.

    ``phi_0 = e^z``, ``phi_k(z) = (phi_(k-1)(z) - 1/(k-1)!) / z`` (``phi_1 =
    (e^z - 1)/z``, ``phi_2 = (e^z - 1 - z)/z^2``, ...; ``phi_k(0) = 1/k!``).
    The recurrence from ``expm1`` where ``|z| >= 2`` (each step divides by
    ``|z| >= 2`` a difference that cancels at most ~2x), the Taylor series
    ``sum_n z^n / (n + k)!`` below, where the differences would cancel: as
    many terms as the largest such ``|z|`` needs (the first left out below
    1e-17 of the sum; 10 at ``|z| = 0.07``, 26 at 2), every ``phi_k`` from one
    table of powers.
    """
    z = np.asarray(z, dtype=float)
    small = np.abs(z) < PHI_SERIES_BELOW
    zs = np.where(small, -PHI_SERIES_BELOW, z)  # no 0/0 where the series is used
    out = []
    prev = np.expm1(zs) / zs  # phi_1 from expm1: no cancellation in e^z - 1
    for k in range(1, kmax + 1):
        if k > 1:
            prev = (prev - 1.0 / math.factorial(k - 1)) / zs
        out.append(prev)
    if np.any(small):
        zmax = float(np.max(np.abs(z[small])))
        terms = 1
        while terms < 30 and zmax**terms / _FACTORIALS[terms] > 1e-17:
            terms += 1
        powers = np.ones((terms,) + z.shape)
        if terms > 1:
            powers[1:] = z
            np.cumprod(powers[1:], axis=0, out=powers[1:])
        coef = 1.0 / _FACTORIALS[np.arange(1, kmax + 1)[:, None] + np.arange(terms)[None, :]]  # 1/(n + k)!
        series = np.tensordot(coef, powers, axes=1)
        out = [np.where(small, series[k], out[k]) for k in range(kmax)]
    return out


def _linear_recurrence(a: np.ndarray, u: np.ndarray, y0: float) -> np.ndarray:
    """``y[0] = y0``, ``y[n + 1] = a[n] y[n] + u[n]``: all ``y`` by a prefix scan (Hillis-Steele).

    ``log2(n)`` vectorised passes composing the affine maps ``y -> a y + u``
    pairwise, no Python per element; with ``0 <= a <= 1`` products only
    shrink, so the scan is as stable as the sequential loop (the sums are
    only reassociated: round-off).
    """
    a = np.array(a, dtype=float)
    u = np.array(u, dtype=float)
    d = 1
    while d < a.size:
        u[d:] = a[d:] * u[:-d] + u[d:]
        a[d:] = a[d:] * a[:-d]
        d *= 2
    return np.concatenate(([y0], a * y0 + u))


@dataclass
class Plasma:
    """The blood over the output times, SI.

    Attributes
    ----------
    absorbed : float64[k]
        Amount that has entered the blood, dose unit (whole treated area).
    rate : float64[k]
        Mean input rate over the interval after each output (the last: 0), dose unit/s.
    central, peripheral, eliminated : float64[k]
        Amounts in the central and peripheral compartments and eliminated, dose unit.
    concentration : float64[k]
        ``central / V_c``, dose unit/m^3.
    auc : float64[k]
        ``integral_0^t concentration dt = eliminated / CL``, dose unit s/m^3.
    """

    absorbed: np.ndarray
    rate: np.ndarray
    central: np.ndarray
    peripheral: np.ndarray
    eliminated: np.ndarray
    concentration: np.ndarray
    auc: np.ndarray

    def balance_error(self) -> np.ndarray:
        """``(A_c + A_p + CL AUC - absorbed) / max(absorbed)`` at each output: round-off."""
        ref = max(float(np.max(np.abs(self.absorbed))), 1e-300)
        return (self.central + self.peripheral + self.eliminated - self.absorbed) / ref


def absorbed_per_area(fraction: np.ndarray, compartments: list, dose: float) -> np.ndarray:
    """What has reached the blood per skin area, in the unit of ``dose`` (per area): ``sum f_X dose`` over
    :data:`SYSTEMIC_COMPARTMENTS`, from ``fraction`` (time, compartment)."""
    idx = [compartments.index(c) for c in SYSTEMIC_COMPARTMENTS if c in compartments]
    return fraction[:, idx].sum(axis=1) * dose


def input_shape(dt: np.ndarray, mean: np.ndarray, rate_at: np.ndarray | None) -> np.ndarray:
    """The input rate over each interval as ``a_0 + a_1 s + a_2 s^2``, ``s = (t - t_k)/dt`` (module docstring).

    Parameters
    ----------
    dt : float64[k - 1]
        Interval lengths, s.
    mean : float64[k - 1]
        Mean rate over each interval (what it took in / ``dt``), dose unit/s.
    rate_at : float64[k] or None
        Instantaneous rate at each output, dose unit/s (negative values,
        round-off of a rate that is 0, count as 0), continuous there (one
        value serves the intervals on both sides: a rate that jumps at an
        output is taken as its value on both sides); None: the mean alone,
        and so for an interval with an end rate that is not finite.

    Returns
    -------
    float64[3, k - 1]
        ``(a_0, a_1, a_2)``, dose unit/s; ``a_0 + a_1/2 + a_2/3 = mean`` (to
        round-off) and the rate is non-negative over the interval wherever the
        mean is.
    """
    a = np.zeros((3, mean.size))
    a[0] = mean
    if rate_at is None:
        return a
    rate_at = np.asarray(rate_at, dtype=float)
    known = np.isfinite(rate_at)
    known = known[:-1] & known[1:]  # an interval with an end rate not finite keeps its mean
    f0 = np.where(known, np.maximum(rate_at[:-1], 0.0), 0.0)
    f1 = np.where(known, np.maximum(rate_at[1:], 0.0), 0.0)
    c = 6.0 * (mean - 0.5 * (f0 + f1))
    b1, b2 = f1 - f0 + c, -c  # the quadratic f0 + b1 s + b2 s^2
    # its least value on [0, 1]: an end, or the vertex of a convex one inside
    low = np.minimum(f0, f1)
    with np.errstate(divide="ignore", invalid="ignore"):
        sv = np.where(b2 > 0.0, -b1 / (2.0 * b2), -1.0)
    inside = (sv > 0.0) & (sv < 1.0)
    low = np.where(inside, np.minimum(low, f0 + sv * (b1 + b2 * sv)), low)
    # R_theta = m + theta (R - m) >= 0 needs theta <= m / (m - low) where low < 0; a mean <= 0 keeps the mean
    with np.errstate(divide="ignore", invalid="ignore"):
        theta = np.where(low >= 0.0, 1.0, mean / (mean - low))
    theta = np.where((mean > 0.0) & known, np.clip(theta, 0.0, 1.0), 0.0)
    a[0] = mean + theta * (f0 - mean)
    a[1] = theta * b1
    a[2] = theta * b2
    return a


def plasma(times: np.ndarray, absorbed: np.ndarray, pk: PKModel, rate_at: np.ndarray | None = None) -> Plasma:
    """Integrate the blood exactly over each output interval for the input rebuilt there (module docstring).

    Parameters
    ----------
    times : float64[k]
        Output times, s, increasing, from 0.
    absorbed : float64[k]
        Cumulative amount into the blood, dose unit (0 at the start).
    pk : PKModel
    rate_at : float64[k], optional
        Instantaneous input rate at each output, dose unit/s (a run's
        ``flux_systemic`` times the area: clearance in the layers plus the
        bottom face's flux, both set by the tissue's state, which no event
        changes at once, so continuous at every output).  Without it the rate
        is constant over each interval (its mean).

    Returns
    -------
    Plasma
    """
    times = np.asarray(times, dtype=float)
    absorbed = np.asarray(absorbed, dtype=float)
    k = times.size
    dt = np.diff(times)
    rate = np.zeros(k)
    np.divide(np.diff(absorbed), dt, out=rate[:-1], where=dt > 0)
    a0, a1, a2 = input_shape(dt, rate[:-1], rate_at)
    lam, w_c, w_p = pk.modes()
    central = np.zeros(k)
    peripheral = np.zeros(k)
    intake = np.zeros(k - 1)  # integral of A_c over each interval, dose unit s
    for li, wc, wp in zip(lam, w_c, w_p):  # one or two modes
        z = li * dt
        p1, p2, p3, p4 = _phis(z, 4)
        # anything there at 0 starts in the central compartment: every mode starts at absorbed[0]
        y = _linear_recurrence(np.exp(z), dt * (a0 * p1 + a1 * p2 + 2.0 * a2 * p3), absorbed[0])
        central += wc * y
        peripheral += wp * y
        intake += wc * dt * (y[:-1] * p1 + dt * (a0 * p2 + a1 * p3 + 2.0 * a2 * p4))
    eliminated = np.concatenate(([0.0], np.cumsum(pk.clearance / pk.central_volume * intake)))
    return Plasma(absorbed=absorbed, rate=rate, central=central, peripheral=peripheral, eliminated=eliminated,
                  concentration=central / pk.central_volume, auc=eliminated / pk.clearance)


def plasma_metrics(t_h: np.ndarray, pl: Plasma) -> dict:
    """The summary's plasma metrics.

    ``plasma_cmax`` (dose unit/L), ``plasma_tmax_h``, ``plasma_auc`` (dose
    unit h/L, to the end), ``absorbed_amount`` (dose unit).  Cmax and tmax
    are over the output times (the first on a tie; NaN time when nothing
    arrives).
    """
    c_l = pl.concentration * 1e-3
    j = int(np.argmax(c_l))
    reached = bool(c_l[j] > 0)
    return {"plasma_cmax": float(c_l[j]) if reached else 0.0,
            "plasma_tmax_h": float(t_h[j]) if reached else float("nan"),
            "plasma_auc": float(pl.auc[-1]) * 1e-3 / 3600.0,
            "absorbed_amount": float(pl.absorbed[-1])}

