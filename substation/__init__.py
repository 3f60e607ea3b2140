"""Simulated field devices driven by one small physical model (model.py): a substation speaking
IEC 60870-5-104 (server.py), the same feeders as an IEC 61850 IED (ied.py) and a DLMS/COSEM
smart meter (meter.py), to test and demonstrate the bridge against."""
