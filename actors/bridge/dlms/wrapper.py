"""The IEC 62056-47 wrapper that carries DLMS APDUs over TCP: an 8-byte header and the APDU.

Shared by the bridge's client and the simulated meter; a frame's length field (16 bits) bounds
what one read can take.
"""

import socket
import struct

HEADER = struct.Struct(">HHHH")
"""version 1, source wPort, destination wPort, length of the APDU that follows"""


def read_frame(connection: socket.socket) -> bytes:
    """One wrapper frame, header included. ConnectionError when the peer goes or sends
    something that is no wrapper frame."""
    header = _read_exactly(connection, HEADER.size)
    version, _, _, length = HEADER.unpack(header)
    if version != 1:
        raise ConnectionError(f"not a DLMS wrapper frame (version {version})")
    return header + _read_exactly(connection, length)


def _read_exactly(connection: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = connection.recv(size - len(data))
        if not chunk:
            raise ConnectionError("connection closed")
        data += chunk
    return data
