"""Reading the types a station sends from raw IEC 104 messages."""

import struct

from actors.bridge.iec104.asdu import (
    ACTIVATION_CON,
    Answer,
    answer,
    objects,
)


def i_frame(
    type_id: int, qualifier: int, common_address: int, body: bytes, cause: int = 3
) -> bytes:
    asdu = bytes([type_id, qualifier, cause, 0]) + struct.pack("<H", common_address) + body
    return bytes([0x68, 4 + len(asdu), 0, 0, 0, 0]) + asdu


def address(value: int) -> bytes:
    return struct.pack("<I", value)[:3]


def test_each_object_of_a_message_is_named_with_its_address_and_type() -> None:
    floats = (
        address(1000) + struct.pack("<fB", 230.0, 0) + address(1003) + struct.pack("<fB", 1.0, 0)
    )
    assert list(objects(i_frame(13, 2, 1, floats))) == [
        (1, 1000, "M_ME_NC_1"),
        (1, 1003, "M_ME_NC_1"),
    ]


def test_a_sequence_of_objects_counts_up_from_its_first_address() -> None:
    floats = address(2000) + struct.pack("<fBfB", 1.0, 0, 2.0, 0)
    assert [a for _, a, _ in objects(i_frame(13, 0x80 | 2, 7, floats))] == [2000, 2001]


def test_a_frame_without_a_message_names_nothing() -> None:
    supervisory = bytes([0x68, 4, 1, 0, 2, 0])
    assert list(objects(supervisory)) == []


def test_a_set_point_confirmation_names_its_point_and_the_step_it_confirms() -> None:
    select = address(1020) + struct.pack("<fB", 20.0, 0x80)
    assert answer(i_frame(50, 1, 1, select, ACTIVATION_CON)) == Answer(
        1, 1020, ACTIVATION_CON, negative=False, select=True
    )


def test_a_refused_breaker_execute_is_read_as_negative() -> None:
    execute = address(1010) + bytes([0x02])
    assert answer(i_frame(46, 1, 2, execute, 0x40 | ACTIVATION_CON)) == Answer(
        2, 1010, ACTIVATION_CON, negative=True, select=False
    )


def test_a_measured_value_is_no_answer_to_a_command() -> None:
    value = address(1000) + struct.pack("<fB", 230.0, 0)
    assert answer(i_frame(13, 1, 1, value)) is None
