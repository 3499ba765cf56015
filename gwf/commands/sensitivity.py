"""`gwf sensitivity [SPEC]`: GW/week change for ±10% in each input that matters (durations, MTTF,
MTTR, cell counts per type, yields), with common random numbers and paired 95% intervals, as a
ranked table and (--report) a tornado chart in the twin's HTML report."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import typer

from gwf.options import load_for_target, resolve_spec, spec_alias_option, spec_argument, target_option


def register(app: typer.Typer) -> None:
    @app.command("sensitivity")
    def sensitivity_command(
        spec_path: Path | None = spec_argument(),
        spec_alias: Path | None = spec_alias_option(),
        target: str | None = target_option(),
        change: float = typer.Option(0.1, "--change", help="relative change of each input, both ways (0.1 = ±10%)"),
        inputs: str = typer.Option("duration,mttf,mttr,cells,yield", "--inputs", help="kinds of input, comma-separated"),
        types: str | None = typer.Option(None, "--types", help="only these cell types, comma-separated (default: all that work)"),
        offered: str = typer.Option("capacity", "--offered", help="capacity: offer more than the floor can take (what it can make); spec: the spec's release"),
        policy: str = typer.Option("fifo", "--policy", help="dispatch policy: fifo | edd | sq (sq spreads an operation over every type that can do it)"),
        weeks: float = typer.Option(1.0, "--weeks", help="weeks measured per run"),
        warmup: float | None = typer.Option(None, "--warmup", help="warm-up hours; default: Welch's method"),
        replications: int = typer.Option(3, "--replications", help="replications per variant (paired across variants)"),
        seed: int = typer.Option(0, "--seed", help="random seed shared by every variant (common random numbers)"),
        workers: int = typer.Option(1, "--workers", help="local processes for the replications"),
        cluster: str | None = typer.Option(None, "--cluster", help="Dask scheduler address, e.g. tcp://HOST:8786"),
        report_path: Path | None = typer.Option(None, "--report", help="write the HTML report with the tornado chart here"),
        as_json: bool = typer.Option(False, "--json", help="print one JSON object"),
    ) -> None:
        """Which input moves GW/week most: ±10% in each, common random numbers, ranked, tornado chart."""
        from gwf.progress import line_printer
        from sim.sensitivity import sensitivity

        spec = load_for_target(resolve_spec(spec_path, spec_alias), target)
        kinds = tuple(k.strip() for k in inputs.split(",") if k.strip())
        chosen = {t.strip() for t in types.split(",") if t.strip()} if types else None
        result = sensitivity(spec, change=change, kinds=kinds, types=chosen, offered=offered, seed=seed, progress=line_printer(),
                             weeks=weeks, warmup_h=warmup, replications=replications, policy=policy, workers=workers, cluster=cluster)
        if report_path is not None:
            from sim.html import render_html

            report_path.parent.mkdir(parents=True, exist_ok=True)
            report_path.write_text(render_html(result.base_report, sensitivity=result), encoding="utf-8")
        if as_json:
            typer.echo(json.dumps(result.to_dict()))
            return
        _print(result)


def _print(result) -> None:
    from rich.console import Console
    from rich.table import Table

    from sim.units import power_interval, unit_of

    ref = result.target_gw
    scale = 1.0 if ref >= 1 else 1000.0
    unit = unit_of(ref)
    console = Console(file=sys.stdout, width=None if sys.stdout.isatty() else 160)
    what = "what the floor can make (offered more than it can take)" if result.offered == "capacity" else "output at the spec's release"
    console.print(f"{result.spec_name}: base {power_interval(result.base.mean, result.base.ci_low, result.base.ci_high, ref)}, {what}; "
                  f"±{result.change:.0%} per input, {result.replications} replications each, common random numbers")
    table = Table("rank", "input", "lowered", f"{unit}/week change [95% CI]", "raised", f"{unit}/week change [95% CI]")
    for i, e in enumerate(result.ranked()):
        table.add_row(str(i + 1), e.input.label, f"{e.low_change:+.0%}",
                      f"{e.low.mean * scale:+,.3f} [{e.low.ci_low * scale:+,.3f}, {e.low.ci_high * scale:+,.3f}]",
                      f"{e.high_change:+.0%}", f"{e.high.mean * scale:+,.3f} [{e.high.ci_low * scale:+,.3f}, {e.high.ci_high * scale:+,.3f}]")
    console.print(table)
