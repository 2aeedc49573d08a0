"""The certificate viewer of §4.3: tabs 全般 and 詳細, like Windows' certificate dialog.

詳細 lists フィールド / 値 rows (バージョン, シリアル番号 in hex pairs, 署名アルゴリズム,
発行者, 有効期間の開始, 有効期間の終了, サブジェクト, 公開キー, …, 拇印, 証明書 ID);
clicking a row shows its full value in the box below — that is how the manual finds the
certificate ID (§4.3④: click サブジェクト, read the ES…/FC… value in the box).

`certificate_fields()` is pure (DER in, rows out) so it is testable without a display.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import tkinter as tk
from dataclasses import dataclass
from tkinter import ttk

from trayd.core.certificates import serial_hex
from trayd.core.models import CertificateInfo
from trayd.i18n import _, current_language
from trayd.ui.dialogs.base import Dialog
from trayd.ui.tk_hook import hook_info, hook_register, hook_tree

# Short names Windows uses for subject/issuer attributes.
_ATTR = {
    "2.5.4.3": "CN", "2.5.4.6": "C", "2.5.4.7": "L", "2.5.4.8": "S", "2.5.4.10": "O",
    "2.5.4.11": "OU", "2.5.4.5": "SERIALNUMBER", "2.5.4.4": "SN", "2.5.4.42": "G",
    "2.5.4.12": "T", "2.5.4.9": "STREET", "2.5.4.17": "PostalCode",
    "1.2.840.113549.1.9.1": "E", "0.9.2342.19200300.100.1.25": "DC",
    "0.9.2342.19200300.100.1.1": "UID",
}
_SIG = {
    "sha1WithRSAEncryption": "sha1RSA", "sha256WithRSAEncryption": "sha256RSA",
    "sha384WithRSAEncryption": "sha384RSA", "sha512WithRSAEncryption": "sha512RSA",
    "ecdsa-with-SHA256": "sha256ECDSA", "ecdsa-with-SHA384": "sha384ECDSA",
    "ecdsa-with-SHA512": "sha512ECDSA", "rsassaPss": "RSASSA-PSS",
}
_EXT_NAMES = {
    "keyUsage": "Key Usage", "extendedKeyUsage": "Enhanced Key Usage",
    "subjectKeyIdentifier": "Subject Key Identifier",
    "authorityKeyIdentifier": "Authority Key Identifier",
    "basicConstraints": "Basic Constraints", "subjectAltName": "Subject Alternative Name",
    "cRLDistributionPoints": "CRL Distribution Points",
    "authorityInfoAccess": "Authority Information Access",
    "certificatePolicies": "Certificate Policies",
}


@dataclass
class Field:
    key: str     # stable name for tests ("serial", "subject", "certificate_id", …)
    name: str    # translated field name (フィールド)
    value: str   # one-line value (値)
    full: str    # what the box below shows when the row is clicked


def hex_pairs(data: bytes) -> str:
    """Windows' style for hex values: lower-case pairs, e.g. ``01 a2 ff``."""
    return " ".join(f"{b:02x}" for b in data)


def format_time(when: dt.datetime) -> str:
    """Local time the way Windows' viewer writes it (「2021年9月2日 10:00:00」 in Japanese)."""
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.timezone.utc)
    local = when.astimezone()
    if current_language() == "ja":
        return f"{local.year}年{local.month}月{local.day}日 {local:%H:%M:%S}"
    return local.strftime("%B %-d, %Y %H:%M:%S")


def format_date(when: dt.datetime) -> str:
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.timezone.utc)
    return f"{when.astimezone():%Y/%m/%d}"


def _name_parts(name) -> list[tuple[str, str]]:  # noqa: ANN001 - cryptography Name
    parts = []
    for rdn in reversed(list(name.rdns)):
        for attr in rdn:
            parts.append((_ATTR.get(attr.oid.dotted_string, attr.oid.dotted_string),
                          str(attr.value)))
    return parts


def _name_short(name) -> str:  # noqa: ANN001
    return ", ".join(f"{k} = {v}" for k, v in _name_parts(name))


def _name_full(name) -> str:  # noqa: ANN001
    return "\n".join(f"{k} = {v}" for k, v in _name_parts(name))


def common_name(name) -> str:  # noqa: ANN001
    for k, v in _name_parts(name):
        if k == "CN":
            return v
    parts = _name_parts(name)
    return parts[0][1] if parts else ""


def _ext_value(ext) -> tuple[str, str]:  # noqa: ANN001
    """(one-line, full) text for an extension; generic hex when we don't know it."""
    from cryptography import x509

    v = ext.value
    try:
        if isinstance(v, x509.KeyUsage):
            names = []
            for attr, label in (("digital_signature", "Digital Signature"),
                                ("content_commitment", "Non-Repudiation"),
                                ("key_encipherment", "Key Encipherment"),
                                ("data_encipherment", "Data Encipherment"),
                                ("key_agreement", "Key Agreement"),
                                ("key_cert_sign", "Certificate Signing"),
                                ("crl_sign", "Off-line CRL Signing, CRL Signing")):
                if getattr(v, attr):
                    names.append(label)
            one = ", ".join(names)
            return one, "\n".join(names)
        if isinstance(v, x509.ExtendedKeyUsage):
            names = [f"{getattr(o, '_name', o.dotted_string)} ({o.dotted_string})" for o in v]
            return ", ".join(names), "\n".join(names)
        if isinstance(v, x509.BasicConstraints):
            one = f"Subject Type={'CA' if v.ca else 'End Entity'}, " \
                  f"Path Length Constraint={'None' if v.path_length is None else v.path_length}"
            return one, one.replace(", ", "\n")
        if isinstance(v, x509.SubjectKeyIdentifier):
            return v.digest.hex(), v.digest.hex()
        if isinstance(v, x509.AuthorityKeyIdentifier) and v.key_identifier:
            text = f"KeyID={v.key_identifier.hex()}"
            return text, text
        if isinstance(v, x509.SubjectAlternativeName):
            names = [f"{type(g).__name__.replace('Name', '')}={g.value}" for g in v]
            return ", ".join(names), "\n".join(names)
    except Exception:  # noqa: BLE001 - an odd extension must not break the viewer
        pass
    raw = getattr(v, "value", None)
    if isinstance(raw, bytes):
        return hex_pairs(raw[:32]) + (" …" if len(raw) > 32 else ""), hex_pairs(raw)
    text = str(v)
    return text[:120], text


def certificate_fields(der: bytes | None, info: CertificateInfo | None) -> list[Field]:
    """The 詳細 tab's rows, in Windows' order, plus the certificate ID (manual §4.3④)."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec, rsa

    from trayd.core.certificates import load_der_or_none, not_after, not_before

    rows: list[Field] = []
    cert = load_der_or_none(der)
    if cert is not None:
        version = f"V{cert.version.value + 1}"
        rows.append(Field("version", _("Version"), version, version))
        sn = _serial_pairs(serial_hex(cert.serial_number))  # as without the DER below
        rows.append(Field("serial", _("Serial number"), sn, sn))
        oid = cert.signature_algorithm_oid
        sig = _SIG.get(getattr(oid, "_name", ""), getattr(oid, "_name", oid.dotted_string))
        rows.append(Field("signature_algorithm", _("Signature algorithm"), sig, sig))
        h = cert.signature_hash_algorithm
        if h is not None:
            rows.append(Field("signature_hash", _("Signature hash algorithm"), h.name, h.name))
        rows.append(Field("issuer", _("Issuer"), _name_short(cert.issuer),
                          _name_full(cert.issuer)))
        nb, na = not_before(cert), not_after(cert)
        rows.append(Field("not_before", _("Valid from"), format_time(nb), format_time(nb)))
        rows.append(Field("not_after", _("Valid to"), format_time(na), format_time(na)))
        rows.append(Field("subject", _("Subject"), _name_short(cert.subject),
                          _name_full(cert.subject)))
        pub = cert.public_key()
        if isinstance(pub, rsa.RSAPublicKey):
            short = f"RSA ({pub.key_size} Bits)"
        elif isinstance(pub, ec.EllipticCurvePublicKey):
            short = f"ECC ({pub.curve.key_size} Bits)"
        else:
            short = type(pub).__name__
        spki = pub.public_bytes(serialization.Encoding.DER,
                                serialization.PublicFormat.SubjectPublicKeyInfo)
        rows.append(Field("public_key", _("Public Key"), short, _wrap(hex_pairs(spki))))
        for ext in cert.extensions:
            oname = getattr(ext.oid, "_name", ext.oid.dotted_string)
            label = _(_EXT_NAMES[oname]) if oname in _EXT_NAMES else oname
            one, full = _ext_value(ext)
            rows.append(Field(f"ext.{oname}", label, one, full))
        rows.append(Field("thumbprint_algorithm", _("Thumbprint algorithm"), "sha1", "sha1"))
        sha1 = hashlib.sha1(der).hexdigest()  # noqa: S324 - display only, like Windows
        rows.append(Field("thumbprint", _("Thumbprint"), sha1, sha1))
        sha256 = hashlib.sha256(der).hexdigest()
        rows.append(Field("thumbprint_sha256", _("Thumbprint (SHA-256)"), sha256, sha256))
    elif info is not None:
        for key, name, value in (("serial", _("Serial number"),
                                  _serial_pairs(info.serial_hex)),
                                 ("issuer", _("Issuer"), info.issuer),
                                 ("not_before", _("Valid from"), info.not_before),
                                 ("not_after", _("Valid to"), info.not_after),
                                 ("subject", _("Subject"), info.subject),
                                 ("thumbprint", _("Thumbprint"), (info.sha1 or "").lower())):
            if value:
                rows.append(Field(key, name, value, value))
    cid = info.certificate_id if info else None
    if cid:
        rows.append(Field("certificate_id", _("Certificate ID"), cid, cid))
    return rows


def _serial_pairs(text: str | None) -> str | None:
    """The core's `serial_hex` as Windows shows a serial: the DER INTEGER's content bytes
    (a leading 00 when the top bit is set), in pairs."""
    if not text:
        return None
    raw = bytes.fromhex(text)
    if raw and raw[0] & 0x80:
        raw = b"\0" + raw
    return hex_pairs(raw)


def _wrap(text: str, width: int = 48) -> str:
    return "\n".join(text[i:i + width] for i in range(0, len(text), width))


class CertificateViewer(Dialog):
    """全般 / 詳細 tabs for one certificate; `result` is always None."""

    def __init__(self, parent: tk.Misc, info: CertificateInfo | None, der: bytes | None) -> None:
        super().__init__(parent, _("Certificate"), "cert")
        self.resizable(True, True)
        self.fields = certificate_fields(der, info)
        nb = ttk.Notebook(self)
        nb.pack(fill="both", expand=True, padx=10, pady=(10, 6))
        hook_register("cert.tabs", nb)
        general = ttk.Frame(nb, padding=14)
        details = ttk.Frame(nb, padding=10)
        nb.add(general, text=_("General"))
        nb.add(details, text=_("Details"))
        self.notebook = nb
        self._build_general(general, info, der)
        self._build_details(details)
        bottom = ttk.Frame(self, padding=(10, 0, 10, 10))
        bottom.pack(fill="x")
        ok = ttk.Button(bottom, text="OK", width=10, command=self.cancel, default="active")
        ok.pack(side="right")
        hook_register("cert.ok", ok)
        self.ok = ok
        nb.bind("<<NotebookTabChanged>>", self._tab_changed)
        self.bind("<Map>", lambda _e: self.after(100, self._publish_tabs), add="+")

    def _publish_tabs(self) -> None:
        # Tab positions for GUI tests: ttk.Notebook tabs are not widgets of their own.
        from trayd.ui import tk_hook

        if tk_hook._hook is None:
            return
        try:
            nb = self.notebook
            tabs = [nb.tab(i, "text") for i in range(len(nb.tabs()))]
            hook_info("cert.tabs", tabs)
            boxes: dict[int, list[int]] = {}
            for y in range(2, 40, 4):
                for x in range(0, nb.winfo_width(), 3):
                    try:
                        i = nb.index(f"@{x},{y}")
                    except tk.TclError:
                        continue
                    if isinstance(i, int) and i >= 0:
                        b = boxes.setdefault(i, [x, y, x, y])
                        b[0], b[1] = min(b[0], x), min(b[1], y)
                        b[2], b[3] = max(b[2], x), max(b[3], y)
            hook_info("cert.tab_centres", {
                tabs[i]: [nb.winfo_rootx() + (b[0] + b[2]) // 2,
                          nb.winfo_rooty() + (b[1] + b[3]) // 2]
                for i, b in boxes.items() if i < len(tabs)})
            hook_info("cert.tab", self.notebook.index("current"))
        except tk.TclError:
            pass

    def _tab_changed(self, _e: tk.Event) -> None:
        self._publish_tabs()

    def _build_general(self, frame: ttk.Frame, info: CertificateInfo | None,
                       der: bytes | None) -> None:
        from cryptography import x509

        from trayd.core.certificates import extension, load_der_or_none, not_after, not_before

        ttk.Label(frame, text=_("Certificate Information"), style="Heading.TLabel").grid(
            row=0, column=0, columnspan=2, sticky="w", pady=(0, 10))
        cert = load_der_or_none(der)
        rows: list[tuple[str, str]] = []
        if cert is not None:
            eku = extension(cert, x509.ExtendedKeyUsage)
            purposes = ("\n".join(_purpose(o) for o in eku) if eku is not None
                        else _("All application policies"))
            rows.append((_("This certificate is intended for:"), purposes))
            rows.append((_("Issued to:"), common_name(cert.subject)))
            rows.append((_("Issued by:"), common_name(cert.issuer)))
            rows.append((_("Valid from:"), _("{start} to {end}").format(
                start=format_date(not_before(cert)), end=format_date(not_after(cert)))))
        elif info is not None:
            if info.error:
                rows.append((_("Error:"), info.error))
            rows.append((_("Label:"), info.label))
        if info is not None and info.certificate_id:
            rows.append((_("Certificate ID:"), info.certificate_id))
        for i, (k, v) in enumerate(rows, start=1):
            ttk.Label(frame, text=k).grid(row=i, column=0, sticky="nw", pady=3, padx=(0, 12))
            lbl = ttk.Label(frame, text=v, wraplength=380, justify="left")
            lbl.grid(row=i, column=1, sticky="nw", pady=3)
        frame.columnconfigure(1, weight=1)

    def _build_details(self, frame: ttk.Frame) -> None:
        tree = ttk.Treeview(frame, columns=("value",), show="headings tree", height=11,
                            selectmode="browse")
        tree.heading("#0", text=_("Field"), anchor="w")
        tree.heading("value", text=_("Value"), anchor="w")
        tree.column("#0", width=190, stretch=False)
        tree.column("value", width=360, stretch=True)
        scroll = ttk.Scrollbar(frame, orient="vertical", command=tree.yview)
        tree.configure(yscrollcommand=scroll.set)
        tree.grid(row=0, column=0, sticky="nsew")
        scroll.grid(row=0, column=1, sticky="ns")
        for f in self.fields:
            tree.insert("", "end", iid=f.key, text=f.name, values=(f.value,))
        box = tk.Text(frame, height=7, width=60, wrap="word", relief="sunken", borderwidth=1,
                      font="TkFixedFont")
        box.grid(row=1, column=0, columnspan=2, sticky="nsew", pady=(8, 0))
        box.configure(state="disabled")
        frame.rowconfigure(0, weight=1)
        frame.rowconfigure(1, weight=0)
        frame.columnconfigure(0, weight=1)
        tree.bind("<<TreeviewSelect>>", self._selected)
        self.tree, self.box = tree, box
        hook_tree("cert.fields", tree)
        hook_register("cert.box", box)

    def _selected(self, _e: tk.Event | None = None) -> None:
        sel = self.tree.selection()
        field = next((f for f in self.fields if sel and f.key == sel[0]), None)
        self.box.configure(state="normal")
        self.box.delete("1.0", "end")
        if field:
            self.box.insert("1.0", field.full)
        self.box.configure(state="disabled")
        # The box shows certificate data only (public), never a PIN: safe for the test hook.
        hook_info("cert.box", field.full if field else "")


def _purpose(oid) -> str:  # noqa: ANN001
    from cryptography.x509.oid import ExtendedKeyUsageOID as K

    names = {
        K.CLIENT_AUTH.dotted_string: _("Proves your identity to a remote computer"),
        K.SERVER_AUTH.dotted_string: _("Ensures the identity of a remote computer"),
        K.EMAIL_PROTECTION.dotted_string: _("Protects e-mail messages"),
        K.CODE_SIGNING.dotted_string: _("Ensures software came from software publisher"),
    }
    return "• " + names.get(oid.dotted_string, getattr(oid, "_name", oid.dotted_string))


def show_certificate(parent: tk.Misc, info: CertificateInfo | None, der: bytes | None) -> None:
    d = CertificateViewer(parent, info, der)
    d.show(d.ok)
