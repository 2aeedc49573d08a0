"""Desktop UI: the tray (`tray.py`), the management window and the dialogs.

Every window runs in its own process, `python -m trayd.ui <command> …` (see
`trayd.ui.__main__.COMMANDS`), so Tk never fights the tray's GTK loop and a hung dialog
cannot take the agent down. Nothing here is imported by the CLI or the core: tkinter and
pystray are imported only inside these processes.
"""
