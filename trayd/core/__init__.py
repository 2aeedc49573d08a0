"""UI-free core: PC/SC, token recognition, PKCS#11, certificates, PIN policy. Never imports trayd.ui."""
