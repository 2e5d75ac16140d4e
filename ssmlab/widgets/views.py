"""Thin ipywidgets views on the models of this sub-package.

Each view lays out controls, copies their values into its model and draws what the model
computes; it holds no rules of its own. Each also has a full plain-text form (the model's
``text()``): what stored outputs, nbval (which compares ``text/plain``), GitHub's notebook
viewer and a terminal show. ipywidgets would cut its text to 110 characters.
"""

from __future__ import annotations

import html
from typing import Any, Callable

import ipywidgets as widgets

from ..i18n import _
from .. import scoreboard as board
from .check_box import CheckModel
from .lab_map import LabMapModel
from .profile_map import ProfileMapModel
from .trust_builder import ACTIONS, SERVICES, TrustPolicyModel


class _TextForm:
    """A widget whose text/plain is its model's full text form."""

    def text(self) -> str:  # pragma: no cover - each view defines it
        raise NotImplementedError

    def _repr_mimebundle_(self, **kwargs):
        data = super()._repr_mimebundle_(**kwargs)  # type: ignore[misc]
        data["text/plain"] = self.text()
        return data

    def _repr_pretty_(self, printer, cycle) -> None:
        printer.text(self.text())

    def __repr__(self) -> str:
        return self.text()


def _css_name(value: str) -> str:
    return "".join(c if c.isalnum() else "-" for c in value.lower())


def _verdict_html(ok: bool, label: str, message: str) -> str:
    colour = "#1a7f37" if ok else "#cf222e"
    mark = "✓" if ok else "✗"
    state = "ok" if ok else "broken"
    return (
        f'<div class="ssmlab-verdict ssmlab-{state}" style="color:{colour}">'
        f"<b>{html.escape(label)}</b> {mark} {html.escape(message)}</div>"
    )


def _style() -> widgets.HTML:
    return widgets.HTML(
        "<style>"
        ".ssmlab-chain{display:flex;flex-wrap:wrap;align-items:stretch;gap:4px}"
        ".ssmlab-link{border:2px solid;border-radius:6px;padding:4px 8px;width:13em;font-size:90%;line-height:1.3;overflow-wrap:anywhere}"
        ".ssmlab-link.ssmlab-ok{border-color:#1a7f37;background:#dafbe1}"
        ".ssmlab-link.ssmlab-broken{border-color:#cf222e;background:#ffebe9}"
        ".ssmlab-arrow{align-self:center;font-size:150%}"
        "</style>"
    )


# ------------------------------------------------------------------- trust-policy builder


class TrustPolicyBuilder(_TextForm, widgets.VBox):
    """Pick principals and actions; see the trust policy, IAM's verdict and why; Apply it.

    ``TrustPolicyBuilder(lab)`` works on the lessons' role (``lab.name("role-for-ec2")``);
    ``on_apply`` is called after each Apply (pass ``lab_map.refresh`` to redraw the map).
    """

    def __init__(
        self,
        lab=None,
        role: str | None = None,
        *,
        services: tuple[str, ...] | None = None,
        actions: tuple[str, ...] | None = None,
        on_apply: Callable[[], Any] | None = None,
        **kwargs,
    ):
        import ssmlab

        self.lab = lab if lab is not None else ssmlab.current()
        self.role = role or (self.lab.name("role-for-ec2") if self.lab is not None else None)
        self.on_apply = on_apply
        self.model = TrustPolicyModel(
            account_id=self.lab.account_id if self.lab is not None else "123456789012",
            learner_arn=self.lab.caller_arn if self.lab is not None else None,
            offline=self.lab.offline if self.lab is not None else True,
        )
        if services is not None:
            self.model.services = list(services)
        if actions is not None:
            self.model.actions = list(actions)
        self.answer: str = ""

        self._services = {s: self._checkbox(s, s in self.model.services, "service") for s in SERVICES}
        self._root = self._checkbox(self.model.for_state(_("this account ({account}:root)").format(account=self.model.account_id)), False, "root")
        self._learner = self._checkbox(_("you (the learner)"), False, "learner")
        self._learner.disabled = not self.model.learner_arn
        self._other = widgets.Text(placeholder=_("another account id (12 digits)"), description=_("account"))
        self._other.add_class("ssmlab-other-account")
        self._actions = {a: self._checkbox(a, a in self.model.actions, "action") for a in ACTIONS}
        self._json = widgets.HTML()
        self._json.add_class("ssmlab-json")
        self._verdict = widgets.HTML()
        self._why = widgets.HTML()
        self._apply = widgets.Button(
            description=_("Apply to {role}").format(role=self.role) if self.role else _("Apply (no lab)"),
            button_style="primary",
            disabled=self.lab is None,
            layout=widgets.Layout(width="auto"),
        )
        self._apply.add_class("ssmlab-apply")
        self._answer = widgets.HTML()
        self._answer.add_class("ssmlab-aws-answer")
        for control in [*self._services.values(), self._root, self._learner, self._other, *self._actions.values()]:
            control.observe(self._changed, names="value")
        self._apply.on_click(lambda _: self.apply())

        principals = widgets.VBox(
            [widgets.HTML("<b>Who may assume the role (Principal)</b>"), *self._services.values(),
             self._root, self._learner, self._other]
        )
        actions_box = widgets.VBox([widgets.HTML("<b>Action</b>"), *self._actions.values()])
        super().__init__(
            [_style(), widgets.HBox([principals, actions_box]), self._json, self._verdict, self._why,
             self._apply, self._answer],
            **kwargs,
        )
        self.add_class("ssmlab-trust-builder")
        self._draw()

    @staticmethod
    def _checkbox(label: str, value: bool, kind: str) -> widgets.Checkbox:
        box = widgets.Checkbox(value=value, description=label, indent=False, layout=widgets.Layout(width="auto"))
        box.add_class(f"ssmlab-{kind}-{_css_name(label)}")
        return box

    def _changed(self, _change=None) -> None:
        self.model.services = [s for s, box in self._services.items() if box.value]
        self.model.actions = [a for a, box in self._actions.items() if box.value]
        self.model.account_root = self._root.value
        self.model.learner = self._learner.value
        self.model.other_account = self._other.value
        self._draw()

    def _draw(self) -> None:
        # Every synced trait gets the masked text: widget state is saved in the notebook.
        shown = self.model.for_state
        self._json.value = f"<pre>{html.escape(shown(self.model.json()))}</pre>"
        iam, instance = self.model.validate(), self.model.for_instance()
        self._verdict.value = shown(_verdict_html(iam.ok, _("IAM (CreateRole's rules):"), iam.message) + _verdict_html(
            instance.ok, _("For an EC2 instance's role:"), instance.message
        ))
        items = "".join(f"<li>{html.escape(line)}</li>" for line in self.model.explanations())
        self._why.value = shown(f"<ul>{items}</ul>")

    def apply(self):
        """Send the policy with UpdateAssumeRolePolicy; show AWS's answer; call ``on_apply``.

        Only to a role of the lab's (``ssmlab/ownership.py``): any other is refused, in the
        answer, before anything is sent.
        """
        result = self.model.apply(self.lab.client("iam"), self.role, lab=self.lab)
        shown = self.model.for_state
        self.answer = self.model.shown(str(result))
        answer = _verdict_html(result.ok, "AWS:", result.message)
        if result.document is not None:
            answer += f"<pre>{html.escape(__import__('json').dumps(result.document, indent=2))}</pre>"
        self._answer.value = shown(answer)
        if self.on_apply is not None:
            self.on_apply()
        return result

    def text(self) -> str:
        answer = f"\nAWS: {self.answer}" if self.answer else ""
        return self.model.text() + answer


def _refresh_button(view) -> widgets.Button:
    """The "Refresh" button of a map: it calls ``view.refresh()``, which re-reads the lab."""
    button = widgets.Button(description=_("Refresh"), icon="refresh")
    button.add_class("ssmlab-refresh")
    button.on_click(lambda _button: view.refresh())
    return button


# ---------------------------------------------------------------------------- lab map


class LabMap(_TextForm, widgets.VBox):
    """The chain role ↔ … ↔ Systems Manager, each link green or red with its reason.

    ``lab_map.refresh()`` re-reads the lab (the "Refresh" button does the same); call it
    after a lesson step, or pass it as a builder's ``on_apply``.
    """

    def __init__(self, lab=None, role: str | None = None, profile: str | None = None, **kwargs):
        import ssmlab

        lab = lab if lab is not None else ssmlab.current()
        self.model = LabMapModel(lab, role=role, profile=profile)
        self.model.listeners.append(lambda _model: self._draw())
        self._chain = widgets.HTML()
        self._chain.add_class("ssmlab-chain-view")
        self._refresh = _refresh_button(self)
        super().__init__([_style(), self._chain, self._refresh], **kwargs)
        self.add_class("ssmlab-lab-map")
        self.refresh()

    def refresh(self) -> "LabMap":
        """Re-read the lab and redraw; returns the map, so a cell ending in it shows it again.

        The links are ``lab_map.links`` (each ``.name``, ``.ok``, ``.reason``).
        """
        self.model.refresh()
        return self

    @property
    def links(self):
        return self.model.links

    def _draw(self) -> None:
        parts = []  # masked below: widget state is saved in the notebook
        for link in self.model.links:
            state = "ok" if link.ok else "broken"
            mark = "✓" if link.ok else "✗"
            parts.append(
                f'<div class="ssmlab-link ssmlab-{state}" data-link="{html.escape(link.name)}" '
                f'data-ok="{str(link.ok).lower()}"><b>{mark} {html.escape(_(link.name))}</b><br>'
                f"{html.escape(link.reason)}</div>"
            )
        chain = '<span class="ssmlab-arrow">↔</span>'.join(parts)
        self._chain.value = self.model.for_state(f'<div class="ssmlab-chain">{chain}</div>')

    def text(self) -> str:
        return self.model.text()


# ------------------------------------------------------------------------ profile map


class ProfileMap(_TextForm, widgets.VBox):
    """Which role is in which instance profile, and which profile each instance is associated with.

    ``ProfileMap(lab, profiles=[PROFILE], instance_ids=[INSTANCE_ID])``; ``refresh()`` (or the
    "Refresh" button) reads IAM and EC2 again.
    """

    def __init__(self, lab=None, *, profiles, instance_ids, **kwargs):
        import ssmlab

        lab = lab if lab is not None else ssmlab.current()
        self.model = ProfileMapModel(lab, tuple(profiles), tuple(instance_ids))
        self.model.listeners.append(lambda _model: self._draw())
        self._picture = widgets.HTML()
        self._picture.add_class("ssmlab-profile-map-view")
        self._refresh = _refresh_button(self)
        super().__init__([self._picture, self._refresh], **kwargs)
        self.add_class("ssmlab-profile-map")
        self.refresh()

    def refresh(self) -> "ProfileMap":
        """Re-read the lab and redraw; returns the map, so a cell ending in it shows it again."""
        self.model.refresh()
        return self

    def _draw(self) -> None:
        self._picture.value = f"<pre>{html.escape(self.model.text())}</pre>"

    def text(self) -> str:
        return self.model.text()


# -------------------------------------------------------------------------- check box


class CheckBox(_TextForm, widgets.VBox):
    """An answer box per answer, a "Check" button, and the pure checker's hint.

    ``CheckBox(checks.check_trust_policy)``; facts the checker is judged against go in
    ``facts``: ``CheckBox(checks_ssm.check_denied_call, fields=("principal", "action",
    "fix"), facts={"role": ROLE, "instance_id": INSTANCE_ID})``.
    """

    def __init__(self, checker, *, fields=("answer",), facts=None, value: str = "", **kwargs):
        self.model = CheckModel(checker, fields=tuple(fields), facts=dict(facts or {}))
        self._boxes = {}
        for name in self.model.fields:
            box = widgets.Textarea(
                value=value if len(self.model.fields) == 1 else "",
                description=name if len(self.model.fields) > 1 else "",
                placeholder=_("your {name}").format(name=name),
                layout=widgets.Layout(width="95%", height="8em" if len(self.model.fields) == 1 else "2.5em"),
            )
            box.add_class(f"ssmlab-answer-{_css_name(name)}")
            self._boxes[name] = box
        self._button = widgets.Button(description=_("Check"), button_style="info")
        self._button.add_class("ssmlab-check")
        self._button.on_click(lambda _: self.check())
        self._feedback = widgets.HTML()
        self._feedback.add_class("ssmlab-feedback")
        super().__init__([*self._boxes.values(), self._button, self._feedback], **kwargs)
        self.add_class("ssmlab-check-box")

    def check(self):
        """Check what the boxes hold; shows and returns the checker's Feedback."""
        for name, box in self._boxes.items():
            self.model.set(name, box.value)
        feedback = self.model.check()
        from ..privacy import for_state  # synced to the front end: a real account's id masked

        self._feedback.value = for_state(
            _verdict_html(feedback.ok, _("Correct:") if feedback.ok else _("Not yet:"), feedback.message))
        return feedback

    def text(self) -> str:
        return self.model.text()


# ------------------------------------------------------------------- the fleet's scoreboard

_STATE_COLOURS = {board.FIXED: "#1a7f37", board.NOT_YET: "#9a6700", board.UNACCEPTABLE: "#cf222e"}


class FleetScoreboard(_TextForm, widgets.VBox):
    """The fleet's scoreboard (``ssmlab.scoreboard.Scoreboard``) as a table, with a Refresh
    button that grades the fleet again. ``FleetScoreboard(lab)``, or pass a model."""

    def __init__(self, lab=None, fleet=None, *, model=None, record: bool = True, **kwargs):
        self.model = model if model is not None else board.Scoreboard(lab, fleet, record=record)
        self._table = widgets.HTML()
        self._table.add_class("ssmlab-scoreboard")
        self._button = widgets.Button(description=_("Refresh"), button_style="info")
        self._button.add_class("ssmlab-refresh")
        self._button.on_click(lambda _: self.refresh())
        super().__init__([self._table, self._button], **kwargs)
        self._draw()

    def refresh(self):
        """Grade the fleet again and redraw; returns the rows."""
        rows = self.model.refresh()
        self._draw()
        return rows

    def _draw(self) -> None:
        from ..i18n import _
        from ..privacy import for_state  # synced to the front end: a real account's id masked

        head = "".join(f"<th>{html.escape(_(h))}</th>" for h in ("name", "instance id", "Systems Manager", "fix"))
        body = ""
        for row in self.model.rows:
            colour = _STATE_COLOURS.get(row.state, "inherit")
            body += (
                f'<tr class="ssmlab-row-{_css_name(row.state)}"><td>{html.escape(row.name)}</td>'
                f"<td><code>{html.escape(row.instance_id)}</code></td><td>{html.escape(_(row.ping))}</td>"
                f'<td style="color:{colour}" title="{html.escape(row.verdict)}"><b>{html.escape(_(row.state))}</b></td></tr>'
            )
        fixed = sum(r.state == board.FIXED for r in self.model.rows)
        count = html.escape(_("{fixed} of {total} fixed acceptably.").format(fixed=fixed, total=len(self.model.rows)))
        self._table.value = for_state(
            f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table><p>{count}</p>")

    def text(self) -> str:
        return self.model.text()
