"""Reading a raw IEC 104 message far enough to say which type each information object has,
and what a station answered to a command.

c104 hands a value to the bridge only when its type is the one the point map gives its address,
and drops it without a word otherwise. To name such a point, the link reads the raw APDUs:
an I-format frame carries one ASDU, whose type identification, common address and information
object addresses are at fixed places; the objects' sizes follow from the type. c104 also misses
some confirmations of commands that did reach it (docs/c104.md), so the link reads the station's
answers to its commands from the same frames.
"""

from collections.abc import Iterator
from typing import NamedTuple

import c104

START = 0x68
ELEMENT_SIZES = {
    1: 1,  # M_SP_NA_1 single point
    3: 1,  # M_DP_NA_1 double point
    9: 3,  # M_ME_NA_1 normalized value
    11: 3,  # M_ME_NB_1 scaled value
    13: 5,  # M_ME_NC_1 short float
    30: 8,  # M_SP_TB_1 single point with CP56Time2a
    31: 8,  # M_DP_TB_1 double point with CP56Time2a
    34: 10,  # M_ME_TD_1 normalized value with CP56Time2a
    35: 10,  # M_ME_TE_1 scaled value with CP56Time2a
    36: 12,  # M_ME_TF_1 short float with CP56Time2a
}
"""Bytes after the address of each object, for the monitored types a point map may name."""
TYPE_NAMES = {kind.value: name for name, kind in c104.Type.__members__.items()}
COMMAND_SIZES = {45: 1, 46: 1, 47: 1, 48: 3, 49: 3, 50: 5, 58: 1, 59: 1, 60: 1, 61: 3, 62: 3, 63: 5}
"""Bytes of each command's element up to its qualifier, whose top bit is select (S/E): single,
double, regulating step, normalized, scaled and short float set-point, and each with a time tag."""
ACTIVATION_CON = 7
ACTIVATION_TERMINATION = 10


class Answer(NamedTuple):
    """A station's answer to a command: which point, which step, and whether it was refused."""

    common_address: int
    address: int
    cause: int
    """ACTIVATION_CON or ACTIVATION_TERMINATION (or another cause of transmission)"""
    negative: bool
    select: bool
    """the answer is to the select of a select-before-operate, not to the execute"""


def answer(apdu: bytes) -> Answer | None:
    """The command answer an APDU carries; None for any other frame."""
    size = COMMAND_SIZES.get(apdu[6]) if len(apdu) > 6 else None
    if size is None or len(apdu) < 15 + size or apdu[0] != START or apdu[2] & 1:
        return None
    return Answer(
        apdu[10] | apdu[11] << 8,
        apdu[12] | apdu[13] << 8 | apdu[14] << 16,
        apdu[8] & 0x3F,
        bool(apdu[8] & 0x40),
        bool(apdu[14 + size] & 0x80),
    )


def objects(apdu: bytes) -> Iterator[tuple[int, int, str]]:
    """(common address, information object address, type name) of each object in an APDU;
    nothing for a frame that carries no ASDU, only the first object of a type not listed."""
    if len(apdu) < 15 or apdu[0] != START or apdu[2] & 1:
        return
    type_id, qualifier = apdu[6], apdu[7]
    name = TYPE_NAMES.get(type_id)
    if name is None:
        return
    common_address = apdu[10] | apdu[11] << 8
    count, sequence = qualifier & 0x7F, bool(qualifier & 0x80)
    size = ELEMENT_SIZES.get(type_id)
    if size is None:
        count = 1
        size = 0
    position, address = 12, 0
    for index in range(count):
        if index == 0 or not sequence:
            if position + 3 > len(apdu):
                return
            address = apdu[position] | apdu[position + 1] << 8 | apdu[position + 2] << 16
            position += 3
        else:
            address += 1
        yield common_address, address, name
        position += size
