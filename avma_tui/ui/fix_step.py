"""One remedy step as the admin reviews it before anything runs.

What it does and why, a warning or refusal where there is one, what it changes and how it is
verified, then the exact PowerShell as the host runs it with every value as a bound parameter (name
= value under the script; product keys masked unless revealed). Manual steps show the commands to
type instead. Parameter values can carry VM data, and results carry remote error text, so every
line goes through `safe` and reaches the screen as Content, never markup.
"""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.content import Content
from textual.widgets import Static

from ..remedies import Step, StepKind
from ..service import StepResult
from . import safe

#: Longest line of a script, command or message kept (scripts are ours; messages may be remote).
LINE_LIMIT = 400
#: How each outcome reads in the wizard, and its colour.
OUTCOME_STYLE = {
    "ok": ("Done", "$success"),
    "failed": ("Failed", "$error"),
    "unknown": ("Outcome unknown", "$warning"),
    "cancelled": ("Cancelled", "$warning"),
    "skipped": ("Not run", "$warning"),
    "manual": ("Yours to do", "$accent"),
}


def lines(value: str, style: str = "") -> Content:
    """Multi-line text as Content: each line cleaned (controls stripped, capped), the breaks kept."""
    return Content("\n").join(safe.text(line, style, limit=LINE_LIMIT) for line in value.split("\n"))


def params_table(step: Step) -> Content:
    """The step's bound parameters, one `Name = value` per line, names aligned."""
    width = max((len(name) for name, _ in step.params), default=0)
    return Content("\n").join(
        safe.assemble((f"{name.ljust(width)} = ", "$text-muted"), (value, "bold")) for name, value in step.params
    )


def result_text(result: StepResult) -> Content:
    """A StepResult in plain words: the outcome, what happened, then what to do next."""
    label, style = OUTCOME_STYLE.get(result.outcome, (result.outcome, ""))
    parts = [safe.assemble((f"{label}: ", f"bold {style}"), (result.step.title, "bold")), lines(result.message)]
    if result.next_step:
        parts.append(Content.assemble(("Next: ", "bold"), lines(result.next_step)))
    return Content("\n").join(parts)


class StepView(VerticalScroll):
    """The preview of one step; `show` swaps in another (the plan changes after every step)."""

    DEFAULT_CSS = """
    StepView { height: 1fr; padding: 0 1; }
    StepView > .step-title { text-style: bold; color: $text-primary; }
    StepView > .step-label { color: $text-muted; margin-top: 1; }
    StepView > .step-warning { background: $warning-muted; color: $text; padding: 0 1; margin-top: 1; }
    StepView > .step-refusal { background: $error-muted; color: $text; padding: 0 1; margin-top: 1; }
    StepView > .step-code { background: $boost; padding: 0 1; }
    StepView > #step-script-box { height: auto; max-height: 14; background: $boost; padding: 0 1; }
    """

    def show(self, step: Step, *, subject: str = "") -> None:
        self.remove_children()
        self.mount_all(list(self._parts(step, subject)))
        self.scroll_home(animate=False)

    def _parts(self, step: Step, subject: str) -> ComposeResult:
        kind = "manual — you run it" if step.kind is StepKind.MANUAL else step.kind.value
        heading = safe.assemble((step.title, "bold"), (f"  ({kind})", "$text-muted"))
        if subject:
            heading = safe.assemble(("For ", "$text-muted"), (subject, "bold"), ": ", heading)
        yield Static(heading, classes="step-title")
        yield Static(lines(step.why))
        if step.refusal:
            yield Static(lines("Will not run: " + step.refusal), classes="step-refusal", id="step-refusal")
        if step.warning:
            yield Static(lines("Warning: " + step.warning), classes="step-warning", id="step-warning")
        yield Static(Content.assemble(("Changes: ", "bold"), lines(step.changes)), classes="step-label")
        yield Static(Content.assemble(("Verified by: ", "bold"), lines(step.verify)))
        if step.kind is StepKind.MANUAL:
            yield Static("Commands to run (c copies them):", classes="step-label")
            yield Static(lines(step.script), classes="step-code", id="step-commands")
            return
        yield Static(f"PowerShell run on the host ({step.op}.ps1):", classes="step-label")
        yield VerticalScroll(Static(lines(step.script), id="step-script"), id="step-script-box")
        if step.params:
            yield Static("With these parameters:", classes="step-label")
            yield Static(params_table(step), classes="step-code", id="step-params")
