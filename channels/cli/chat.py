"""`billable chat --as EMAIL` (a conversation; confirmations as y/n) and `billable ask --as EMAIL "..."` (one turn,
for scripts). The agent acts as that person, with their role; every change is in the audit log as
"agent for EMAIL"."""

from __future__ import annotations

from typing import TYPE_CHECKING

import typer
from rich.markdown import Markdown
from rich.panel import Panel

from channels.cli._common import console, err, guarded, open_db, settings
from domain.errors import BillingError
from domain.model.roles import Actor
from domain.services import users

if TYPE_CHECKING:  # the agent (LangChain, the model clients) is imported by the commands that talk to it: every other
    from agent import Chat, Reply  # `billable` command starts ~2-3 s of CPU sooner without it

AS_PERSON = typer.Option(..., "--as", help="Talk as this user (their role decides what the agent may do).",
                         metavar="EMAIL")


def _show(reply: Reply) -> None:
    if reply.cancelled is not None:
        console.print(f"[yellow]Cancelled, nothing done:[/] {reply.cancelled.summary}", soft_wrap=True)
    said = reply.text
    if reply.pending is not None:  # the summary gets its own panel below
        said = said.split("Please confirm:", 1)[0].strip()
    if said:
        console.print(Markdown(said))
    if reply.pending is not None:
        n = len(reply.pending.actions)
        title = "Please confirm" + (f" (all {n} together)" if n > 1 else "")
        console.print(Panel(reply.pending.summary, title=title, border_style="yellow"))


def _confirm(bot: Chat, actor: Actor, thread: str, reply: Reply) -> Reply:
    """Ask y/n for what waits (one answer for all the changes shown together); an answer other than yes (or end of
    input) is a no."""
    from agent import Channel
    while reply.pending is not None:
        try:
            yes = typer.confirm("Go ahead?", default=False)
        except typer.Abort:
            yes = False
        reply = bot.decide(actor, thread, reply.pending.id, "approve" if yes else "reject", channel=Channel.CLI)
        _show(reply)
    return reply


def _who(db_actor: Actor) -> str:
    return f"{db_actor.email} ({db_actor.role.value.replace('_', ' ')})"


@guarded
def chat(as_email: str = AS_PERSON) -> None:
    """Chat with the billing agent: ask status, explain changes, draft, issue (after your y/n), log time."""
    from agent import Channel, Chat
    s = settings()
    db = open_db(s)
    bot = None
    try:
        actor = users.actor_by_email(db.uow(), as_email)
        bot = Chat.open(db, s)
        thread = bot.open_thread(actor)
        model = s.model or "the offline interpreter (set BILLABLE_MODEL for a real model)"
        console.print(f"[bold]billable chat[/] as {_who(actor)} · model: {model}\n"
                      "Type [bold]help[/] for what I understand, [bold]quit[/] to leave.", soft_wrap=True)
        while True:
            try:
                text = console.input("[bold cyan]you>[/] ")
            except (EOFError, KeyboardInterrupt):
                console.print()
                break
            if text.strip().lower() in ("quit", "exit", "bye", ":q"):
                break
            if not text.strip():
                continue
            try:
                reply = bot.send(actor, thread, text, Channel.CLI)
                _show(reply)
                _confirm(bot, actor, thread, reply)
            except BillingError as e:  # e.g. the model endpoint is down: say so and keep the conversation
                err.print(f"[red]{e.message}[/]", soft_wrap=True)
    finally:
        if bot is not None:
            bot.close()
        db.dispose()


@guarded
def ask(question: str = typer.Argument(..., help="What to ask or ask for, e.g. \"what's overdue?\""),
        as_email: str = AS_PERSON,
        yes: bool = typer.Option(False, "--yes", help="Confirm what needs confirming (with a model: every change "
                                                      "to the books; offline: issue, approve, void, credit, "
                                                      "payment, send). Without it those are not offered.")) -> None:
    """One question or request, one answer (for scripts). Nothing that waits for a confirmation without --yes."""
    from agent import Channel, Chat
    s = settings()
    db = open_db(s)
    bot = None
    try:
        actor = users.actor_by_email(db.uow(), as_email)
        bot = Chat.open(db, s)
        thread = bot.open_thread(actor)
        reply = bot.send(actor, thread, question, Channel.CLI if yes else Channel.SCRIPT)
        while reply.pending is not None:
            console.print(f"[yellow]Confirmed by --yes:[/] {reply.pending.summary}", soft_wrap=True)
            reply = bot.decide(actor, thread, reply.pending.id, "approve", channel=Channel.CLI)
        console.print(reply.text, soft_wrap=True, markup=False)
    finally:
        if bot is not None:
            bot.close()
        db.dispose()
