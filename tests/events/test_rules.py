"""Rules as data: the YAML document is validated whole; each refusal names the rule, the line and the field."""

from __future__ import annotations

import pytest

from domain.errors import ValidationFailed
from domain.services.rules import parse_rules

GOOD = """\
aliases:
  "toggl:project:178435728": "hubspot:company:5834129"
rules:
  - id: onboard-services
    on: deal.won
    when: {pipeline: Services}
    action: onboard_client
    clean_draft: auto_issue
    params:
      currency: EUR
      tax_profile: {mode: standard, region: DE, rate: "19"}
      contract:
        - {kind: milestone, name: Onboarding, milestones: [{name: Onboarding, amount: "2500.00"}]}
        - {kind: retainer, name: Managed services, fee: "4000.00"}
      complete_milestones: [Onboarding]
  - id: milestones
    on: milestone.completed
    action: bill_milestone
    clean_draft: auto_issue
  - id: tm-threshold
    on: [time.logged, time.updated]
    action: bill_threshold
    params: {hours: "20", amount: "3000.00"}
  - id: retainers-in-advance
    on: period.due
    action: bill_period
    clean_draft: auto_issue
  - id: contract-end
    on: contract.ended
    action: close_contract
  - id: sla-credits
    on: sla.breached
    action: credit_next_invoice
"""


def test_the_issue_s_examples_are_all_expressible() -> None:
    doc = parse_rules(GOOD)
    assert [r.id for r in doc.rules] == ["onboard-services", "milestones", "tm-threshold", "retainers-in-advance",
                                         "contract-end", "sla-credits"]
    assert doc.rules[0].matches("deal.won", {"pipeline": "services"})
    assert not doc.rules[0].matches("deal.won", {"pipeline": "Sales"})
    assert doc.rules[2].clean_draft == "hold_for_review"  # the safe default


def _refused(text: str) -> dict[str, object]:
    with pytest.raises(ValidationFailed) as e:
        parse_rules(text)
    assert e.value.code == "rules.invalid"
    first: dict[str, object] = e.value.details["errors"][0]
    assert str(first["line"]) in e.value.message and str(first["field"]) in e.value.message
    return first


def test_a_bad_param_names_rule_line_and_field() -> None:
    err = _refused(GOOD.replace('params: {hours: "20", amount: "3000.00"}', 'params: {hours: "twenty"}'))
    assert err["rule"] == "#3 (tm-threshold)" and err["line"] == 23 and err["field"] == "params.hours"


def test_a_bad_contract_term_names_the_term() -> None:
    err = _refused(GOOD.replace('fee: "4000.00"', 'fee: 4000.5'))
    assert err["rule"] == "#1 (onboard-services)" and err["field"] == "params.contract.1.fee"
    assert err["line"] == 14


def test_an_action_that_cannot_handle_the_event_is_refused() -> None:
    err = _refused(GOOD.replace("on: milestone.completed", "on: deal.won"))
    assert err["rule"] == "#2 (milestones)" and err["line"] == 17 and "cannot handle deal.won" in str(err["message"])


def test_when_may_only_test_fields_the_event_has() -> None:
    err = _refused(GOOD.replace("when: {pipeline: Services}", "when: {stage: won}"))
    assert err["rule"] == "#1 (onboard-services)" and err["field"] == "when.stage"


def test_unknown_keys_types_and_duplicates_are_refused() -> None:
    assert _refused(GOOD.replace("    action: bill_milestone", "    action: bill_milestone\n    colour: red")
                    )["field"] == "colour"
    assert _refused(GOOD.replace("on: sla.breached", "on: sla.broken"))["field"] == "on.0"
    assert "twice" in str(_refused(GOOD.replace("id: contract-end", "id: milestones"))["message"])
    assert _refused(GOOD.replace("clean_draft: auto_issue\n  - id: tm-threshold",
                                 "clean_draft: always\n  - id: tm-threshold"))["line"] == 19


def test_yaml_syntax_errors_name_the_line() -> None:
    err = _refused("rules:\n  - id: x\n    on: [deal.won\n")
    assert err["field"] == "yaml" and err["line"] in (3, 4)


def test_on_is_a_key_not_a_boolean_and_an_empty_document_has_no_rules() -> None:
    assert parse_rules("").rules == []
    assert parse_rules("rules: []\n").rules == []
    assert parse_rules("rules:\n  - {id: a, on: sla.breached, action: credit_next_invoice}\n").rules[0].on


def test_the_shipped_example_is_valid() -> None:
    from pathlib import Path
    doc = parse_rules((Path(__file__).resolve().parents[2] / "rules" / "example.yaml").read_text())
    assert len(doc.rules) == 7 and doc.aliases


def test_yaml_aliases_are_refused_so_an_alias_bomb_costs_nothing() -> None:
    bomb = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{chr(98 + i)}: &{chr(98 + i)} [*{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, "
        f"*{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}]\n" for i in range(9))
    bomb += "rules: *j\n"
    err = _refused(bomb)
    assert err["field"] == "yaml" and "alias" in str(err["message"]) and err["line"] == 2
    plain = GOOD.replace("rules:", "rules: &all", 1) + "extra: *all\n"
    assert "alias" in str(_refused(plain)["message"])
