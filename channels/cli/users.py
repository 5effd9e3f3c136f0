"""`billable users ...`: people and their API tokens (admin work, done as the system)."""

from __future__ import annotations

import sys

import typer
from rich.table import Table

from channels.cli._common import SYSTEM, console, guarded, open_db, settings
from domain.model.roles import Role
from domain.services import sessions, users

app = typer.Typer(no_args_is_help=True, help="Add people, list them, give them a new API token.")


def _show_token(email: str, token: str) -> None:
    console.print(f"API token for [bold]{email}[/] (shown once; stored hashed):")
    console.print(token, markup=False, soft_wrap=True)
    console.print("Use it as: Authorization: Bearer <token>", style="dim", markup=False)


@app.command("add")
@guarded
def add(email: str = typer.Argument(..., help="The person's e-mail."),
        role: Role = typer.Option(..., "--role", help="owner, finance, account_manager, contractor or viewer."),
        name: str = typer.Option("", "--name", help="Their name, for people to read.")) -> None:
    """Add a user with a role and print their API token once."""
    db = open_db(settings())
    try:
        view, token = users.add_user(db.uow(), SYSTEM, users.UserIn(email=email, role=role, name=name))
    finally:
        db.dispose()
    console.print(f"[green]✓[/] Added {view.email} as {view.role}.")
    _show_token(view.email, token)


@app.command("list")
@guarded
def list_() -> None:
    """Everyone who can use billable, with their role."""
    db = open_db(settings())
    try:
        rows = users.list_users(db.uow(), SYSTEM)
    finally:
        db.dispose()
    if not rows:
        console.print("No users yet. Add one: billable users add EMAIL --role owner", markup=False)
        return
    table = Table(title="Users")
    for col in ("id", "e-mail", "name", "role", "active"):
        table.add_column(col)
    for u in rows:
        table.add_row(str(u.id), u.email, u.name, u.role, "yes" if u.active else "[red]no[/]")
    console.print(table)


@app.command("token")
@guarded
def token(email: str = typer.Argument(..., help="The user's e-mail.")) -> None:
    """Give a user a new API token (the old one stops working at once) and print it."""
    db = open_db(settings())
    try:
        new = users.rotate_token(db.uow(), SYSTEM, email)
    finally:
        db.dispose()
    console.print(f"[green]✓[/] New token for {email}; the old one no longer works.")
    _show_token(email, new)


@app.command("set-password")
@guarded
def set_password(email: str = typer.Argument(..., help="The user's e-mail."),
                 password_stdin: bool = typer.Option(False, "--password-stdin",
                                                     help="Read the password from standard input (for scripts).")
                 ) -> None:
    """Set a user's dashboard password (at least 10 characters; stored as an argon2 hash). Their open dashboard
    sessions end."""
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = typer.prompt("New password", hide_input=True, confirmation_prompt=True)
    db = open_db(settings())
    try:
        sessions.set_password(db.uow(), SYSTEM, email, password)
    finally:
        db.dispose()
    console.print(f"[green]✓[/] {email} can sign in to the dashboard at /app with that password.")


@app.command("sign-out")
@guarded
def sign_out(email: str = typer.Argument(..., help="The user's e-mail.")) -> None:
    """End every dashboard session of a user (a lost laptop, someone leaving)."""
    db = open_db(settings())
    try:
        ended = sessions.end_sessions(db.uow(), SYSTEM, email)
    finally:
        db.dispose()
    console.print(f"[green]✓[/] Signed {email} out of {ended} dashboard session{'' if ended == 1 else 's'}.")


@app.command("slack-link")
@guarded
def slack_link(slack_user: str = typer.Argument(..., help="The Slack member id, e.g. U012AB3CD."),
               email: str = typer.Argument(..., help="The billable user it is.")) -> None:
    """Map a Slack user to a billable user, whatever e-mail Slack shows for them (otherwise found by e-mail)."""
    from domain.services import slack

    db = open_db(settings())
    try:
        link = slack.link_slack_user(db.uow(), SYSTEM, slack_user, email)
    finally:
        db.dispose()
    console.print(f"[green]✓[/] Slack user {slack_user} is now {link.email} in billable.", markup=True)
