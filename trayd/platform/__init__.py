"""Linux integrations behind small interfaces: notifier, trust store, NSS, autostart."""
