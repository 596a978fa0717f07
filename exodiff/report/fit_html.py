"""A fit as one self-contained HTML page: the parameter table, warnings, plots inline, the fitted scenario."""

from __future__ import annotations

import base64
import html

from exodiff._version import __version__

__all__ = ["fit_html"]

_CSS = """
body { font-family: -apple-system, 'Segoe UI', Helvetica, Arial, sans-serif; margin: 2em auto; max-width: 1100px;
       color: #222; line-height: 1.4; padding: 0 1em; }
table { border-collapse: collapse; font-size: 0.9em; } th, td { border: 1px solid #ddd; padding: 3px 8px; }
th { background: #f3f3f3; text-align: left; } td.num { text-align: right; font-variant-numeric: tabular-nums; }
.warn { background: #fff3cd; border-left: 3px solid #e0a800; padding: 0.4em 0.8em; }
pre { background: #f7f7f7; padding: 0.6em; overflow-x: auto; font-size: 0.85em; }
figure img { max-width: 100%; border: 1px solid #eee; }
"""


def _e(x) -> str:
    return html.escape(str(x), quote=True)


def _g(x) -> str:
    return "-" if x is None else f"{x:.4g}"


def fit_html(summary: dict, pngs: dict[str, bytes], scenario_text: str) -> str:
    """The report page of a fit (``summary`` is the content of fit.json)."""
    rows = []
    for k, p in summary["parameters"].items():
        prof = p.get("profile_ci95")
        post = p.get("posterior_ci95")
        rows.append(f"<tr><td><code>{_e(k)}</code></td><td class=num>{_g(p['value'])}</td><td>{_e(p['unit'])}</td>"
                    f"<td class=num>[{_g(p['ci95'][0])}, {_g(p['ci95'][1])}]</td>"
                    f"<td class=num>{'[' + _g(prof[0]) + ', ' + _g(prof[1]) + ']' if prof else '-'}</td>"
                    f"<td class=num>{'[' + _g(post[0]) + ', ' + _g(post[1]) + ']' if post else '-'}</td>"
                    f"<td class=num>[{_g(p['bounds'][0])}, {_g(p['bounds'][1])}]</td></tr>")
    w = summary["weighting"]
    conv = summary["convergence"]
    parts = [
        "<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8"><title>exodiff fit</title>',
        f"<style>{_CSS}</style></head><body>",
        "<h1>Fit</h1>",
        f"<p>{summary['n_observations']} observations, cost {_g(summary['cost'])} (0.5 sum of squared weighted "
        f"residuals); scale {_e(w['scale'])}. {conv['starts_at_best']} of {conv['starts']} starts reached the "
        "best cost.</p>",
        "<table><tr><th>parameter</th><th>value</th><th>unit</th><th>95 % (Jacobian)</th><th>95 % (profile)</th>"
        "<th>95 % (MCMC)</th><th>bounds</th></tr>", *rows, "</table>",
        f"<p>{_e(summary['interval_method'])}</p>",
    ]
    if summary["warnings"]:
        parts.append('<div class="warn">' + "".join(f"<p>{_e(x)}</p>" for x in summary["warnings"]) + "</div>")
    if "mcmc" in summary:
        m = summary["mcmc"]
        parts.append(f"<p>MCMC: {m['walkers']} walkers x {m['steps']} steps, acceptance "
                     f"{m['acceptance_fraction']:.2f}, autocorrelation times "
                     f"{', '.join(f'{t:.1f}' for t in m['autocorrelation_time'])}; "
                     f"{'converged' if m['converged'] else 'NOT converged'} ({_e(m['criterion'])}).</p>")
    for stem, data in pngs.items():
        b64 = base64.b64encode(data).decode("ascii")
        parts.append(f'<figure><img alt="{_e(stem)}" src="data:image/png;base64,{b64}"></figure>')
    parts.append(f"<h2>Fitted scenario</h2><pre>{_e(scenario_text)}</pre>")
    parts.append(f"<p>exodiff {_e(__version__)}</p></body></html>")
    return "\n".join(parts) + "\n"
