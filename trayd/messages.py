"""Words for errors: the one place where a typed error becomes a sentence.

Why here and not in the errors: the CLI, the tray and the dialogs all show the same
failures, in the user's language, and the wording follows the ePass2003 manual.
"""
from __future__ import annotations

from trayd import errors as E
from trayd.i18n import _


def describe(err: BaseException) -> str:
    """A user-facing sentence for `err` in the active language."""
    if isinstance(err, E.WrongPin):
        return wrong_pin_text(err)
    if isinstance(err, E.PinLocked):
        return pin_locked_text()
    if isinstance(err, E.PinPolicyError):
        if err.reason == "too_short":
            return _("The PIN is too short (at least {n} characters).").format(n=err.minimum)
        if err.reason == "too_long":
            return _("The PIN is too long (at most {n} characters).").format(n=err.maximum)
        if err.reason == "mismatch":
            return _("The new PIN and its re-entry do not match.")
        if err.reason == "same_as_current":
            return _("The new PIN is the same as the current PIN.")
        if err.reason == "empty":
            return _("No PIN was entered.")
        if err.reason == "weak":
            return _("The new PIN is weak (strength: low).")
        return _("The PIN was refused: {reason}").format(reason=err.reason)
    if isinstance(err, E.NoSuchToken):
        if err.serial:
            return _("No token with serial {serial} is connected.").format(serial=err.serial)
        if err.present > 1:
            return _("{n} tokens are connected; choose one with --token SERIAL.").format(
                n=err.present
            )
        return _("No token is connected. Please insert the USB token (ePass2003).")
    if isinstance(err, E.NoSuchCertificate):
        return _("No certificate with ID {id} on token {serial}.").format(
            id=err.cert_id, serial=err.token_serial
        )
    if isinstance(err, E.TokenRemoved):
        if err.operation == "change_pin":
            # The CHANGE PIN command may have reached the token before it left.
            return _("The token was removed during the PIN change. The PIN may or may not "
                     "have been changed; try the current PIN first, then the new one.")
        return _("The token was removed during the operation. Nothing was changed.")
    if isinstance(err, E.PcscUnavailable):
        if err.denied:
            return pcscd_denied_text()
        return _(
            "The smart card service (pcscd) is not running. Start it with "
            "'sudo systemctl start pcscd.socket'."
        )
    if isinstance(err, E.Pkcs11ModuleError):
        return _("The PKCS#11 module could not be loaded ({path}): {detail}").format(
            path=err.path or "opensc-pkcs11.so", detail=err.detail
        )
    if isinstance(err, E.TokenBusy):
        if err.pin_may_be_checked:
            return _("Another application (for example a web browser) used the token at the "
                     "same moment. The token may have checked the PIN, so trayd did not send "
                     "it again. Please try again.")
        return _("Another application (for example a web browser) is using the token, or the "
                 "token does not answer correctly, and trayd could not take it back. Nothing "
                 "was changed and no PIN try was used. Finish or close what uses the token "
                 "in the other application, remove and re-insert the token, then try again.")
    if isinstance(err, E.TokenError):
        return _token_error(err)
    if isinstance(err, E.Cancelled):
        return _("Cancelled.")
    if isinstance(err, E.ConfirmationRequired):
        if err.reason == "last_try":
            return last_try_warning() + " " + _("Confirm with --yes to try anyway.")
        if err.reason == "weak_pin":
            return _("The new PIN is weak (strength: low). Confirm with --yes to use it anyway.")
        return _("Confirmation is required.")
    if isinstance(err, E.FileExistsRefused):
        return _("{path} already exists. Use --force to overwrite it.").format(path=err.path)
    if isinstance(err, E.AlreadyRunning):
        return _("trayd is already running in this session (pid {pid}).").format(pid=err.pid)
    if isinstance(err, E.NotCertificateAuthority):
        why = {
            "basic_constraints_not_ca": _("its Basic Constraints say it is not a CA"),
            "end_entity": _("it is an end-entity certificate (not self-signed, not an issuer)"),
            "unparseable": _("it is not a readable X.509 certificate"),
        }.get(err.reason, err.reason)
        return _("Refused: {subject} is not a CA certificate ({why}).").format(
            subject=err.subject or "?", why=why)
    if isinstance(err, E.NssToolError):
        if err.detail == "missing":
            return _("{tool} is not installed (package libnss3-tools).").format(tool=err.tool)
        return _("{tool} failed on {db}: {detail}").format(
            tool=err.tool, db=err.database or "-", detail=err.detail)
    if isinstance(err, E.AgentUnavailable):
        return _("The trayd agent stopped answering. Please try again.")
    if isinstance(err, E.UsageError):
        return err.detail
    return _("Error: {detail}").format(detail=str(err) or type(err).__name__)


def wrong_pin_text(err: E.WrongPin) -> str:
    """The one wrong-PIN message (CLI, tray, dialogs): the manual's sentence, then the tries
    left when the token says, else trayd's own count of consecutive failures."""
    text = _("The PIN is incorrect.\nPlease check your PIN number and try again.")
    if err.tries_left is not None:
        text += "\n" + _("Tries left: {n}").format(n=err.tries_left)
    elif err.failures_seen and err.max_tries:
        text += "\n" + _("Wrong PINs in a row: {seen} of {max} (the token locks after {max} "
                         "in a row).").format(seen=err.failures_seen, max=err.max_tries)
    elif err.failures_seen:
        text += "\n" + _("Wrong PINs in a row: {seen}").format(seen=err.failures_seen)
    return text


def pin_locked_text() -> str:
    """The one lock notice (CLI, tray, dialogs; manual §4.2 ※). Present tense on purpose:
    `PinLocked` comes both from the try that locked the token and from a token locked
    long before, and "is locked" is true of both ("was just locked" only of the first)."""
    return _("The token is locked because a wrong PIN was entered too many times in a row.\n"
             "A locked USB token can no longer be used.\n"
             "Please contact the certificate issuer.")


def last_try_warning() -> str:
    """The one warning before the last try (the PIN dialogs' question, the CLI's question
    and its refusal without --yes; manual §4.2 ※)."""
    return _("If this PIN is wrong too, the token will be locked and can no longer be used.")


def last_try_question() -> str:
    """The warning as a yes/no question (dialogs, the CLI on a terminal)."""
    return last_try_warning() + "\n" + _("Do you want to continue?")


def _token_error(err: E.TokenError) -> str:
    """Words and a next step for each kind of PKCS#11 failure (`trayd.core.ckr`)."""
    from trayd.core import ckr

    kind = err.kind or (ckr.kind(err.rv) if err.rv is not None else "")
    if not kind and err.code.startswith("CKR_"):
        kind = "card"
    words = {
        "removed": _("The token was removed during the operation. Nothing was changed."),
        "unrecognized": _("The token was not recognised. Check that it is an ePass2003 and "
                          "run 'trayd doctor'."),
        "pin": _("The token refused the PIN. Check the PIN and try again."),
        "login": _("The token's login state does not allow this. Log in again with "
                   "'trayd login' and retry."),
        "login_unclear": _("The token refused the login without saying whether the PIN was "
                           "wrong. trayd did not send it again. Please try once more; if it "
                           "keeps failing, remove and re-insert the token."),
        "card": _("The token could not complete the operation. Remove the token, insert it "
                  "again and retry; if it keeps failing, run 'trayd doctor'."),
        "memory": _("There was not enough memory for the operation. Close some applications "
                    "and try again."),
        "busy": _("The token is busy with another operation. Wait a moment and try again."),
        "read_only": _("The token does not allow this change (it is write-protected)."),
        "cancelled": _("The operation was cancelled."),
        "unsupported": _("The token does not support this operation."),
        "internal": _("trayd and the token software (OpenSC) did not understand each other. "
                      "Please try again; if it keeps happening, run 'trayd doctor' and "
                      "report it."),
    }
    if kind in words:
        return words[kind]
    return _("The token reported an error: {code} {detail}").format(
        code=err.code, detail=err.detail).strip()


def pcscd_denied_fix() -> str:
    """What to do when pcscd refuses this session (polkit): shared by every front end."""
    return _("Use the token from the active local desktop session (not over SSH or from a "
             "service), or allow this user with a polkit rule for "
             "org.debian.pcsc-lite.access_pcsc and org.debian.pcsc-lite.access_card.")


def pcscd_denied_text() -> str:
    """pcscd runs but refused us (SCARD_W_SECURITY_VIOLATION): not the same as "not running"."""
    return _("The smart card service (pcscd) refused access (polkit).") + " " + pcscd_denied_fix()


def autostart_method(method: str) -> str:
    """How the agent starts at login, in words (`trayd autostart` and `trayd doctor`)."""
    return {
        "xdg": _("at login, by the XDG autostart entry"),
        "systemd": _("at login, by the systemd user unit (trayd.service)"),
        "both": _("at login, by the XDG autostart entry and the systemd user unit "
                  "(the second copy exits at once)"),
        "none": _("not started at login"),
    }.get(method, method)
