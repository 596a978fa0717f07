"""A comparison as one self-contained HTML file that can be mailed.

Everything is inside the file: plots as base64 PNG ``data:`` URIs, styles
inline, no script and no external link needed to read it (the ``<details>``
blocks with each variant's scenario open without JavaScript).  Contents: a
short reading of the results, the key parameters of every variant (differing
rows marked), the metrics table, the plots, the metric definitions and each
variant's scenario as TOML, so any column can be re-run alone.
"""

from __future__ import annotations

import base64
import html
import math

from exodiff._version import __version__

_CSS = """
body { font-family: -apple-system, 'Segoe UI', Helvetica, Arial, sans-serif; margin: 2em auto; max-width: 1100px;
       color: #222; line-height: 1.4; padding: 0 1em; }
h1 { font-size: 1.5em; margin-bottom: 0.2em; } h2 { font-size: 1.2em; margin-top: 1.6em;
border-bottom: 1px solid #ddd; }
.meta { color: #666; font-size: 0.9em; }
table { border-collapse: collapse; font-size: 0.85em; margin: 0.5em 0; }
th, td { border: 1px solid #ddd; padding: 3px 7px; }
th { background: #f3f3f3; text-align: left; }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
tr.differs th { background: #fff3cd; }
code, pre { font-family: Menlo, Consolas, monospace; font-size: 0.85em; }
pre { background: #f7f7f7; padding: 0.6em; overflow-x: auto; }
figure { margin: 1em 0; } figure img { max-width: 100%; border: 1px solid #eee; }
.note { background: #f5f8fc; border-left: 3px solid #4e79a7; padding: 0.4em 0.8em; }
"""

#: Definitions shown under the table (formulas as in :mod:`exodiff.results.metrics`).
DEFINITIONS = [
    ("fraction of dose", "amount in a compartment / applied dose; compartments are the vehicle, each skin "
                         "layer, and what was degraded, taken up by cells, cleared to the circulation, passed "
                         "through the bottom of the skin (receptor; sampled: taken by receptor samples) or "
                         "removed with the vehicle at wash-off"),
    ("&lt;layer&gt; at t", "fraction of dose in the compartment at time t (linear in time between outputs)"),
    ("delivered to a layer", "fraction of the dose that has entered the layer by the end: what is in it or "
                             "below it, plus everything degraded, taken up or cleared in it or below it and "
                             "what crossed the bottom (the time integral of the flux through its top face)"),
    ("target layer", "formulation.target_layer, else the dermis, else the deepest layer"),
    ("time of peak", "time of the largest fraction in the target layer; - when nothing arrives"),
    ("AUC", "integral over time of the fraction in the target layer (trapezoid over output times), fraction "
            "x hours"),
    ("taken up by cells", "fraction of the dose taken up by the cells of the target layer by the end"),
    ("left the skin", "fraction of the dose cleared by capillaries and lymphatics or through the bottom of "
                      "the skin (a sink, or a Franz cell's receptor and its samples) by the end"),
    ("mean penetration depth", "amount-weighted mean depth of the active in the skin at the end, "
                               "sum z c w / sum c w over the cells; - when the skin holds nothing"),
    ("cargo: ...", "the same metrics for the cargo the vesicles carry, as fractions of the loaded cargo (free "
                   "or inside intact vesicles, wherever it is)"),
    ("set free before the barrier", "cargo applied free in the film (1 - encapsulation efficiency) plus the "
                                    "cargo released from vesicles in the stratum corneum, by the end"),
    ("taken up by cells (cargo)", "cargo taken up by the cells of every layer, free or inside vesicles: "
                                  "intracellular delivery"),
]


def _esc(x) -> str:
    return html.escape(str(x), quote=True)


def _q(value, factor: float, unit: str, digits: int = 3) -> str:
    if value is None:
        return "-"
    return f"{value * factor:.{digits}g} {unit}"


def key_parameters(variant) -> dict[str, str]:
    """Parameters a reader needs to tell the variants apart, as display text."""
    r = variant.scenario.resolved
    f, d, skin, sim = r["formulation"], r["delivery"], r["skin"], r["simulation"]
    unit = f.get("dose_unit", "")
    out = {
        "scenario": variant.scenario.name,
        "formulation preset": f.get("preset", "-"),
        "kind": f.get("kind", "-"),
        "diameter": _q(f.get("diameter"), 1e9, "nm"),
        "deformability": "-" if f.get("deformability") is None else f"{f['deformability']:g}",
        "half-life": _q(f.get("half_life"), 1 / 3600, "h"),
        "dose": f"{f['dose'] * 1e-4:.3g} {unit}/cm^2" if "dose" in f else "-",
        "vehicle": f"{f.get('vehicle', '-')}, {_q(f.get('vehicle_thickness'), 1e6, 'um')}",
        "wash-off": _q(f.get("wash_off_time"), 1 / 3600, "h") if f.get("wash_off_time") else "none",
        "delivery method": d.get("method", "-"),
        "skin": skin.get("preset", "-"),
        "layers": ", ".join(f"{n} {_q(ly.get('thickness'), 1e6, 'um')}" for n, ly in skin["layers"].items()),
        "target layer": f.get("target_layer") or "(default)",
        "duration": _q(sim.get("duration"), 1 / 3600, "h"),
    }
    cargo = f.get("cargo")
    if cargo:
        sc_rate = cargo.get("release_rate_stratum_corneum")
        out["cargo"] = (f"{cargo.get('name', 'cargo')}"
                        + (f" ({cargo['preset']} preset)" if cargo.get("preset") else "")
                        + f", {cargo.get('loading', 1.0):.3g} {cargo.get('loading_unit') or 'copies'} per {unit or 'unit'}"
                        + f", encapsulated {cargo.get('encapsulation_efficiency', 1.0):.3g}"
                        + f", release {_q(cargo.get('release_rate', 0.0), 3600, '1/h')} (viable)"
                        + (f", {_q(sc_rate, 3600, '1/h')} (SC)" if sc_rate is not None else ""))
    if variant.overrides:
        out["overrides"] = "; ".join(f"{k} = {v!r}" for k, v in variant.overrides.items())
    return out


def _blocked_layer(ds) -> str | None:
    """The first layer with zero diffusivity or partition, if the result records them."""
    if "diffusivity" not in ds or "partition" not in ds or "layer" not in ds["diffusivity"].dims:
        return None
    for name in ds["layer"].values:
        if float(ds["diffusivity"].sel(layer=name).max()) == 0 or float(ds["partition"].sel(layer=name).max()) == 0:
            return str(name)
    return None


def reading(comparison) -> list[str]:
    """A few sentences on the results (HTML fragments)."""
    t = comparison.table
    names = [str(n) for n in t["variant"].values]
    dt = t["delivered_target"].values
    targets = t["target_layer"].values
    out = []
    order = sorted(range(len(names)), key=lambda i: -dt[i] if math.isfinite(dt[i]) else math.inf)
    best = order[0]
    if dt[best] > 0:
        out.append(f"Most delivered to its target layer: <b>{_esc(names[best])}</b>, "
                   f"{dt[best]:.3g} of the applied dose into the {_esc(targets[best])} by the end of the run.")
        ranked = ", ".join(f"{_esc(names[i])} ({dt[i]:.3g})" for i in order if dt[i] > 0)
        out.append(f"Delivered to the target layer, highest first: {ranked}.")
    zero = [i for i in range(len(names)) if not dt[i] > 0]
    if zero:
        parts = []
        for i in zero:
            where = _blocked_layer(comparison.results[names[i]])
            parts.append(f"{_esc(names[i])}" + (f" (blocked at the {_esc(where)}: diffusivity or partition is "
                                                 f"zero there)" if where else ""))
        out.append(f"Nothing reaches the target layer within the run for: {', '.join(parts)}. Their peak time "
                   "and penetration depth show as -, and the log-scale plots list them as \"none\". A zero is "
                   "the model's physics as parameterised, not a numerical failure: a layer where the active's "
                   "diffusivity or partition is zero (for vesicles, a stratum corneum whose pores are all "
                   "narrower than the deformed vesicle) blocks it completely.")
    tiny = [i for i in range(len(names)) if 0 < dt[i] < 1e-6]
    if tiny:
        out.append("Below a millionth of the dose reaches the target layer for: "
                   f"{', '.join(_esc(names[i]) for i in tiny)}; on the log-scale plots these still show as lines.")
    return out


def _table_html(table) -> str:
    from exodiff.report.compare_table import rows

    names = [str(n) for n in table["variant"].values]
    head = "".join(f"<th>{_esc(n)}</th>" for n in names)
    body = []
    for label, key, cells in rows(table, 3):
        tds = "".join(f'<td class="num">{_esc(c)}</td>' for c in cells)
        body.append(f'<tr><th title="{_esc(key)}">{_esc(label)}</th>{tds}</tr>')
    return f"<table><thead><tr><th>metric</th>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def _params_html(comparison) -> str:
    params = [key_parameters(v) for v in comparison.variants]
    rows = []
    keys: list[str] = []
    for p in params:
        keys += [k for k in p if k not in keys]
    for k in keys:
        vals = [p.get(k, "-") for p in params]
        cls = ' class="differs"' if len(set(vals)) > 1 else ""
        tds = "".join(f"<td>{_esc(v)}</td>" for v in vals)
        rows.append(f"<tr{cls}><th>{_esc(k)}</th>{tds}</tr>")
    head = "".join(f"<th>{_esc(v.name)}</th>" for v in comparison.variants)
    return (f"<table><thead><tr><th></th>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"
            "<p class=\"meta\">Rows that differ between variants are highlighted.</p>")


_CAPTIONS = {
    "target_amount": "Fraction of the applied dose in each variant's target layer over time (log scale; "
                     "variants where nothing arrives are listed as none).",
    "profiles": "Depth profiles at matching times: free concentration as fraction of the applied dose per um "
                "of depth (log-log; layer boundaries dashed).",
    "distribution": "Where the dose is at the end of each run, by compartment: left, the whole applied dose; "
                    "right, what entered the skin (the fraction that entered is written beside each bar).",
}


def comparison_html(comparison, pngs: dict[str, bytes] | None = None) -> str:
    """The report of a comparison as one HTML document (str)."""
    t = comparison.table
    date = t.attrs.get("date", "")
    times = t.attrs.get("times_h", [])
    when = ", ".join(f"{x:g} h" for x in times) if times else "the end of each run"
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>exodiff comparison: {_esc(comparison.title)}</title>",
        f"<style>{_CSS}</style></head><body>",
        f"<h1>Comparison: {_esc(comparison.title)}</h1>",
        f'<p class="meta">exodiff {_esc(__version__)} &middot; {_esc(date)} &middot; '
        f"{len(comparison.variants)} variants &middot; fractions tabulated at {_esc(when)}</p>",
        '<div class="note">' + "".join(f"<p>{s}</p>" for s in reading(comparison)) + "</div>",
        "<h2>Variants</h2>",
        _params_html(comparison),
        "<h2>Metrics</h2>",
        _table_html(t),
        '<p class="meta">Fractions are of the applied dose of each variant, so variants dosed in different '
        "units compare directly. - : no value (nothing arrived, or the variant has no such layer).</p>",
    ]
    if pngs:
        parts.append("<h2>Plots</h2>")
        for stem, data in pngs.items():
            b64 = base64.b64encode(data).decode("ascii")
            parts.append(f'<figure><img alt="{_esc(stem)}" src="data:image/png;base64,{b64}">'
                         f"<figcaption>{_esc(_CAPTIONS.get(stem, stem))}</figcaption></figure>")
    parts.append("<h2>Definitions</h2><dl>")
    parts += [f"<dt><b>{name}</b></dt><dd>{_esc(text)}</dd>" for name, text in DEFINITIONS]
    parts.append("</dl><p class=\"meta\">Formulas: <code>exodiff docs compare</code>. Parameters marked as "
                 "estimates (<code>exodiff docs parameters</code>, <code>exodiff presets</code>) carry the largest "
                 "uncertainty; treat differences between variants as model predictions to be tested.</p>")
    parts.append("<h2>Scenarios</h2>")
    for v in comparison.variants:
        parts.append(f"<details><summary>{_esc(v.name)}: {_esc(v.scenario.name)}</summary>"
                     f"<pre>{_esc(v.scenario.text)}</pre></details>")
    parts.append(f'<p class="meta">Generated by exodiff {_esc(__version__)} on {_esc(date)}.</p>')
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"
