"""libiec61850's C functions through ctypes, on the library pyiec61850-ng ships and loads.

pyiec61850-ng's SWIG wrappers keep Python's GIL while they wait for the device, and deliver
reports on libiec61850's own thread through Python objects that need the GIL: a report that
arrives while a request waits deadlocks the process (it did at the first general
interrogation). ctypes releases the GIL for every call and takes it for every callback, so the
client calls the same library this way. The numbers (error codes, functional constraints,
MMS types) are libiec61850's, read from the SWIG module (`iec`).
"""

import ctypes
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pyiec61850
import pyiec61850.pyiec61850 as iec

__all__ = ["REPORT_HANDLER", "address", "call", "fc", "iec", "lib", "name_of", "text"]

P = ctypes.c_void_p
TEXT = ctypes.c_char_p
ERROR = ctypes.POINTER(ctypes.c_int)


def _library_path() -> str:
    package = Path(pyiec61850.__file__).parent
    for folder in (package.parent / "pyiec61850_ng.libs", package):
        found = sorted(folder.glob("libiec61850*.so*"))
        if found:
            return str(found[0])
    raise ImportError("pyiec61850-ng ships no libiec61850 shared library here")


lib = ctypes.CDLL(_library_path())

REPORT_HANDLER = ctypes.CFUNCTYPE(None, P, P)
"""void (*ReportCallbackFunction)(void* parameter, ClientReport report)"""


class LastApplError(ctypes.Structure):
    _fields_ = (("ctlNum", ctypes.c_int), ("error", ctypes.c_int), ("addCause", ctypes.c_int))


_SIGNATURES: dict[str, tuple[Any, list[Any]]] = {
    "IedConnection_create": (P, []),
    "IedConnection_setConnectTimeout": (None, [P, ctypes.c_uint32]),
    "IedConnection_setRequestTimeout": (None, [P, ctypes.c_uint32]),
    "IedConnection_connect": (None, [P, ERROR, TEXT, ctypes.c_int]),
    "IedConnection_getState": (ctypes.c_int, [P]),
    "IedConnection_close": (None, [P]),
    "IedConnection_destroy": (None, [P]),
    "IedConnection_getVariableSpecification": (P, [P, ERROR, TEXT, ctypes.c_int]),
    "IedConnection_readObject": (P, [P, ERROR, TEXT, ctypes.c_int]),
    "IedConnection_getRCBValues": (P, [P, ERROR, TEXT, P]),
    "IedConnection_setRCBValues": (None, [P, ERROR, P, ctypes.c_uint32, ctypes.c_bool]),
    "IedConnection_getDataSetDirectory": (P, [P, ERROR, TEXT, P]),
    "IedConnection_installReportHandler": (None, [P, TEXT, TEXT, REPORT_HANDLER, P]),
    "IedConnection_triggerGIReport": (None, [P, ERROR, TEXT]),
    "MmsVariableSpecification_getChildSpecificationByName": (P, [P, TEXT, P]),
    "MmsVariableSpecification_getType": (ctypes.c_int, [P]),
    "MmsVariableSpecification_getChildValue": (P, [P, P, TEXT]),
    "MmsVariableSpecification_destroy": (None, [P]),
    "ClientReportControlBlock_create": (P, [TEXT]),
    "ClientReportControlBlock_destroy": (None, [P]),
    "ClientReportControlBlock_getRptId": (TEXT, [P]),
    "ClientReportControlBlock_getDataSetReference": (TEXT, [P]),
    "ClientReportControlBlock_setRptEna": (None, [P, ctypes.c_bool]),
    "ClientReportControlBlock_setGI": (None, [P, ctypes.c_bool]),
    "ClientReportControlBlock_setIntgPd": (None, [P, ctypes.c_uint32]),
    "ClientReportControlBlock_getTrgOps": (ctypes.c_int, [P]),
    "ClientReportControlBlock_setTrgOps": (None, [P, ctypes.c_int]),
    "ClientReport_getDataSetValues": (P, [P]),
    "ClientReport_getReasonForInclusion": (ctypes.c_int, [P, ctypes.c_int]),
    "LinkedList_getNext": (P, [P]),
    "LinkedList_getData": (P, [P]),
    "LinkedList_destroy": (None, [P]),
    "ControlObjectClient_create": (P, [TEXT, P]),
    "ControlObjectClient_destroy": (None, [P]),
    "ControlObjectClient_getControlModel": (ctypes.c_int, [P]),
    "ControlObjectClient_select": (ctypes.c_bool, [P]),
    "ControlObjectClient_selectWithValue": (ctypes.c_bool, [P, P]),
    "ControlObjectClient_operate": (ctypes.c_bool, [P, P, ctypes.c_uint64]),
    "ControlObjectClient_getLastError": (ctypes.c_int, [P]),
    "ControlObjectClient_getLastApplError": (LastApplError, [P]),
    "MmsValue_newBoolean": (P, [ctypes.c_bool]),
    "MmsValue_newFloat": (P, [ctypes.c_float]),
    "MmsValue_delete": (None, [P]),
    "MmsValue_getType": (ctypes.c_int, [P]),
    "MmsValue_getElement": (P, [P, ctypes.c_int]),
    "MmsValue_toFloat": (ctypes.c_float, [P]),
    "MmsValue_getBitStringSize": (ctypes.c_int, [P]),
    "MmsValue_getBitStringAsIntegerBigEndian": (ctypes.c_uint32, [P]),
    "MmsValue_getBoolean": (ctypes.c_bool, [P]),
    "MmsValue_toInt64": (ctypes.c_int64, [P]),
    "MmsValue_toUint32": (ctypes.c_uint32, [P]),
    "MmsValue_getUtcTimeInMs": (ctypes.c_uint64, [P]),
    "Quality_fromMmsValue": (ctypes.c_uint16, [P]),
    "IedServer_updateFloatAttributeValue": (None, [P, P, ctypes.c_float]),
    "IedServer_updateUTCTimeAttributeValue": (None, [P, P, ctypes.c_uint64]),
    "IedServer_updateQuality": (None, [P, P, ctypes.c_uint16]),
    "IedServer_updateDbposValue": (None, [P, P, ctypes.c_int]),
}
for _name, (_result, _arguments) in _SIGNATURES.items():
    _function = getattr(lib, _name)
    _function.restype = _result
    _function.argtypes = _arguments


def call(name: str, *arguments: Any) -> Any:
    """A libiec61850 function that reports an IedClientError: (result, error)."""
    error = ctypes.c_int(0)
    function: Callable[..., Any] = getattr(lib, name)
    result = function(arguments[0], ctypes.byref(error), *arguments[1:])
    return result, error.value


def text(reference: str) -> bytes:
    return reference.encode()


def address(swig_object: Any) -> int:
    """The C pointer behind a SWIG object, for the SWIG-built parts (the simulated IED)."""
    return int(getattr(swig_object, "this", swig_object))


def fc(name: str) -> int:
    """A functional constraint by its name (MX, ST, ...)."""
    return int(getattr(iec, f"IEC61850_FC_{name}"))


def name_of(prefix: str, number: int) -> str:
    """libiec61850's name of a number, e.g. "timeout" for IED_ERROR_TIMEOUT, for log lines."""
    for name in dir(iec):
        if name.startswith(prefix) and getattr(iec, name) == number:
            return name[len(prefix) :].lower().replace("_", " ")
    return str(number)
