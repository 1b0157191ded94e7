"""Tests of the test kit itself: the API emulator, the demo app, the load generator."""
