"""Invoice and credit-note documents: HTML from Jinja2 templates (money and dates formatted for the client's
locale with Babel); the built-in document's PDF with Typst (`templates/invoice.typ`, from the same words and figures:
`_typst.py`), a company's own HTML template's PDF from its HTML with WeasyPrint.

Templates come from a folder (`BILLABLE_TEMPLATES_DIR`): `invoice.html.j2` for the workspace,
`clients/<client id>/invoice.html.j2` for one client, the built-in template otherwise. Every template is
compiled and rendered against a sample document when the `Renderer` is made, so a broken template is refused
on load (`TemplateRefused`, with the file, the line and the error), never when an invoice is sent.
"""

from channels.documents._render import Renderer, TemplateRefused, default_renderer, html_to_pdf

__all__ = ["Renderer", "TemplateRefused", "default_renderer", "html_to_pdf"]
