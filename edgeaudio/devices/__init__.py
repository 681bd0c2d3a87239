"""Devices over SSH: a devices file, name resolution, the SSH transport, the upload cache and what runs there.

The workstation side only: a device runs its own runtime-only edgeaudio, and this package drives it. The SSH
library (asyncssh, the `devices` extra) is imported only when a device is used.
"""
