"""The PKCS#15 file system an OpenSC-initialised ePass2003 holds, built as DER bytes.

Why hand-written DER: the structures are small and fixed, and writing each byte here
shows exactly what OpenSC's PKCS#15 parser gets (no ASN.1 compiler to trust). Layout
(epass2003-card.md, "File system"): MF 3F00 -> DF 5015 with ODF 5031, TokenInfo 5032,
AODF 4401, PrKDF 4402, CDF 4404, MAXPIN 9F00 and one file per certificate (31xx).
"""
from __future__ import annotations

from dataclasses import dataclass, field

AID_PKCS15 = bytes.fromhex("A000000063504B43532D3135")
PIN_REFERENCE = 1
KEY_REFERENCE = 0
USER_KEY_ID = b"\x01"
PIN_LABEL = "User PIN"


# --- DER -------------------------------------------------------------------------------
def der_len(n: int) -> bytes:
    if n < 0x80:
        return bytes([n])
    body = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(body)]) + body


def tlv(tag: int, value: bytes) -> bytes:
    return bytes([tag]) + der_len(len(value)) + value


def seq(*parts: bytes) -> bytes:
    return tlv(0x30, b"".join(parts))


def integer(n: int) -> bytes:
    body = n.to_bytes(max(1, (n.bit_length() + 8) // 8), "big")
    return tlv(0x02, body)


def octets(b: bytes) -> bytes:
    return tlv(0x04, b)


def utf8(s: str) -> bytes:
    return tlv(0x0C, s.encode())


def bits(*set_bits: int) -> bytes:
    """A DER BIT STRING with the given bit numbers set (bit 0 = MSB of the first byte)."""
    if not set_bits:
        return tlv(0x03, b"\x00")
    nbytes = max(set_bits) // 8 + 1
    val = bytearray(nbytes)
    for b in set_bits:
        val[b // 8] |= 0x80 >> (b % 8)
    last = val[-1]
    unused = (last & -last).bit_length() - 1 if last else 0
    return tlv(0x03, bytes([unused]) + bytes(val))


def path(p: bytes) -> bytes:
    return seq(octets(p))


# --- PKCS#15 objects ---------------------------------------------------------------------
def token_info(serial: bytes, label: str, manufacturer: str = "EnterSafe") -> bytes:
    # tokenflags: loginRequired(1), prnGeneration(2) as on an OpenSC-initialised token.
    return seq(integer(0), octets(serial), utf8(manufacturer), tlv(0x80, label.encode()),
               bits(1, 2))


def odf(df: bytes = b"\x3f\x00\x50\x15") -> bytes:
    return (tlv(0xA0, path(df + b"\x44\x02"))      # privateKeys -> PrKDF
            + tlv(0xA4, path(df + b"\x44\x04"))    # certificates -> CDF
            + tlv(0xA8, path(df + b"\x44\x01")))   # authObjects -> AODF


def aodf_user_pin(label: str = PIN_LABEL, auth_id: bytes = b"\x01") -> bytes:
    common = seq(utf8(label), bits(0, 1))  # private, modifiable
    cls = seq(octets(auth_id))
    # pinFlags: local(1), initialized(4), needs-padding(5)
    attrs = seq(bits(1, 4, 5), tlv(0x0A, b"\x01"), integer(4), integer(16), integer(16),
                tlv(0x80, bytes([PIN_REFERENCE])), octets(b"\x00"),
                path(b"\x3f\x00\x50\x15"))
    return seq(common, cls, tlv(0xA1, attrs))


def prkdf_rsa(label: str, key_id: bytes, modulus_bits: int = 2048,
              auth_id: bytes = b"\x01") -> bytes:
    common = seq(utf8(label), bits(0), octets(auth_id))  # private
    # usage: decrypt(1) sign(2) signRecover(3) unwrap(5); accessFlags: sensitive(0)
    # alwaysSensitive(2) neverExtractable(3) local(4)
    key_attrs = seq(octets(key_id), bits(1, 2, 3, 5), bits(0, 2, 3, 4),
                    integer(KEY_REFERENCE))
    type_attrs = seq(path(b"\x3f\x00\x50\x15\x29\x00"), integer(modulus_bits))
    return seq(common, key_attrs, tlv(0xA1, type_attrs))


def cdf_entry(label: str, cert_id: bytes, file_path: bytes, authority: bool = False) -> bytes:
    common = seq(utf8(label))
    cls = seq(octets(cert_id), tlv(0x01, b"\xff") if authority else b"")
    type_attrs = seq(path(file_path))
    return seq(common, cls, tlv(0xA1, type_attrs))


# --- the file system -----------------------------------------------------------------------
@dataclass
class EF:
    fid: int
    data: bytes


@dataclass
class DF:
    fid: int
    aid: bytes = b""
    files: dict[int, "EF | DF"] = field(default_factory=dict)


@dataclass
class CertObject:
    label: str
    cert_id: bytes
    der: bytes
    authority: bool = False


def wire_fid(fid: int) -> int:
    """The FID OpenSC's driver puts on the wire: 29xx..34xx have the low byte x 0x20."""
    hi, lo = fid >> 8, fid & 0xFF
    if hi in (0x29, 0x30, 0x31, 0x32, 0x33, 0x34):
        lo = (lo * 0x20) & 0xFF
    return (hi << 8) | lo


def cert_fid(index: int) -> int:
    """Certificate file i: 3100..3107 (hooked FIDs, as OpenSC's profile uses), then 4500+."""
    return 0x3100 + index if index < 8 else 0x4500 + index


def build_filesystem(*, serial: bytes, label: str, certs: list[CertObject],
                     key_label: str, max_tries: int, modulus_bits: int = 2048) -> DF:
    """MF with the PKCS#15 application for one RSA key and `certs` (first = user cert)."""
    app = DF(0x5015, AID_PKCS15)
    cdf = b""
    for i, c in enumerate(certs):
        fid = cert_fid(i)
        app.files[wire_fid(fid)] = EF(wire_fid(fid), c.der)
        cdf += cdf_entry(c.label, c.cert_id, b"\x3f\x00\x50\x15" + fid.to_bytes(2, "big"),
                         c.authority)
    for fid, data in ((0x5031, odf()), (0x5032, token_info(serial, label)),
                      (0x4401, aodf_user_pin()),
                      (0x4402, prkdf_rsa(key_label, USER_KEY_ID, modulus_bits)),
                      (0x4404, cdf), (0x9F00, bytes([max_tries, max_tries]))):
        app.files[fid] = EF(fid, data)
    mf = DF(0x3F00)
    mf.files[0x5015] = app
    return mf


def fci(node: "EF | DF") -> bytes:
    """The FCI a SELECT returns: 6F { 80 size, 82 type, 83 FID [, 84 AID] }."""
    if isinstance(node, DF):
        body = tlv(0x82, b"\x38") + tlv(0x83, node.fid.to_bytes(2, "big"))
        if node.aid:
            body += tlv(0x84, node.aid)
    else:
        body = (tlv(0x80, len(node.data).to_bytes(2, "big")) + tlv(0x82, b"\x01")
                + tlv(0x83, node.fid.to_bytes(2, "big")))
    return tlv(0x6F, body)
