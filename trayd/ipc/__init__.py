"""The agent's socket: how the management window, the dialogs and the CLI reach tokens
while the agent runs.

Why a socket at all: the ePass2003's secure-messaging session belongs to the card, so a
second process binding the token breaks the first one's session and login. While the
agent runs, every front end therefore sends its token work to the agent's one PKCS#11
worker over `trayd.paths.agent_socket()` (JSON lines, mode 0600, peer uid checked) —
`trayd.ipc.client.connect()` on the front-end side, `trayd.ipc.server` inside the agent.
"""
