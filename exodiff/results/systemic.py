"""The blood: a one- or two-compartment model driven by what leaves the skin (docs/model.md, 1.3).

The skin model books what reaches the circulation as the cumulative
amounts ``cleared`` (first-order vascular and lymphatic clearance in the
layers) and ``receptor`` (through the bottom of the skin into the deep
sink), per skin area.  Times the treated area, their sum ``A(t)`` is the
amount absorbed into the blood.  Between two output times the input rate
is taken as constant, ``R_k = (A_{k+1} - A_k) / (t_{k+1} - t_k)``, the mean
rate there, so the blood takes in exactly what left the skin at every
output.  The linear model is then solved exactly over each interval with
the matrix exponential of the system augmented by the constant input:

    dA_c/dt = R - (CL + Q)/V_c A_c + Q/V_p A_p
    dA_p/dt = Q/V_c A_c - Q/V_p A_p
    dE/dt   = CL/V_c A_c                      (eliminated; E = CL AUC)

``Q = 0`` (no peripheral compartment) is the one-compartment model.  The
amounts ``A_c + A_p + E`` equal ``A`` at every output to round-off (the
plasma model's mass balance, tested).  Everything here is plain arrays in SI
(amounts in the dose unit, volumes m^3, clearances m^3/s, times s).
"""

from __future__ import annotations

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
        """The 4 x 4 generator of ``(A_c, A_p, E, R)``, 1/s: the input rate ``R`` a constant fourth state."""
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
    from scipy.linalg import expm

    times = np.asarray(times, dtype=float)
    absorbed = np.asarray(absorbed, dtype=float)
    k = times.size
    dt = np.diff(times)
    rate = np.zeros(k)
    np.divide(np.diff(absorbed), dt, out=rate[:-1], where=dt > 0)
    m = pk.matrix()
    x = np.zeros((k, 4))
    x[0, :3] = (absorbed[0], 0.0, 0.0)  # anything there at 0 starts in the central compartment
    cache: dict = {}
    for i in range(k - 1):
        e = cache.get(dt[i])
        if e is None:  # output times are usually evenly spaced: one exponential for all intervals
            e = cache.setdefault(dt[i], expm(m * dt[i]))
        x[i, 3] = rate[i]
        x[i + 1] = e @ x[i]
    central, peripheral, eliminated = x[:, 0], x[:, 1], x[:, 2]
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

