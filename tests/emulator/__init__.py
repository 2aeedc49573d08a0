"""Virtual Feitian ePass2003 for the test rig (vpcd client accepted by OpenSC 0.23).

Modules: `sm` (secure messaging, card side), `pkcs15` (DER file system), `pki` (test
PKI with cache), `card` (APDU handling), `epass2003` (handle `Epass2003` + runnable
program). Tests use the `pki` and `epass2003` fixtures from tests/rig/fixtures_emulator.py.
"""
