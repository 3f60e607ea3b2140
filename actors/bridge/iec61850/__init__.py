"""The bridge's IEC 61850 MMS client (libiec61850 through pyiec61850-ng)."""
