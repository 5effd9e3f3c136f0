"""The API's routes, one module per area; each handler is a few lines calling one service function."""

from channels.http._routes import (
    accounting_inbound,
    audit,
    chat,
    clients,
    documents,
    email,
    events,
    exports,
    hosted,
    imports,
    invoices,
    payments,
    work,
    workspace,
)

# Webhooks first: senders deliver in bursts, and a request is matched against the routes in this order.
ROUTERS = [events.webhooks, accounting_inbound.webhooks, clients.router, clients.amendments, work.router,
           invoices.router, audit.router, workspace.router, chat.router, documents.router, hosted.router, events.router,
           email.router, payments.router, exports.router, imports.router, accounting_inbound.router]

__all__ = ["ROUTERS"]
