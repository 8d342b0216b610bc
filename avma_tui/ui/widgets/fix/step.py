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

from avma_tui.core.operations import Outcome
from avma_tui.core.remedies import Step, StepKind
from avma_tui.hyperv.operations import step_script
from avma_tui.services.fixing import StepResult
from avma_tui.ui import safe

#: Longest line of a script, command or message kept (scripts are ours; messages may be remote).
LINE_LIMIT = 400
#: How each outcome reads in the wizard, and its colour.
OUTCOME_STYLE = {
    Outcome.OK: ("Done", "$text-success"),
    Outcome.FAILED: ("Failed", "$text-error"),
    Outcome.UNKNOWN: ("Outcome unknown", "$text-warning"),
    Outcome.NOT_VERIFIED: ("Not verified", "$text-warning"),
    Outcome.CANCELLED: ("Cancelled", "$text-warning"),
    Outcome.SKIPPED: ("Not run", "$text-warning"),
    Outcome.MANUAL: ("Yours to do", "$text-accent"),
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


class ScrollArea(VerticalScroll):
    """A scroll area Tab reaches only when it has something to scroll, and then visibly (its edge lights up).

    An area whose text fits would otherwise take the focus unseen, and the next key would go nowhere.
    """

    DEFAULT_CSS = """
    ScrollArea { border-left: blank; }
    ScrollArea:focus { border-left: thick $accent; }
    """

    def allow_focus(self) -> bool:
        return self.max_scroll_y > 0 or self.max_scroll_x > 0


class StepView(ScrollArea):
    """The preview of one step; `show` swaps in another (the plan changes after every step)."""

    DEFAULT_CSS = """
    StepView { height: 1fr; padding: 0 1; margin-top: 1; border-top: solid $primary-muted; }
    StepView > #step-title { text-style: bold; color: $text-primary; }
    StepView > .step-label { color: $text-muted; margin-top: 1; }
    StepView > #step-warning { background: $warning-muted; color: $text; padding: 0 1; margin-top: 1; }
    StepView > #step-refusal { background: $error-muted; color: $text; padding: 0 1; margin-top: 1; }
    StepView > .step-code { background: $boost; padding: 0 1; }
    StepView > #step-script-box { height: auto; max-height: 14; background: $boost; padding: 0 1; }
    """

    def compose(self) -> ComposeResult:
        yield Static(id="step-note")
        yield Static(id="step-title")
        yield Static(id="step-why")
        yield Static(id="step-refusal")
        yield Static(id="step-warning")
        yield Static(id="step-changes", classes="step-label")
        yield Static(id="step-verify")
        yield Static(id="step-code-label", classes="step-label")
        yield Static(id="step-commands", classes="step-code")
        yield ScrollArea(Static(id="step-script"), id="step-script-box")
        yield Static("With these parameters:", id="step-params-label", classes="step-label")
        yield Static(id="step-params", classes="step-code")

    def show(self, step: Step, *, subject: str = "") -> None:
        kind = "manual — you run it" if step.kind is StepKind.MANUAL else step.kind.value
        heading = safe.assemble((step.title, "bold"), (f"  ({kind})", "$text-muted"))
        if subject:
            heading = safe.assemble(("For ", "$text-muted"), (subject, "bold"), ": ", heading)
        manual = step.kind is StepKind.MANUAL
        self._put("#step-note", None)
        self._put("#step-title", heading)
        self._put("#step-why", lines(step.why))
        self._put("#step-refusal", lines("Will not run: " + step.refusal) if step.refusal else None)
        self._put("#step-warning", lines("Warning: " + step.warning) if step.warning else None)
        self._put("#step-changes", Content.assemble(("Changes: ", "bold"), lines(step.changes)))
        self._put("#step-verify", Content.assemble(("Verified by: ", "bold"), lines(step.verify)))
        label = "Commands to run (c copies them):" if manual else f"PowerShell run on the host ({step.op}.ps1):"
        self._put("#step-code-label", Content(label))
        self._put("#step-commands", lines(step.script) if manual else None)
        self._put("#step-script", None if manual else lines(step_script(step)))
        self.query_one("#step-script-box").display = not manual
        self.query_one("#step-params-label").display = bool(step.params) and not manual
        self._put("#step-params", params_table(step) if step.params and not manual else None)
        self.scroll_home(animate=False)

    def show_text(self, text: Content) -> None:
        """No step: a single paragraph (where the target stands now)."""
        for child in self.children:
            child.display = child.id == "step-note"
        self.query_one("#step-note", Static).update(text)

    def _put(self, selector: str, content: Content | None) -> None:
        widget = self.query_one(selector, Static)
        widget.display = content is not None
        if content is not None:
            widget.update(content)
