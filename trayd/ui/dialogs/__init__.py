"""The management tool's dialogs (manual §4.2–§4.6), each a modal Tk Toplevel.

Inside the management window they are Toplevels of its root; `python -m trayd.ui <cmd>`
runs one on a withdrawn root of its own. Token work goes through a `TokenBackend` on the
shared `BackendWorker`, never on the Tk thread.
"""
