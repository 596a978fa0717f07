"""The blood: a one- or two-compartment model driven by what leaves the skin (docs/model.md, 1.3).

The skin model books what reaches the circulation as the cumulative
amounts ``cleared`` (first-order vascular and lymphatic clearance in the
layers) and ``receptor`` (through the bottom of the skin into the deep
sink), per skin area.  Times the treated area, their sum ``A(t)`` is the
amount absorbed into the blood.  Between two output times the input rate
is taken as constant, ``R_k = (A_{k+1} - A_k) / (t_{k+1} - t_k)``, the mean
rate there, so the blood takes in exactly what left the skin at every
output.  The linear model

    dA_c/dt = R - (CL + Q)/V_c A_c + Q/V_p A_p
    dA_p/dt = Q/V_c A_c - Q/V_p A_p
    dE/dt   = CL/V_c A_c                      (eliminated; E = CL AUC)

is then solved exactly over each interval in its modes: the 2 x 2 matrix of
``(A_c, A_p)`` has real, distinct, negative eigenvalues ``lambda_i`` (closed
form, :meth:`PKModel.modes`), and with input into the central compartment
``(A_c, A_p) = sum_i w_i y_i`` where each mode obeys ``dy_i/dt = lambda_i y_i
+ R``.  Over an interval ``dt`` with constant ``R`` that is the first-order
recurrence ``y <- exp(lambda dt) y + R dt phi_1(lambda dt)``, solved for all
outputs at once by a prefix scan (vectorised, any spacing of the outputs),
and ``E`` gains ``CL/V_c`` times the exact integral of ``A_c`` over the
interval (``phi_1``, ``phi_2`` below).  ``Q = 0`` (no peripheral compartment)
is the one-compartment model, one mode.  The amounts ``A_c + A_p + E`` equal
``A`` at every output to round-off (the plasma model's mass balance,
tested).  Everything here is plain arrays in SI (amounts in the dose unit,
volumes m^3, clearances m^3/s, times s).
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


def _phi12(z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``phi_1(z) = (e^z - 1)/z`` and ``phi_2(z) = (e^z - 1 - z)/z^2`` to round-off, ``z <= 0``.

    ``phi_2`` from its Taylor series where the difference would cancel
    (``|z| < 0.2``: the first omitted term, ``z^10/12!``, is at most 5e-16 of it;
    the closed form beyond loses ~2 eps / |z| <= 2.2e-15 to the difference).
    """
    z = np.asarray(z, dtype=float)
    small = np.abs(z) < 0.2
    zs = np.where(small, 1.0, z)  # no 0/0 where the series is used
    em1 = np.expm1(z)
    phi1 = np.where(z == 0.0, 1.0, em1 / np.where(z == 0.0, 1.0, z))
    series = np.zeros_like(z)
    for n in range(11, 1, -1):  # Horner: sum_{n >= 2} z^(n-2) / n!
        series = series * z + 1.0 / math.factorial(n)
    phi2 = np.where(small, series, (em1 - z) / (zs * zs))
    return phi1, phi2


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
        Input rate over the interval after each output (the last: 0), dose unit/s.
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


def plasma(times: np.ndarray, absorbed: np.ndarray, pk: PKModel) -> Plasma:
    """Integrate the blood exactly over each output interval, the input rate constant there (module docstring).

    Parameters
    ----------
    times : float64[k]
        Output times, s, increasing, from 0.
    absorbed : float64[k]
        Cumulative amount into the blood, dose unit (0 at the start).
    pk : PKModel

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
    r = rate[:-1]
    lam, w_c, w_p = pk.modes()
    central = np.zeros(k)
    peripheral = np.zeros(k)
    intake = np.zeros(k - 1)  # integral of A_c over each interval, dose unit s
    for li, wc, wp in zip(lam, w_c, w_p):  # one or two modes
        z = li * dt
        phi1, phi2 = _phi12(z)
        # anything there at 0 starts in the central compartment: every mode starts at absorbed[0]
        y = _linear_recurrence(np.exp(z), r * dt * phi1, absorbed[0])
        central += wc * y
        peripheral += wp * y
        intake += wc * (y[:-1] * dt * phi1 + r * dt * dt * phi2)
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

