"""Pure logic behind the dialogs: soft keyboard layout, export naming/format, the
certificate viewer's 詳細 rows. No display needed."""
from __future__ import annotations

import string
from pathlib import Path

from cryptography import x509

from trayd.core.models import CertificateInfo
from trayd.ui.dialogs.cert_viewer import certificate_fields
from trayd.ui.dialogs.export_dialog import default_file_name, format_for
from trayd.ui.soft_keyboard import ROWS, all_characters, display_label, key_name


def test_soft_keyboard_has_the_manuals_rows_and_every_printable_character():
    first = [display_label(k).replace("\n", " ") for k in ROWS[0]]
    assert first[:4] == ["~ `", "% 5", "& 7", "! 1"] and first[-1] == "<-Bspc"
    assert [display_label(k) for k in ROWS[1][:10]] == list("QWERTYUIOP")
    assert ROWS[1][-1] == "Del" and ROWS[2][0] == "Caps" and ROWS[2][-2:] == ["Home", "End"]
    assert ROWS[3][0] == "Shift" and ROWS[3][-1] == "Space"
    assert display_label(("|", "\\")) == "|\n¥"  # the manual's label; types a backslash
    printable = set(string.ascii_letters + string.digits + string.punctuation + " ")
    assert all_characters() == printable
    names = [key_name(k) for row in ROWS for k in row]
    assert len(names) == len(set(names))


def test_export_format_and_default_name():
    assert format_for(Path("/x/a.cer"), False) == (Path("/x/a.cer"), "der")
    assert format_for(Path("/x/a.pem"), False) == (Path("/x/a.pem"), "pem")
    assert format_for(Path("/x/a.cer"), True) == (Path("/x/a.pem"), "pem")
    assert format_for(Path("/x/a"), False) == (Path("/x/a"), "der")
    c = CertificateInfo(token_serial="s", label="User / Cert", id="01", readable=True,
                        certificate_id="ES0123456789AB")
    assert default_file_name(c) == "ES0123456789AB.cer"
    c.certificate_id = None
    assert default_file_name(c) == "User_Cert.cer"


def test_certificate_fields_from_the_test_pki(pki):
    der = pki.user_der
    cert = x509.load_der_x509_certificate(der)
    info = CertificateInfo(token_serial="s", label="u", id="01", readable=True,
                           certificate_id="ES0123456789AB")
    rows = {f.key: f for f in certificate_fields(der, info)}
    assert rows["version"].value == "V3"
    # Windows' form: the DER INTEGER's content bytes (00 first when the top bit is set).
    content = cert.serial_number.to_bytes(cert.serial_number.bit_length() // 8 + 1, "big")
    assert rows["serial"].value == " ".join(f"{b:02x}" for b in content)
    # One serial format: the summary the core made from the same certificate shows alike.
    from trayd.core.certificates import summarize

    summary = summarize(der, token_serial="s", label="u", id_hex="01")
    no_der = {f.key: f for f in certificate_fields(None, summary)}
    assert no_der["serial"].value == rows["serial"].value
    assert rows["certificate_id"].value == "ES0123456789AB"
    assert "ES0123456789AB" in rows["subject"].full
    assert rows["public_key"].value.startswith("RSA (")
    assert len(rows["thumbprint"].value) == 40
    # Without DER (unreadable certificate) the core's summary still fills the basics.
    info.serial_hex = "0A0B"
    rows = {f.key: f for f in certificate_fields(None, info)}
    assert rows["serial"].value == "0a 0b"
    info.serial_hex = "9F01"
    rows = {f.key: f for f in certificate_fields(None, info)}
    assert rows["serial"].value == "00 9f 01"


def test_dialogs_and_token_service_ask_at_the_same_try(home):
    """One last-try rule: after n wrong PINs the dialog's warning and the token service's
    ConfirmationRequired come at the same n; the token's own "final try" wins."""
    from trayd import errors as E
    from trayd.core.models import TokenInfo
    from trayd.core.pin_counter import PinFailureCounter
    from trayd.ui.dialogs.errors import is_last_try, token_on_last_try

    counter = PinFailureCounter()
    asked = []
    for n in range(1, 5):
        counter.record_failure("S")
        service = counter.needs_last_try_confirmation("S", 4)
        dialog = is_last_try(E.WrongPin(failures_seen=n, max_tries=4))
        assert service == dialog
        asked.append(dialog)
    assert asked == [False, False, True, True]
    assert is_last_try(E.WrongPin(tries_left=1, failures_seen=0, max_tries=10))
    assert not is_last_try(E.WrongPin(tries_left=3, failures_seen=9, max_tries=10))
    final = TokenInfo(reader="R", slot=0, label="L", serial="S", manufacturer="M",
                      model="ePass2003", tries_left=1, flags=["user_pin_final_try"])
    assert token_on_last_try(final)
    assert not token_on_last_try(None)
    assert not token_on_last_try(TokenInfo(reader="R", slot=0, label="L", serial="S",
                                           manufacturer="M", model="ePass2003"))
