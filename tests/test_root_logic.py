"""Which certificates may be trust anchors, and bundle lookup (pure logic, real X.509)."""
from __future__ import annotations

import pytest

from trayd.core import trust_roots as tr
from trayd.core.certificates import colon_hex
from trayd.errors import NotCertificateAuthority


def F(pki, name):
    return tr.facts(pki.der[name])


def test_facts_fingerprints_and_flags(own_pki):
    import hashlib

    root = F(own_pki, "root")
    assert root.sha256 == hashlib.sha256(own_pki.der["root"]).hexdigest().upper()
    assert root.sha1 == hashlib.sha1(own_pki.der["root"]).hexdigest().upper()
    assert root.ca_flag is True and root.self_signed
    assert root.common_name == "trayd Test Root CA"
    assert colon_hex("ABCD12") == "AB:CD:12"
    # PEM and DER give the same facts
    assert tr.facts(own_pki.path("root").read_bytes()).sha256 == root.sha256


def test_ca_rules(own_pki):
    assert tr.ca_reason(F(own_pki, "root")) is None
    assert tr.ca_reason(F(own_pki, "inter")) is None
    assert tr.ca_reason(F(own_pki, "v1root")) is None  # self-signed, no Basic Constraints
    assert tr.ca_reason(F(own_pki, "user")) == "basic_constraints_not_ca"
    assert tr.ca_reason(F(own_pki, "leaf_selfsigned_noca")) == "basic_constraints_not_ca"
    with pytest.raises(NotCertificateAuthority) as exc:
        tr.require_ca(F(own_pki, "server"))
    assert exc.value.reason == "basic_constraints_not_ca"
    assert "127.0.0.1" in exc.value.subject
    with pytest.raises(NotCertificateAuthority) as exc:
        tr.facts(b"not a certificate")
    assert exc.value.reason == "unparseable"


def test_issuer_of_user_certificate_without_basic_constraints(tmp_path):
    """An issuer without Basic Constraints counts as CA only because it issued the user cert."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from rig.fixtures_trust import make_cert

    top = ec.generate_private_key(ec.SECP256R1())
    mid = ec.generate_private_key(ec.SECP256R1())
    leaf = ec.generate_private_key(ec.SECP256R1())
    top_c = make_cert("Top", top, ca=True)
    mid_c = make_cert("Mid no BC", mid, top_c.subject, top, ca=None, issuer_ski_key=top)
    leaf_c = make_cert("Leaf", leaf, mid_c.subject, mid, ca=False, issuer_ski_key=mid)
    der = lambda c: tr.facts(c.public_bytes(serialization.Encoding.DER))  # noqa: E731
    mid_f, leaf_f = der(mid_c), der(leaf_c)
    assert tr.ca_reason(mid_f) == "end_entity"
    assert tr.ca_reason(mid_f, [leaf_f]) is None


def test_candidates_from_token_and_bundle(own_pki, home):
    user, inter, root = F(own_pki, "user"), F(own_pki, "inter"), F(own_pki, "root")
    # token carries user + intermediate; the root comes from the user's bundle
    bundle_dir = home / ".config" / "trayd" / "roots"
    bundle_dir.mkdir(parents=True)
    (bundle_dir / "org.pem").write_bytes(
        own_pki.path("otherroot").read_bytes() + own_pki.path("root").read_bytes())
    (bundle_dir / "junk.crt").write_bytes(b"garbage")
    bundle = tr.load_bundle()
    assert {c.sha256 for c in bundle} == {root.sha256, F(own_pki, "otherroot").sha256}
    got = tr.candidates([user, inter], bundle, token_serial="S1")
    # the intermediate is covered by the root: one warning, for the root
    assert [(c.cert.sha256, c.source) for c in got] == [(root.sha256, "bundle")]
    # without the root in the bundle the token's intermediate is offered
    got = tr.candidates([user, inter], [F(own_pki, "otherroot")], token_serial="S1")
    assert [(c.cert.sha256, c.source) for c in got] == [(inter.sha256, "token")]
    # root and intermediate both on the token: only the root
    got = tr.candidates([user, inter, root], [])
    assert [c.cert.sha256 for c in got] == [root.sha256]
    # an unrelated root on the token stays
    got = tr.candidates([user, inter, F(own_pki, "otherroot")], [])
    assert {c.cert.sha256 for c in got} == {inter.sha256, F(own_pki, "otherroot").sha256}
    # token with only the user certificate directly issued by the root
    got = tr.candidates([F(own_pki, "direct_user")], bundle)
    assert [c.cert.sha256 for c in got] == [root.sha256]
    # nothing matches → nothing offered; a user cert alone is never offered
    assert tr.candidates([F(own_pki, "direct_user")], []) == []


def test_bundle_name_match_needs_signature(own_pki):
    """Same name, different key (a look-alike root) is not matched."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from rig.fixtures_trust import make_cert

    fake = make_cert("trayd Test Root CA", ec.generate_private_key(ec.SECP256R1()), ca=True)
    fake_f = tr.facts(fake.public_bytes(serialization.Encoding.DER))
    assert tr.candidates([F(own_pki, "direct_user")], [fake_f]) == []


def test_nickname(own_pki):
    assert tr.nickname_for(F(own_pki, "root")) == "trayd Test Root CA (trayd)"
