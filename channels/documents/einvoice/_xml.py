"""Small lxml helpers shared by the CII and UBL writers: elements that are never empty, amounts EN 16931 accepts."""

from __future__ import annotations

from decimal import Decimal

from lxml import etree

from domain.model.money import minor_exponent


def el(parent: etree._Element, tag: str, text: str | None = None, **attrs: str) -> etree._Element:
    """A child element; `tag` is Clark notation. Text is set only when given (callers skip empty values)."""
    node = etree.SubElement(parent, tag, attrs) if attrs else etree.SubElement(parent, tag)
    if text is not None:
        node.text = text
    return node


def opt(parent: etree._Element, tag: str, text: str | None, **attrs: str) -> etree._Element | None:
    """A child element only when there is something to say (Peppol R008: no empty elements)."""
    if text is None or not str(text).strip():
        return None
    return el(parent, tag, str(text).strip(), **attrs)


def amount(value: Decimal, currency: str) -> str:
    """An amount with the currency's decimals, at most two (BR-DEC-*): 1500 JPY, 12.50 EUR, 1.25 KWD."""
    places = min(minor_exponent(currency), 2)
    q = value.quantize(Decimal(1).scaleb(-places))
    if q != value:  # pragma: no cover - refused before (domain.model.einvoice.unrepresentable)
        raise ValueError(f"{value} {currency} has more than {places} decimals")
    return format(q, "f")


def number(value: Decimal) -> str:
    """A quantity, price or rate without trailing zeros ("1.5", "19", "0")."""
    text = format(value.normalize(), "f")
    return "0" if text in ("-0", "0E-0") else text


def serialize(root: etree._Element) -> bytes:
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True)
