"""trayd: a user-session agent for USB PKI tokens (first of all the Feitian ePass2003)."""

__version__ = "0.1.0"
APP_ID = "trayd"
