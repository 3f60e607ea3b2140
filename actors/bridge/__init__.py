"""The field bridge: device values as Measurement messages, activations as commands, over
IEC 60870-5-104, IEC 61850 MMS and DLMS/COSEM alike (one client per protocol, field.py)."""
