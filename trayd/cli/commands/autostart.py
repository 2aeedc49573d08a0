"""`trayd autostart enable [--systemd] | disable | status [--json]` for the current user."""
from __future__ import annotations

import argparse

from trayd.cli.output import add_json_option, print_json, print_table
from trayd.config import Config
from trayd.i18n import _
from trayd.messages import autostart_method
from trayd.platform import autostart


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("autostart", help=_("start the agent at login (for this user)"))
    actions = p.add_subparsers(dest="autostart_action", metavar="ACTION")
    en = actions.add_parser("enable", help=_("start the agent at login"))
    en.add_argument("--systemd", action="store_true",
                    help=_("use the systemd user unit instead of the XDG autostart entry"))
    add_json_option(en)
    dis = actions.add_parser("disable", help=_("do not start the agent at login"))
    add_json_option(dis)
    st = actions.add_parser("status", help=_("show how the agent is started at login"))
    add_json_option(st)
    p.set_defaults(func=run)


def run(args: argparse.Namespace, cfg: Config) -> int:
    action = getattr(args, "autostart_action", None) or "status"
    if action == "enable":
        st = autostart.enable(systemd=args.systemd)
    elif action == "disable":
        st = autostart.disable()
    else:
        st = autostart.status()
    if getattr(args, "json", False):
        print_json(st.to_json())
        return 0
    rows = [(_("Autostart"), autostart_method(st.method))]
    if st.system_entry:
        rows.append((_("System entry"), st.system_entry))
    if st.user_entry:
        rows.append((_("User entry"), st.user_entry))
    if st.unit:
        rows.append((_("systemd unit"), st.unit + ("" if st.systemd_enabled
                                                  else " " + _("(not enabled)"))))
    print_table(rows)
    return 0
