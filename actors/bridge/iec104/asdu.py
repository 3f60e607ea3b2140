"""Reading a raw IEC 104 message far enough to say which type each information object has.

c104 hands a value to the bridge only when its type is the one the point map gives its address,
and drops it without a word otherwise. To name such a point, the link reads the raw APDUs:
an I-format frame carries one ASDU, whose type identification, common address and information
object addresses are at fixed places; the objects' sizes follow from the type.
"""

from collections.abc import Iterator

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
