"""The test rig: real pcscd, vpcd virtual readers, D-Bus sessions, Xvfb — started by the tests."""
