"""Free loopback ports for servers started by tests."""

from __future__ import annotations

import random
import socket

# Below the kernel's ephemeral range (32768-60999 on Linux) and the tests' RTP ranges
# (30000-50000): a port picked here cannot be taken, between the pick and the server's bind, by
# a socket some media worker or client binds to port 0 (a 100-worker service binds hundreds).
PICK_FROM = range(10_000, 20_000)


def free_port(host: str = "127.0.0.1") -> int:
    """A port free for both UDP and TCP on ``host`` right now (SIP listens on both)."""
    for _ in range(200):
        port = random.choice(PICK_FROM)
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as tcp:
            try:
                tcp.bind((host, port))
            except OSError:
                continue
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
                try:
                    udp.bind((host, port))
                except OSError:
                    continue
                return port
    raise RuntimeError(f"no free port in {PICK_FROM.start}-{PICK_FROM.stop - 1}")
