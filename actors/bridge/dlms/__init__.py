"""DLMS/COSEM meters for the field bridge: associations, register and load profile reading."""
