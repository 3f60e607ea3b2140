"""An application association with a DLMS/COSEM meter over TCP, and the reads the bridge needs.

Gurux's client (gurux-dlms) builds and parses the APDUs; this module carries them in IEC
62056-47 wrapper frames over a plain blocking socket with a time-out on every read, so a meter
that stops answering costs at most `timeout` seconds and never hangs the bridge. Every failure
is a `DlmsError` that says what happened in words.
"""

import contextlib
import socket
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from gurux_dlms import GXByteBuffer, GXDateTime, GXDLMSClient, GXReplyData
from gurux_dlms.enums import Authentication, ErrorCode, InterfaceType, Unit
from gurux_dlms.objects import GXDLMSClock, GXDLMSObject, GXDLMSProfileGeneric, GXDLMSRegister

from actors.bridge.dlms.wrapper import read_frame

CLOCK = "0.0.1.0.0.255"
"""The OBIS code of a logical device's clock."""
PROFILE_STATUS = "0.0.96.10.1.255"
"""The OBIS code of a load profile's status (AMR profile status): bit 0 critical error, bit 1
clock invalid, bit 2 data not valid, bit 7 power down during the interval."""
MAX_BLOCKS = 256
"""Data blocks one reply may span: a bound on what a meter can make the bridge read (a block
is at most a 64 kB wrapper frame; ten days of quarter-hour captures take one)."""


class DlmsError(Exception):
    """The meter could not be reached, refused the association, or answered with an error."""


class Unreachable(DlmsError):
    """No connection, or the connection broke: the association is gone."""


class AssociationLost(DlmsError):
    """The meter answered with a service error: it no longer holds the association (it restarted
    or timed it out). The connection is dropped; associate again."""


class AccessError(DlmsError):
    """The meter answered a read with a data-access error (e.g. an undefined object)."""

    def __init__(self, obis: str, attribute: int, code: int) -> None:
        self.obis = obis
        self.attribute = attribute
        self.code = code
        super().__init__(f"{obis} attribute {attribute}: {access_error(code)}")


def access_error(code: int) -> str:
    """A data-access-result code in words, e.g. 4: "object-undefined"."""
    try:
        return str(ErrorCode(code).name).lower().replace("_", "-")
    except ValueError:
        return f"data-access-result {code}"


@dataclass(frozen=True)
class Endpoint:
    """Where a meter listens and how the bridge associates with it."""

    host: str
    port: int
    client_address: int = 16
    """16: the public client; meters give other clients other rights"""
    server_address: int = 1
    password: str = ""
    """low-level security password; empty: no authentication"""


@dataclass(frozen=True)
class ScalerUnit:
    scaler: int
    unit: int
    """the DLMS unit code (Gurux's Unit enum): 27 W, 30 Wh, 35 V, ..."""

    def apply(self, raw: Any) -> Decimal:
        """The register's value in its unit: raw times 10 to the scaler, exact."""
        return Decimal(int(raw)).scaleb(self.scaler)

    @property
    def unit_name(self) -> str:
        try:
            return str(Unit(self.unit).name)
        except ValueError:
            return f"unit {self.unit}"


class Association:
    """One association: opened by `open`, ended by `close` (which releases it politely)."""

    def __init__(self, endpoint: Endpoint, timeout: float = 5.0) -> None:
        self.endpoint = endpoint
        self.timeout = timeout
        authentication = Authentication.LOW if endpoint.password else Authentication.NONE
        self._client = GXDLMSClient(
            True,
            endpoint.client_address,
            endpoint.server_address,
            authentication,
            endpoint.password or None,
            InterfaceType.WRAPPER,
        )
        self._socket: socket.socket | None = None

    def open(self) -> None:
        where = f"{self.endpoint.host}:{self.endpoint.port}"
        try:
            self._socket = socket.create_connection(
                (self.endpoint.host, self.endpoint.port), timeout=self.timeout
            )
        except OSError as error:
            raise Unreachable(f"cannot connect to {where}: {error.strerror or error}") from None
        reply = self._exchange(self._client.aarqRequest())
        try:
            self._client.parseAareResponse(reply.data)
        except Exception as error:  # gurux raises GXDLMSException and plain ones alike
            self.close()
            reason = " ".join(str(error).split())  # gurux's text spans lines
            raise DlmsError(f"{where} refused the association: {reason}") from None

    def close(self) -> None:
        if self._socket is None:
            return
        with contextlib.suppress(DlmsError):  # a meter that is gone cannot be released
            self._exchange(self._client.releaseRequest())
        self._drop()

    @property
    def is_open(self) -> bool:
        return self._socket is not None

    def scaler_unit(self, obis: str) -> ScalerUnit:
        """A register's scaler and unit (attribute 3)."""
        request = self._client.read(GXDLMSRegister(obis), 3)[0]
        scaler, unit = self._transfer(request, obis, 3).value
        return ScalerUnit(int(scaler), int(unit))

    def value(self, obis: str, attribute: int = 2) -> Any:
        """A register's raw value (attribute 2, unless told), before its scaler."""
        return self._read(GXDLMSRegister(obis), attribute)

    def register(self, obis: str) -> tuple[Any, ScalerUnit]:
        """A register's raw value and its scaler and unit."""
        scaler_unit = self.scaler_unit(obis)
        return self.value(obis), scaler_unit

    def clock(self) -> datetime:
        """The meter's clock (0.0.1.0.0.255), with its offset from UTC."""
        return moment(self._read(GXDLMSClock(CLOCK), 2))

    def profile(
        self, obis: str, start: datetime, end: datetime
    ) -> tuple[list[tuple[str, int]], list[list[Any]]]:
        """A profile generic's capture objects (OBIS, attribute) and its entries captured in
        [start, end], read by range."""
        profile = GXDLMSProfileGeneric(obis)
        self._read(profile, 3)
        columns = [
            (str(item.logicalName), int(c.attributeIndex)) for item, c in profile.captureObjects
        ]
        reply = self._transfer(self._client.readRowsByRange(profile, start, end), obis, 2)
        rows = self._client.updateValue(profile, 2, reply.value)
        return columns, [list(row) for row in rows or []]

    def _read(self, item: GXDLMSObject, attribute: int) -> Any:
        reply = self._transfer(
            self._client.read(item, attribute)[0], str(item.logicalName), attribute
        )
        return self._client.updateValue(item, attribute, reply.value)

    def _transfer(self, request: Any, obis: str, attribute: int) -> GXReplyData:
        reply = self._exchange(request)
        if reply.error:
            raise AccessError(obis, attribute, int(reply.error))
        return reply

    def _exchange(self, requests: Any) -> GXReplyData:
        """Send a request (one or several frames) and read its whole reply, block by block."""
        reply = GXReplyData()
        for request in requests if isinstance(requests, list) else [requests]:
            reply.clear()
            self._round_trip(request, reply)
            blocks = 0
            while reply.isMoreData():
                blocks += 1
                if blocks > MAX_BLOCKS:
                    raise DlmsError(f"a reply of more than {MAX_BLOCKS} blocks: refused")
                self._round_trip(self._client.receiverReady(reply), reply)
        return reply

    def _round_trip(self, request: Any, reply: GXReplyData) -> None:
        if self._socket is None:
            raise Unreachable("not connected")
        received = GXByteBuffer()
        try:
            self._socket.sendall(bytes(request))
            while not self._client.getData(received, reply, None):
                received.set(read_frame(self._socket))
        except TimeoutError:
            self._drop()
            raise Unreachable(f"no answer within {self.timeout:g} s") from None
        except OSError as error:  # ConnectionError too
            self._drop()
            raise Unreachable(f"connection lost: {error}") from None
        except Exception as error:  # gurux's parse errors and service errors alike
            self._drop()
            raise AssociationLost(f"the meter refused the request: {error}") from None

    def _drop(self) -> None:
        if self._socket is not None:
            self._socket.close()
            self._socket = None


def moment(value: Any) -> datetime:
    """A COSEM date-time (gurux's GXDateTime) as an aware datetime."""
    if isinstance(value, GXDateTime):
        return value.value  # type: ignore[no-any-return]
    raise DlmsError(f"not a date-time: {value!r}")
